"""Column descriptions: the mechanism rejects mistakes, and every connector describes its key columns."""

from __future__ import annotations

import pytest

from connectors import CONNECTORS, get_source
from connectors.core.describe import SHARED, describe_columns
from connectors.core.entity import STAMP_NAMES, Entity, cols

MAX_LENGTH = 200

TEAMS = Entity("teams", "/teams", cols("id:int! name:str leader:int"))
USERS = Entity("users", "/users", cols("id:int! email:str"))


def test_fills_descriptions_in_new_frozen_entities() -> None:
    out = describe_columns((TEAMS, USERS), {"teams": {"leader": "User ID of the leader."}})
    assert [c.description for c in out[0].columns] == ["", "", "User ID of the leader."]
    assert out[1] == USERS
    assert [c.description for c in TEAMS.columns] == ["", "", ""]  # the originals are untouched


def test_shared_entry_applies_everywhere_and_an_entity_entry_wins() -> None:
    docs = {SHARED: {"id": "ID of the record."}, "users": {"id": "User ID."}}
    teams, users = describe_columns((TEAMS, USERS), docs)
    assert teams.columns[0].description == "ID of the record."
    assert users.columns[0].description == "User ID."


def test_unknown_entity_is_named_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"unknown entity 'team'.*did you mean 'teams'"):
        describe_columns((TEAMS, USERS), {"team": {"id": "x"}})


def test_unknown_column_is_named_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"'teams' has no column 'leeder'.*did you mean 'leader'"):
        describe_columns((TEAMS, USERS), {"teams": {"leeder": "x"}})


def test_unknown_shared_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"shared .* column 'created_at'"):
        describe_columns((TEAMS, USERS), {SHARED: {"created_at": "x"}})


def test_empty_description_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"teams\.name is empty"):
        describe_columns((TEAMS,), {"teams": {"name": "  "}})


def test_a_column_is_not_described_twice() -> None:
    described = describe_columns((TEAMS,), {"teams": {"name": "Team name."}})
    with pytest.raises(ValueError, match=r"teams\.name is already described"):
        describe_columns(described, {"teams": {"name": "Again."}})


# The time-entry entities of every source, and the columns a reader needs first: duration/hours and date.
KEY_COLUMNS = [
    ("clockodo", "entries", ("id", "type", "duration", "time_since", "time_until", "billable", "users_id")),
    ("clockodo", "absences", ("date_since", "date_until", "type", "status", "count_days")),
    ("clockodo", "user_reports", ("year", "sum_hours", "sum_target", "diff")),
    (
        "clockify",
        "time_entries",
        ("id", "timeInterval_start", "timeInterval_end", "timeInterval_duration_seconds", "hourlyRate"),
    ),
    ("clockify", "detailed_report", ("_id", "timeInterval_start", "timeInterval_duration", "amount_units")),
    ("harvest", "time_entries", ("id", "spent_date", "hours", "billable_rate", "user_id", "project_id")),
    ("harvest", "expenses", ("spent_date", "total_cost", "units")),
]


@pytest.mark.parametrize(("connector", "entity", "columns"), KEY_COLUMNS)
def test_main_entities_describe_their_key_columns(
    connector: str, entity: str, columns: tuple[str, ...]
) -> None:
    described = {c.name: c.description for c in get_source(connector).entity(entity).columns}
    missing = [name for name in columns if not described[name]]
    assert not missing, f"{connector}.{entity}: no description for {missing}"


# Primary-key columns the public reference does not document: Harvest's reports are keyed by currency too.
UNDOCUMENTED_KEYS = {
    ("harvest", e, "currency")
    for e in ("report_time_clients", "report_time_projects", "report_time_tasks", "report_time_team")
} | {("harvest", "report_uninvoiced", "currency")}


@pytest.mark.parametrize("connector", sorted(CONNECTORS))
def test_primary_key_columns_are_described(connector: str) -> None:
    missing = [
        f"{e.name}.{c.name}"
        for e in get_source(connector).entities
        for c in e.columns
        if c.name in e.primary_key
        and c.name not in STAMP_NAMES
        and not c.description
        and (connector, e.name, c.name) not in UNDOCUMENTED_KEYS
    ]
    assert not missing, f"{connector}: primary-key columns without a description: {missing}"


@pytest.mark.parametrize("connector", sorted(CONNECTORS))
def test_descriptions_are_short_sentences(connector: str) -> None:
    source = get_source(connector)
    texts = {f"{e.name}.{c.name}": c.description for e in source.entities for c in e.columns}
    described = {k: v for k, v in texts.items() if v}
    assert len(described) >= 0.75 * len(texts), f"{connector}: only {len(described)}/{len(texts)} described"
    too_long = [k for k, v in described.items() if len(v) > MAX_LENGTH]
    assert not too_long, f"{connector}: descriptions over {MAX_LENGTH} characters: {too_long}"
    unfinished = [k for k, v in described.items() if v != v.strip() or not v.endswith((".", ")"))]
    assert not unfinished, f"{connector}: descriptions not a trimmed sentence: {unfinished}"
