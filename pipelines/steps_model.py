"""The ``steps:`` of a flow as strict models: join, append, select, rename, filter, derive, aggregate, sort.

A step is a one-key mapping naming its kind, whose value holds the settings; every step names its
result with ``as``::

    steps:
      - join: {left: entries, right: customers, on: {customers_id: id}, how: left, as: billed}

Only the shape is checked here. Whether inputs and columns exist, and what each step outputs, is
the planner's job (``pipelines.steps.plan_steps``), because that needs the inputs' schemas.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .model import NAME, Strict

StepName = Annotated[str, Field(pattern=NAME)]
ColumnName = Annotated[str, Field(min_length=1)]

Op = Literal[
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "ends_with",
    "is_null",
    "not_null",
    "between",
]
OPS: tuple[str, ...] = get_args(Op)
TEXT_OPS = ("contains", "starts_with", "ends_with")
FUNCTIONS = ("sum", "avg", "min", "max", "count", "count_distinct")


class StepError(ValueError):
    """A step that cannot run. ``path`` is relative to the ``steps:`` list, e.g. ``[2, "join", "on", "id"]``."""

    def __init__(self, path: list[Any], message: str) -> None:
        self.path = list(path)
        self.message = message
        super().__init__(f"steps.{'.'.join(str(p) for p in self.path)}: {message}")


class StepSpec(Strict):
    """What every step kind has: the name of its result."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    as_: StepName = Field(alias="as")

    def reads(self) -> list[tuple[list[Any], str]]:
        """(key path inside the step, name) of each source or step this step reads, in order."""
        raise NotImplementedError


class OneInput(StepSpec):
    """A step that reshapes one input, named by ``from``."""

    from_: StepName = Field(alias="from")

    def reads(self) -> list[tuple[list[Any], str]]:
        return [(["from"], self.from_)]


def _unique(values: list[str], what: str) -> list[str]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} {seen[0]!r} is listed twice")
    return values


