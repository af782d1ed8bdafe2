"""The flow file's model: connections, flows (sources, outputs, schedule), project settings.

Strict: unknown keys are errors, every reference (connection, entity, source) is checked, and
secrets may only be named as ``{env: VAR}``. ``pipelines.loader`` turns a YAML file into these
models and reports errors with file, line and key path.

An output's ``to:`` holds one key per registered destination (``destinations.DESTINATIONS``), each
validated by that destination's own settings model: ``OutputTarget`` is built from the registry.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, create_model, model_validator

from destinations import all_destinations, get_destination
from destinations.spec import Destination

from .datadir import check_setting
from .dates import DateRange
from .model import NAME, Strict
from .schedule import Schedule
from .steps import Step


class EnvRef(Strict):
    """``{env: VAR}``: the value is read from this environment variable when a run starts."""

    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Connection(Strict):
    """A named account of a connector. Settings are the connector's (see docs/connectors/)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    connector: str

    def setting_values(self) -> tuple[dict[str, str], dict[str, str]]:
        """(env var overrides, literal values) for ``connectors.core.settings.resolve_settings``."""
        env: dict[str, str] = {}
        literals: dict[str, str] = {}
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, dict) and set(value) == {"env"}:
                env[key] = str(value["env"])
            elif isinstance(value, EnvRef):
                env[key] = value.env
            else:
                literals[key] = str(value)
        return env, literals


class SourceSpec(Strict):
    connection: str
    entity: str
    # The days the flow's steps read, in the flow's time zone ("last 90 days",
    # {start: 2025-01-01}, "this month", {years: [2025, 2026]}...); unset: everything staged.
    dates: DateRange | None = None
    # Days re-read before today on every scheduled run; unset: what the flow's range and schedule call
    # for, at most 31 (pipelines/lookback.py: a flow over today re-reads today, not a month).
    lookback_days: Annotated[int, Field(ge=0, le=3660)] | None = None


