"""Flow files: strict validation with file, line and key path; merging; the shipped flows load."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.loader import SHIPPED, FlowError, load_flows

GOOD = """
connections:
  cl:
    connector: clockodo
    api_user: {env: CL_USER}
    api_key: {env: CL_KEY}
flows:
  f:
    sources:
      entries: {connection: cl, entity: entries}
    outputs:
      - {from: entries, to: {duckdb: {table: entries}}, mode: upsert}
    schedule: {cron: "0 6 * * *", timezone: Europe/Berlin}
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(FlowError) as info:
        load_flows([write(tmp_path, text)])
    return str(info.value)


def test_shipped_flows_load() -> None:
    flows = load_flows(sorted(SHIPPED.glob("*.yaml")))
    assert "clockodo_warehouse" in flows.flows
    assert len(flows.flows["clockodo_warehouse"].sources) == 17


def test_good_file(tmp_path: Path) -> None:
    flows = load_flows([write(tmp_path, GOOD)])
    assert flows.connections["cl"].setting_values() == ({"api_user": "CL_USER", "api_key": "CL_KEY"}, {})


def test_unknown_key_names_file_line_and_path(tmp_path: Path) -> None:
    msg = problems(tmp_path, GOOD.replace("schedule: {cron", "schedul: {cron"))
    assert "flow.yaml:13: flows.f.schedul: unknown key 'schedul'" in msg


def test_a_value_outside_its_choices_lists_them_with_did_you_mean(tmp_path: Path) -> None:
    msg = problems(tmp_path, GOOD.replace("mode: upsert", "mode: upsrt"))
    assert (
        "flow.yaml:12: flows.f.outputs.0.mode: 'upsrt' is not one of replace, append, upsert, "
        "append_new; did you mean 'upsert'?"
    ) in msg
    msg = problems(tmp_path, "settings: {executor: multiprocessing}\n" + GOOD)
    assert "settings.executor: 'multiprocessing' is not one of in_process, multiprocess; did you mean" in msg


def test_unknown_entity_lists_entities(tmp_path: Path) -> None:
    msg = problems(tmp_path, GOOD.replace("entity: entries", "entity: entrys"))
    assert "flow.yaml:10: flows.f.sources.entries.entity: clockodo has no entity 'entrys'" in msg
    assert "work_times" in msg


def test_unknown_connection_and_source(tmp_path: Path) -> None:
    msg = problems(
        tmp_path,
        GOOD.replace("connection: cl,", "connection: nope,").replace("from: entries", "from: ghosts"),
    )
    assert "flows.f.sources.entries.connection: unknown connection 'nope'" in msg
    assert "flows.f.outputs.0.from: unknown source or step 'ghosts'" in msg


def test_secret_literal_refused(tmp_path: Path) -> None:
    msg = problems(tmp_path, GOOD.replace("api_key: {env: CL_KEY}", "api_key: hunter2"))
    assert "connections.cl" in msg and "secret" in msg
    assert "hunter2" not in msg


def test_unknown_connector_and_setting(tmp_path: Path) -> None:
    msg = problems(tmp_path, GOOD.replace("connector: clockodo", "connector: clockodoo"))
    assert "unknown connector 'clockodoo'" in msg
    msg = problems(tmp_path, GOOD.replace("api_user: {env: CL_USER}", "apiuser: {env: CL_USER}"))
    assert "connections.cl.apiuser: unknown setting 'apiuser'" in msg


def test_bad_timezone_and_cron(tmp_path: Path) -> None:
    msg = problems(
        tmp_path, GOOD.replace("Europe/Berlin", "Mars/Olympus").replace('"0 6 * * *"', '"0 6 * *"')
    )
    assert "unknown time zone 'Mars/Olympus'" in msg
    assert "has 4 fields; it needs 5" in msg


def test_invalid_yaml(tmp_path: Path) -> None:
    msg = problems(tmp_path, "flows: [unclosed")
    assert "not valid YAML" in msg


def test_files_merge_and_duplicates_are_errors(tmp_path: Path) -> None:
    conns = write(
        tmp_path,
        "connections:\n  cl: {connector: clockodo, api_user: {env: U}, api_key: {env: K}}\n",
        "a.yaml",
    )
    flow = write(
        tmp_path, "flows:\n  f:\n    sources:\n      c: {connection: cl, entity: customers}\n", "b.yaml"
    )
    merged = load_flows([conns, flow])
    assert set(merged.flows) == {"f"}
    again = write(
        tmp_path, "flows:\n  f:\n    sources:\n      c: {connection: cl, entity: users}\n", "c.yaml"
    )
    with pytest.raises(FlowError, match=r"c.yaml:2: flows.f: also defined in .*b.yaml"):
        load_flows([conns, flow, again])
