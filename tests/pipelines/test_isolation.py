"""One broken flow file harms only itself: every mistake of every file in one pass, with the fix.

A typo in one file sets aside just what it breaks (a YAML syntax error: the file; a bad flow or
connection: that entry); the other files load, and every problem names file, line, key path and,
where a name is close to a known one, "did you mean".
"""

from __future__ import annotations

from pathlib import Path

from pipelines.loader import SHIPPED, load_catalog

CONNECTION = """
connections:
  cl: {connector: clockodo, api_user: {env: U}, api_key: {env: K}}
"""

GOOD = """
flows:
  good:
    sources:
      entries: {connection: cl, entity: entries}
      customers: {connection: cl, entity: customers}
    steps:
      - join: {left: entries, right: customers, on: {customers_id: id}, as: billed}
    outputs:
      - {from: billed, to: {duckdb: {table: billed}}}
    schedule: {cron: "0 6 * * *", timezone: Europe/Berlin}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(catalog) -> list[str]:
    return [str(p) for p in catalog.problems]


def test_a_typo_sets_aside_only_its_flow_and_says_what_was_meant(tmp_path: Path) -> None:
    conn = write(tmp_path, "conn.yaml", CONNECTION)
    good = write(tmp_path, "good.yaml", GOOD)
    bad = write(tmp_path, "bad.yaml", GOOD.replace("good:", "bad:").replace("schedule:", "schedul:"))
    catalog = load_catalog([conn, good, bad])
    assert set(catalog.flow_file.flows) == {"good"}
    assert catalog.set_aside == {"bad": str(bad)}
    (problem,) = catalog.problems
    assert str(problem).startswith(
        f"{bad}:11: flows.bad.schedul: unknown key 'schedul'; did you mean 'schedule'?"
    )


def test_every_problem_of_every_file_in_one_pass(tmp_path: Path) -> None:
    conn = write(tmp_path, "conn.yaml", CONNECTION)
    one = write(
        tmp_path,
        "one.yaml",
        GOOD.replace("good:", "one:").replace("entity: entries", "entity: entrys").replace("joinn", "join"),
    )
    two = write(
        tmp_path,
        "two.yaml",
        GOOD.replace("good:", "two:").replace(
            "connection: cl, entity: customers", "connection: cll, entity: customers"
        ),
    )
    three = write(tmp_path, "three.yaml", GOOD.replace("good:", "three:").replace("- join:", "- joinn:"))
    four = write(tmp_path, "four.yaml", GOOD.replace("good:", "four:").replace("from: billed", "from: billd"))
    catalog = load_catalog([conn, one, two, three, four])
    text = "\n".join(messages(catalog))
    assert catalog.flow_file.flows == {}
    assert (
        f"{one}:5: flows.one.sources.entries.entity: clockodo has no entity 'entrys'; did you mean 'entries'?"
        in text
    )
    assert (
        f"{two}:6: flows.two.sources.customers.connection: unknown connection 'cll'; did you mean 'cl'?"
        in text
    )
    assert (
        f"{three}:8: flows.three.steps.0" in text
        and "unknown step kind 'joinn'; did you mean 'join'?" in text
    )
    assert (
        f"{four}:10: flows.four.outputs.0.from: unknown source or step 'billd'; did you mean 'billed'?"
        in text
    )


def problems_beside(tmp_path: Path, *edits: tuple[str, str]) -> tuple[Path, list[str]]:
    """The good flow with ``edits`` (old, new) made, loaded: its file and the problems found."""
    text = GOOD
    for old, new in edits:
        text = text.replace(old, new)
    bad = write(tmp_path, "bad.yaml", text)
    catalog = load_catalog([write(tmp_path, "conn.yaml", CONNECTION), bad])
    assert catalog.set_aside == {"good": str(bad)}
    return bad, messages(catalog)


def test_a_bad_value_does_not_hide_the_flows_other_mistakes(tmp_path: Path) -> None:
    bad, found = problems_beside(
        tmp_path,
        ("entity: entries", "entity: entrys"),
        (
            '    schedule: {cron: "0 6 * * *", timezone: Europe/Berlin}',
            "    reconcile: {refresh_months: two}",
        ),
    )
    assert len(found) == 2, found  # the value and the entity, in one pass
    assert found[0].startswith(f"{bad}:5: flows.good.sources.entries.entity: clockodo has no entity 'entrys'")
    assert found[1].startswith(
        f"{bad}:11: flows.good.reconcile.refresh_months: Input should be a valid integer"
    )


def test_a_source_mistake_does_not_hide_a_misspelt_step_name(tmp_path: Path) -> None:
    # Without the entity's columns the steps cannot be planned, but the names they read still can.
    _, found = problems_beside(
        tmp_path,
        ("entity: entries", "entity: entrys"),
        ("right: customers", "right: custmers"),
    )
    assert len(found) == 2, found
    assert "sources.entries.entity: clockodo has no entity 'entrys'" in found[0]
    assert "steps.0.join.right: step 'billed' reads 'custmers'" in found[1]
    assert "did you mean 'customers'?" in found[1]


def test_a_misspelt_choice_is_read_as_meant_so_the_rest_is_still_checked(tmp_path: Path) -> None:
    # Dropped, mode would fall back to replace, which deletes: soft does not allow, and the flow could
    # not be read; read as upsert (what "did you mean" says), the entity typo shows in the same pass.
    _, found = problems_beside(
        tmp_path,
        ("entity: customers", "entity: customer"),
        (
            "{from: billed, to: {duckdb: {table: billed}}}",
            "{from: billed, to: {duckdb: {table: billed}}, mode: upsrt, deletes: soft, primary_key: [id]}",
        ),
    )
    assert len(found) == 2, found
    assert "outputs.0.mode: 'upsrt' is not one of" in found[1] and "did you mean 'upsert'" in found[1]
    assert (
        "sources.customers.entity: clockodo has no entity 'customer'; did you mean 'customers'?" in found[0]
    )


def test_a_value_that_gives_way_to_a_default_reports_no_consequence_of_that_default(tmp_path: Path) -> None:
    # The key is a list, not a column: dropped, the default (none) leaves upsert without a key, which
    # is a consequence of the drop, not a mistake of its own: only the bad value is reported.
    _, found = problems_beside(
        tmp_path,
        (
            "{from: billed, to: {duckdb: {table: billed}}}",
            "{from: billed, to: {duckdb: {table: billed}}, mode: upsert, primary_key: 5}",
        ),
    )
    assert len(found) == 1 and "outputs.0.primary_key" in found[0], found


def test_a_file_that_is_not_yaml_harms_only_itself(tmp_path: Path) -> None:
    files = [write(tmp_path, "conn.yaml", CONNECTION), write(tmp_path, "good.yaml", GOOD)]
    files.append(write(tmp_path, "broken.yaml", "flows:\n  x: [unclosed\n"))
    catalog = load_catalog(files)
    assert set(catalog.flow_file.flows) == {"good"}
    (problem,) = catalog.problems
    assert problem.file == str(files[-1]) and "not valid YAML" in problem.message


def test_a_flow_on_a_broken_connection_says_where_the_connection_is_broken(tmp_path: Path) -> None:
    conn = write(tmp_path, "conn.yaml", CONNECTION.replace("connector: clockodo", "connector: clockodoo"))
    good = write(tmp_path, "good.yaml", GOOD)
    text = "\n".join(messages(load_catalog([conn, good])))
    assert (
        f"{conn}:3: connections.cl.connector: unknown connector 'clockodoo'; did you mean 'clockodo'?" in text
    )
    assert (
        f"{good}:5: flows.good.sources.entries.connection: connection 'cl' has errors (see {conn}:3)" in text
    )


def test_a_broken_file_beside_the_shipped_ones(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "typo.yaml",
        GOOD.replace("good:", "typo:").replace("connection: cl,", "connection: clockod,"),
    )
    catalog = load_catalog([*sorted(SHIPPED.glob("*.yaml")), bad])
    assert len(catalog.flow_file.flows) == 8  # every shipped flow
    assert [str(p) for p in catalog.problems] == [
        f"{bad}:{line}: flows.typo.sources.{source}.connection: unknown connection 'clockod'; did you mean "
        "'clockodo'? (defined: clockify, clockodo, harvest)"
        for source, line in (("entries", 5), ("customers", 6))
    ]
