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
def daily_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists already, so today's entries refresh on every run.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1, timezone="UTC")


@cache
def yearly_partitions(start: dt.date) -> dg.TimeWindowPartitionsDefinition:
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 1 1 *", start=str(start.year), fmt="%Y", end_offset=1, timezone="UTC"
    )
