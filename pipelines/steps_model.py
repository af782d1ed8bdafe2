"""The ``steps:`` of a flow as strict models: join, append, select, rename, filter, derive, aggregate, sort,
split_days (whose model lives in ``steps_days``).

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
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .model import Strict
from .steps_base import ColumnName, OneInput, StepError, StepName, StepSpec, unique
from .steps_days import SplitDays

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
    "matches",
    "not_matches",
    "is_null",
    "not_null",
    "between",
]
OPS: tuple[str, ...] = get_args(Op)
TEXT_OPS = ("contains", "starts_with", "ends_with")
REGEX_OPS = ("matches", "not_matches")
# Ops that may compare with another column (other:) instead of a value.
COLUMN_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "between", *TEXT_OPS)
FUNCTIONS = ("sum", "avg", "min", "max", "count", "count_distinct")


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
        return unique(value, "input")

    def reads(self) -> list[tuple[list[Any], str]]:
        return [(["inputs", i], name) for i, name in enumerate(self.inputs)]


class Select(OneInput):
    """Keep ``columns`` (in that order), or every column but ``exclude``."""

    columns: Annotated[list[ColumnName], Field(min_length=1)] | None = None
    exclude: Annotated[list[ColumnName], Field(min_length=1)] | None = None

    @field_validator("columns", "exclude")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else unique(value, "column")

    @model_validator(mode="after")
    def _one(self) -> Select:
        if (self.columns is None) == (self.exclude is None):
            raise ValueError("give either columns (to keep) or exclude (to drop), not both or neither")
        return self


class Rename(OneInput):
    """Rename ``{old: new}``; other columns pass through, the order is kept."""

    columns: Annotated[dict[ColumnName, ColumnName], Field(min_length=1)]


class Condition(Strict):
    """``column op value``, or ``column op other`` (another column of the same input).

    Values are bound parameters, cast to the column's type; a regular expression too.
    """

    column: ColumnName
    op: Op
    value: Any = None  # only checked when given: see _needs_value
    other: ColumnName | list[ColumnName] | None = None  # compare with this column instead of a value

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
        if op in REGEX_OPS and (not isinstance(value, str) or not value):
            raise ValueError(f"{op} needs a regular expression as text, e.g. value: '^INV-[0-9]+$'")
        if op in TEXT_OPS and not isinstance(value, str):
            raise ValueError(f"{op} needs a text value, not {type(value).__name__}")
        return _scalar(value, op)

    @field_validator("other", mode="before")
    @classmethod
    def _other_names(cls, other: Any) -> Any:
        names = other if isinstance(other, list) else [other]
        if other is not None and not all(isinstance(n, str) and n for n in names):
            raise ValueError("name a column of the same input, e.g. other: budget_hours")
        return other

    @field_validator("other")
    @classmethod
    def _other_fits_op(cls, other: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None or other is None:
            return other
        if op not in COLUMN_OPS:
            raise ValueError(
                f"{op} compares with a value, not another column; other: works with {', '.join(COLUMN_OPS)}"
            )
        if op == "between":
            if not isinstance(other, list) or len(other) != 2:
                raise ValueError("between needs other: [low_column, high_column] (both included)")
        elif not isinstance(other, str):
            raise ValueError(f"{op} compares with one column, e.g. other: budget_hours")
        return other

    @model_validator(mode="after")
    def _needs_value(self) -> Condition:
        given = "value" in self.model_fields_set
        if self.other is not None and given:
            raise ValueError("give value: (compare with a value) or other: (with a column), not both")
        if self.op not in ("is_null", "not_null") and not given and self.other is None:
            either = " or other: <column>" if self.op in COLUMN_OPS else ""
            raise ValueError(f"{self.op} needs a value:{either}")
        return self

    def values(self) -> list[Any]:
        """The bound parameters, in placeholder order."""
        if self.op in ("is_null", "not_null") or self.other is not None:
            return []
        return list(self.value) if isinstance(self.value, list) else [self.value]

    def others(self) -> list[str]:
        """The columns compared with (``other:``), in placeholder order; none for a value."""
        if self.other is None:
            return []
        return list(self.other) if isinstance(self.other, list) else [self.other]


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
        return unique(value, "column")


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


KINDS = ("join", "append", "select", "rename", "filter", "derive", "aggregate", "sort", "split_days")


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
    split_days: SplitDays | None = None

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
