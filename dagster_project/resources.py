"""Resources and partitions shared by every asset.

Credentials are not resource fields: each connection names its env vars in the flow file and the
connector reads them when a run starts, so ``dagster dev`` loads with no credentials set and a
missing one fails the run with the exact env var to set (``connectors.core.settings``).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg

from pipelines.staging import Staging


class CoupletResource(dg.ConfigurableResource):
    """Where couplet keeps its staged data (Parquet per connection/entity/partition)."""

    data_dir: str = "data"

    @property
    def staging(self) -> Staging:
        return Staging(self.data_dir)


@cache
def monthly_partitions(start: dt.date) -> dg.MonthlyPartitionsDefinition:
    """Calendar months since ``start``'s month; the current month exists already (``end_offset=1``)."""
    return dg.MonthlyPartitionsDefinition(
        start_date=start.strftime("%Y-%m"), end_offset=1, timezone="UTC", fmt="%Y-%m"
    )