class Join(StepSpec):
    """Rows of ``left`` matched to rows of ``right`` where every key pair is equal (nulls never match)."""

    left: StepName
    right: StepName
    # {left_col: right_col, ...}, or a list of [left_col, right_col] pairs / names the same on both sides
    on: str | dict[ColumnName, ColumnName] | list[str | tuple[str, str]]
    how: Literal["inner", "left", "right", "full"] = "inner"
    # appended to clashing non-key names, (left, right); default ("", "_<right>")
    suffixes: tuple[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true; take it back.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("on")
    @classmethod
    def _some_keys(cls, value: Any) -> Any:
        if not value:
            raise ValueError("name at least one key pair, e.g. on: {customers_id: id}")
        return value

    def reads(self) -> list[tuple[list[Any], str]]:
        return [(["left"], self.left), (["right"], self.right)]

    def key_pairs(self) -> list[tuple[list[Any], str, str]]:
        """(key path inside the step, left column, right column) per key pair."""
        if isinstance(self.on, str):
            return [(["on"], self.on, self.on)]
        if isinstance(self.on, dict):
            return [(["on", k], k, v) for k, v in self.on.items()]
        return [
            (["on", i], p, p) if isinstance(p, str) else (["on", i], p[0], p[1])
            for i, p in enumerate(self.on)
        ]

    def suffix_pair(self) -> tuple[str, str]:
        return self.suffixes if self.suffixes is not None else ("", f"_{self.right}")


class Append(StepSpec):
    """The rows of every input, matched by column name; a column missing from an input is null there."""

    inputs: Annotated[list[StepName], Field(min_length=2)]
    source_column: ColumnName | None = "_source"  # holds the input's name; null = no such column

    @field_validator("inputs")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return _unique(value, "input")

    def reads(self) -> list[tuple[list[Any], str]]:
        return [(["inputs", i], name) for i, name in enumerate(self.inputs)]


class Select(OneInput):
    """Keep ``columns`` (in that order), or every column but ``exclude``."""

    columns: Annotated[list[ColumnName], Field(min_length=1)] | None = None
    exclude: Annotated[list[ColumnName], Field(min_length=1)] | None = None

    @field_validator("columns", "exclude")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else _unique(value, "column")

    @model_validator(mode="after")
    def _one(self) -> Select:
        if (self.columns is None) == (self.exclude is None):
            raise ValueError("give either columns (to keep) or exclude (to drop), not both or neither")
        return self


class Rename(OneInput):
    """Rename ``{old: new}``; other columns pass through, the order is kept."""

    columns: Annotated[dict[ColumnName, ColumnName], Field(min_length=1)]


class Condition(Strict):
    """``column op value``. Values are bound parameters, cast to the column's type."""

    column: ColumnName
    op: Op
    value: Any = None  # only checked when given: see _needs_value

    @field_validator("value")
    @classmethod
    def _fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # the op itself is invalid; that error is enough
            return value
        if op in ("is_null", "not_null"):
            raise ValueError(f"{op} takes no value; remove value:")
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{op} needs a non-empty list, e.g. value: [a, b]")
            if any(v is None for v in value):
                raise ValueError(f"{op} cannot match null; add a condition with op: is_null")
            return [_scalar(v, op) for v in value]
        if op == "between":
            if not isinstance(value, list) or len(value) != 2 or None in value:
                raise ValueError("between needs [low, high] (both included), e.g. [2024-01-01, 2024-03-31]")
            return [_scalar(v, op) for v in value]
        if value is None:
            raise ValueError(f"{op} cannot compare with null; use op: is_null or not_null")
        if op in TEXT_OPS and not isinstance(value, str):
            raise ValueError(f"{op} needs a text value, not {type(value).__name__}")
        return _scalar(value, op)

    @model_validator(mode="after")
    def _needs_value(self) -> Condition:
        if self.op not in ("is_null", "not_null") and "value" not in self.model_fields_set:
            raise ValueError(f"{self.op} needs a value:")
        return self

    def values(self) -> list[Any]:
        """The bound parameters, in placeholder order."""
        if self.op in ("is_null", "not_null"):
            return []
        return list(self.value) if isinstance(self.value, list) else [self.value]


def _scalar(value: Any, op: str) -> Any:
    # Dates and datetimes arrive from YAML as Python objects; DuckDB binds them as DATE/TIMESTAMP.
    if isinstance(value, str | int | float | bool | dt.date):
        return value
    raise ValueError(f"{op} compares with plain values (text, number, true/false, date), not {value!r}")


class Filter(OneInput):
    """Keep rows where ``all`` (default) or ``any`` of the conditions hold."""

    where: Annotated[list[Condition], Field(min_length=1)]
    match: Literal["all", "any"] = "all"


class Derive(OneInput):
    """Add (or replace) columns computed by DuckDB SQL expressions over the input's columns."""

    columns: Annotated[dict[ColumnName, Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class Metric(Strict):
    """Exactly one of ``{sum|avg|min|max|count|count_distinct: column}``; ``count: "*"`` counts rows."""

    sum: ColumnName | None = None
    avg: ColumnName | None = None
    min: ColumnName | None = None
    max: ColumnName | None = None
    count: ColumnName | None = None
    count_distinct: ColumnName | None = None

    @model_validator(mode="after")
    def _one(self) -> Metric:
        chosen = [k for k in FUNCTIONS if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"a metric is one of {', '.join(FUNCTIONS)} with a column, e.g. {{sum: revenue}}"
            )
        if self.column == "*" and chosen[0] != "count":
            raise ValueError(f'"*" only works with count; {chosen[0]} needs a column')
        return self

    @property
    def function(self) -> str:
        return next(k for k in FUNCTIONS if getattr(self, k) is not None)

    @property
    def column(self) -> str:
        return str(getattr(self, self.function))


class Aggregate(OneInput):
    """One row per distinct ``group_by`` combination (one row in all without it) with the metrics."""

    group_by: list[ColumnName] = []
    metrics: Annotated[dict[ColumnName, Metric], Field(min_length=1)]

    @field_validator("group_by")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return _unique(value, "column")


class SortKey(Strict):
    column: ColumnName
    desc: bool = False
    nulls: Literal["first", "last"] = "last"


class Sort(OneInput):
    """Order rows by ``by``: column names (ascending) or ``{column, desc: true, nulls: first}``."""

    by: Annotated[list[SortKey], Field(min_length=1)]

    @field_validator("by", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return (
            [{"column": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value
        )


KINDS = ("join", "append", "select", "rename", "filter", "derive", "aggregate", "sort")


class Step(Strict):
    """One item of ``steps:``: ``{<kind>: {...settings, as: name}}`` with exactly one kind."""

    join: Join | None = None
    append: Append | None = None
    select: Select | None = None
    rename: Rename | None = None
    filter: Filter | None = None
    derive: Derive | None = None
    aggregate: Aggregate | None = None
    sort: Sort | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        # Checked before field validation so a typo gets "unknown step kind", not "unknown key".
        kinds = ", ".join(KINDS)
        if not isinstance(data, dict) or len(data) != 1:
            keys = sorted(map(str, data)) if isinstance(data, dict) else []
            hint = " (put as: inside the step's settings)" if "as" in keys else ""
            raise PydanticCustomError(
                "step_kind",
                "a step is one key naming its kind ({kinds}) whose value holds the settings{hint}; got {got}",
                {"kinds": kinds, "hint": hint, "got": ", ".join(keys) or type(data).__name__},
            )
        ((kind, settings),) = data.items()
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), KINDS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise PydanticCustomError(
                "step_kind",
                "unknown step kind '{kind}'{hint} (kinds: {kinds})",
                {"kind": kind, "kinds": kinds, "hint": hint},
            )
        if not isinstance(settings, dict):
            raise PydanticCustomError(
                "step_kind", "{kind} needs its settings as a mapping, ending with as: <name>", {"kind": kind}
            )
        return data

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> StepSpec:
        spec: StepSpec = getattr(self, self.kind)
        return spec

    @property
    def name(self) -> str:
        return self.spec.as_


_STEPS = TypeAdapter(list[Step])


def parse_steps(data: Any) -> list[Step]:
    """Validate a raw ``steps:`` list; the first problem becomes a ``StepError`` with its path."""
    try:
        return _STEPS.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {first['loc'][-1]!r}"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StepError(list(first["loc"]), msg + more) from None
