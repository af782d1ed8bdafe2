"""BigQuery destination: a table of a dataset, its settings and how the rest of couplet sees it.

``to: {bigquery: {project: acme-data, dataset: reporting, table: entries}}``; in code,
``BigQueryWriter().write(BigQueryTarget(project="proj", dataset="reporting", table="entries"), reader, "upsert", ["id"])``.

The writer (``bigquery_writer``: load jobs, MERGE) imports google-cloud-bigquery, so this module holds
only the declaration and imports the writer when a run needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from .endpoints import ENV_BIGQUERY_ENDPOINT, shown_at
from .last_updated import LastUpdatedSetting
from .spec import Context, Destination, Settings

if TYPE_CHECKING:
    from .bigquery_writer import BigQueryWriter

WINDOW_COLUMN = "_window_start"  # the staged column of a dated source's window: its day partitions


class BigQueryTarget(Settings):
    """``to: {bigquery: {...}}``: a table, created (with its dataset) when missing."""

    project: str
    dataset: str
    table: str
    location: str | None = None  # e.g. "EU"; used when the dataset is created and for jobs
    # DATE/DATETIME/TIMESTAMP column; daily partitions. Default: _window_start for dated sources
    partition_column: str | None = None
    clustering: tuple[str, ...] = ()  # up to 4 columns; default: the primary key
    last_updated: LastUpdatedSetting = None  # a TIMESTAMP column: when each row was last written
    # A BigQuery API emulator instead of https://bigquery.googleapis.com, e.g. couplet sandbox's
    # http://127.0.0.1:8765/google/bigquery; unset: BIGQUERY_EMULATOR_HOST, else Google.
    endpoint: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")] | None = None

    @model_validator(mode="after")
    def _names(self) -> BigQueryTarget:
        for what, value in (("project", self.project), ("dataset", self.dataset), ("table", self.table)):
            if not value or "`" in value or (what != "project" and "." in value):
                raise ValueError(f"BigQuery {what} {value!r} is not a valid name")
        if len(self.clustering) > 4:
            raise ValueError(f"{self}: BigQuery clusters by at most 4 columns, got {list(self.clustering)}")
        return self

    @property
    def path(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    def __str__(self) -> str:
        return f"BigQuery {self.path}"


def for_run(target: BigQueryTarget, context: Context) -> BigQueryTarget:
    """A dated source's table is partitioned by day on its window unless the output says otherwise."""
    if target.partition_column or not context.partitioned:
        return target
    return target.model_copy(update={"partition_column": WINDOW_COLUMN})


def _writer(target: BigQueryTarget, context: Context) -> BigQueryWriter:
    from .bigquery_writer import BigQueryWriter

    return BigQueryWriter(endpoint=target.endpoint)


DESTINATION: Destination[BigQueryTarget] = Destination(
    kind="bigquery",
    settings=BigQueryTarget,
    writer=_writer,
    label=lambda t: t.path + shown_at(t.endpoint, ENV_BIGQUERY_ENDPOINT),
    default_name=lambda t: t.table,
    example={"project": "acme-data", "dataset": "reporting", "table": "billing", "location": "EU"},
    for_run=for_run,
    count_rows=lambda t: _writer(t, Context()).count_rows(t),
)