class TargetChoice(Strict):
    """``to:``: exactly one destination, named by its kind, with its settings. The fields, one per
    registered kind, are added by ``OutputTarget``; this class holds what does not depend on them."""

    @model_validator(mode="after")
    def _one(self) -> TargetChoice:
        chosen = [k for k, v in self.__dict__.items() if v is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"name exactly one destination (one of: {', '.join(type(self).model_fields)}); got {chosen}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k, v in self.__dict__.items() if v is not None)

    @property
    def settings(self) -> Any:
        """The chosen destination's settings model (e.g. ``destinations.duckdb.DuckDBTarget``)."""
        return getattr(self, self.kind)

    @property
    def destination(self) -> Destination[Any]:
        return get_destination(self.kind)


def _output_target() -> type[TargetChoice]:
    # Optional fields keep the errors of a plain model: an unknown kind is an unknown key with a
    # "did you mean" and the allowed kinds; a bad setting points at to.<kind>.<setting>.
    fields: dict[str, Any] = {d.kind: (d.settings | None, None) for d in all_destinations()}
    return create_model("OutputTarget", __base__=TargetChoice, __module__=__name__, **fields)


if TYPE_CHECKING:  # mypy sees the base; the fields exist at run time only
    OutputTarget = TargetChoice
else:
    OutputTarget = _output_target()


_DELETES_IN = {
    "replace": "already removes them (the re-read scope is replaced whole)",
    "append": "never removes rows",
    "append_new": "never re-sends or removes a row once sent",
    "upsert": "",
}


class Output(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str = Field(alias="from")
    to: OutputTarget
    # append_new: append only records never sent before (a ledger of keys; see pipelines/ledger.py)
    mode: Literal["replace", "append", "upsert", "append_new"] = "replace"
    primary_key: tuple[str, ...] | None = None  # defaults to the entity's primary key
    allow_empty: bool = False
    name: Annotated[str, Field(pattern=NAME)] | None = None
    # upsert: rows of the re-read scope gone at the source are removed (hard), kept with a
    # _deleted_at time (soft), or left alone (keep). Only upsert has a choice.
    deletes: Literal["hard", "soft", "keep"] | None = None
    # rows without a primary key value: refuse the write (error) or leave them out and count them (drop)
    null_keys: Literal["error", "drop"] = "error"

    @model_validator(mode="after")
    def _deletes_need_upsert(self) -> Output:
        if self.deletes is not None and self.mode != "upsert":
            raise ValueError(
                f"deletes: {self.deletes} applies to mode upsert only (rows are matched by key); mode "
                f"{self.mode} {_DELETES_IN[self.mode]}. Remove deletes or set mode: upsert"
            )
        return self

    @property
    def deletes_mode(self) -> str:
        """What an upsert does with rows gone at the source: ``hard`` unless the output says otherwise."""
        return self.deletes or "hard"

    @property
    def output_name(self) -> str:
        """The asset name: ``name``, else the destination's default (DuckDB and BigQuery: the table;
        Excel ``xlsx_<sheet>``, Sheets ``gsheet_<tab>``), lower case with ``_`` for anything else."""
        if self.name:
            return self.name
        label = self.to.destination.default_name(self.to.settings)
        return re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")


class Alerts(Strict):
    """Where to say that a run of the flow failed (SMTP settings come from COUPLET_SMTP_* env vars)."""

    email: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    webhook: str | EnvRef | None = None  # a Slack-compatible incoming-webhook URL, or {env: VAR} holding it

    def webhook_url(self, environ: dict[str, str] | None = None) -> str | None:
        import os

        if isinstance(self.webhook, EnvRef):
            return (environ if environ is not None else os.environ).get(self.webhook.env) or None
        return self.webhook

    @model_validator(mode="after")
    def _something(self) -> Alerts:
        if not self.email and self.webhook is None:
            raise ValueError("alerts need an email list, a webhook, or both")
        return self


class Reconcile(Strict):
    """Drift beyond the look-back: how often a scheduled run also checks older history, and how far back.

    The check asks each API for cheap per-window figures (counts, sums, changes since the last
    read), compares them with what is staged and re-extracts only the windows that differ.
    """

    every_days: Annotated[int, Field(ge=1, le=366)] = (
        7  # a scheduled run reconciles when the last one is older
    )
    days: Annotated[int, Field(ge=1, le=36600)] | None = None  # how far back; unset: everything staged
    enabled: bool = True
    # A small account: when probing would cost as many requests as re-reading the range, re-read it
    # (exact, and it also catches what no cheap figure shows). false: always probe.
    reread_when_cheaper: bool = True
    # Also re-read this many months of the range each time, those read longest ago, whatever the
    # figures say: what no cheap figure shows (a new text or project of an old Clockodo or Clockify
    # entry) then lands within (months in the range / refresh_months) reconciles. 0: off.
    refresh_months: Annotated[int, Field(ge=0, le=1200)] = 0


class Flow(Strict):
    description: str = ""
    sources: dict[Annotated[str, Field(pattern=NAME)], SourceSpec]
    steps: list[
        Step
    ] = []  # join, append, select, rename, filter, derive, aggregate, sort (pipelines/steps.py)
    outputs: list[Output] = []
    schedule: Schedule | None = None
    reconcile: Reconcile = Reconcile()
    alerts: Alerts | None = None

    @property
    def timezone(self) -> str:
        """The flow's time zone: its schedule's, else UTC (dates, days and look-backs use it)."""
        return self.schedule.timezone if self.schedule and self.schedule.timezone else "UTC"


class ProjectSettings(Strict):
    # A local folder or s3://bucket/prefix, gs://bucket/prefix (pipelines.datadir; checked here
    # without network, the bucket and credentials when a run starts).
    data_dir: Annotated[str, AfterValidator(check_setting)] = "data"
    partitions_start: dt.date = dt.date(2024, 1, 1)  # first month/year of every raw asset
    # A source that stays rate-limited or down after the HTTP client's own retries: Dagster retries
    # the asset this many times, waiting retry_delay_seconds (doubling) in between.
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0
    # How a run executes its assets: in_process (one process, one after another: the fastest for
    # most flows) or multiprocess (each asset in its own process, up to max_concurrent at a time).
    # docs/flows.md, "Running on several processes".
    executor: Literal["in_process", "multiprocess"] = "in_process"
    max_concurrent: Annotated[int, Field(ge=1, le=64)] | None = None  # multiprocess only; default 2

    @model_validator(mode="after")
    def _max_concurrent_is_multiprocess(self) -> ProjectSettings:
        if self.max_concurrent is not None and self.executor != "multiprocess":
            raise ValueError(
                f"max_concurrent applies to executor: multiprocess only (executor is {self.executor}, "
                "which runs one asset at a time); set executor: multiprocess or remove max_concurrent"
            )
        return self

    @property
    def processes(self) -> int:
        """Assets a multiprocess run executes at once."""
        return self.max_concurrent or 2


class FlowFile(Strict):
    settings: ProjectSettings = ProjectSettings()
    connections: dict[Annotated[str, Field(pattern=NAME)], Connection] = {}
    flows: dict[Annotated[str, Field(pattern=NAME)], Flow] = {}
