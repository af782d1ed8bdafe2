"""Every record right in all history: a differential test of whole flows against the sources.

One sandbox org (three people, 120 days of history ending today) is read by three flows, one per
source (Clockodo ``entries``, Clockify ``time_entries``, Harvest ``time_entries``, each with
``lookback_days: 7``, plus each source's ``projects``), and every source lands in all four
destinations (DuckDB, Excel, Google Sheets and BigQuery, the latter two on the sandbox's emulators)
in modes ``replace``, ``upsert`` (hard deletes) and ``upsert`` with ``deletes: soft``
(dimensions: ``replace`` and ``upsert``).

1. ``couplet flows run ... --start <partitions_start>`` lands everything.
2. The sandboxes are changed through their admin APIs: inside the look-back an edit, a delete and
   an insert of a time entry per source; beyond it (60-110 days ago) a delete and an insert (in
   different months, so that no count of a month can let one hide the other) and an edit that the source's documented reconcile signal can see
   (Harvest: any field, ``updated_since``; Clockify: a longer duration, the report's totals;
   Clockodo: a longer duration in place, the user reports' day sums). An edit of a text alone
   beyond the look-back is a documented limit of Clockodo and Clockify (docs/flows.md, "Limits,
   honestly": seen only by a backfill), so it is not made. Each source's projects get a rename and
   a delete (of a project no entry references).
3. ``couplet flows run ...`` (the look-back) lands the recent changes and the dimensions but cannot
   see the old ones; ``couplet flows reconcile ...`` then finds and fixes them.
4. The truth is read by the test's own paging of each public API (``truth.py``), for the whole
   range, and compared with every target: ids and the compared fields (text/notes/description and
   duration/hours), replace and upsert-hard targets holding exactly the source's records,
   upsert-soft targets the source's records live plus the deleted ids with ``_deleted_at`` set.

Each check is one test named ``<source>-<destination>-<mode>``; the scenario runs once per module.

Not compared: the names entries carry of other records (Clockodo ``projects_name``, Harvest
``project_name``...). After the project rename, entries older than the look-back keep the old name
in every destination, even after the reconcile, wherever their month did not drift for another
reason: no signal of either source sees a rename through the entries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from dagster_project.cli import main
from dagster_project.demo import demo_env
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background

from .truth import (
    DESTINATIONS,
    SOURCES,
    Api,
    Landed,
    Records,
    Row,
    Source,
    differences,
    landed,
    norm_id,
    read_target,
    table_name,
    target_yaml,
)

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=120)  # partitions_start: the whole history of the org
END = TODAY + dt.timedelta(days=1)
LOOKBACK = 7
ENTRY_MODES = {"replace": "mode: replace", "upsert": "mode: upsert", "soft": "mode: upsert, deletes: soft"}
DIM_MODES = {"replace": "mode: replace", "upsert": "mode: upsert"}
FLOWS = [s.name for s in SOURCES]
BY_NAME = {s.name: s for s in SOURCES}

CONNECTIONS = """
connections:
  clockodo: {connector: clockodo, api_user: {env: CLOCKODO_API_USER}, api_key: {env: CLOCKODO_API_KEY}, base_url: {env: CLOCKODO_BASE_URL}}
  clockify: {connector: clockify, api_key: {env: CLOCKIFY_API_KEY}, workspace_id: {env: CLOCKIFY_WORKSPACE_ID}, base_url: {env: CLOCKIFY_BASE_URL}, reports_url: {env: CLOCKIFY_REPORTS_URL}}
  harvest: {connector: harvest, access_token: {env: HARVEST_ACCESS_TOKEN}, account_id: {env: HARVEST_ACCOUNT_ID}, base_url: {env: HARVEST_BASE_URL}}
"""


def flow_file() -> str:
    """One flow per source: its entries and projects, each to every destination in every mode."""
    lines = [f"settings: {{data_dir: data, partitions_start: {START.isoformat()}}}", CONNECTIONS, "flows:"]
    for s in SOURCES:
        lines += [
            f"  {s.name}:",
            # probe, never re-read whole: the cheap signals are what this test proves
            "    reconcile: {reread_when_cheaper: false}",
            "    sources:",
            f"      entries: {{connection: {s.name}, entity: {s.entity}, lookback_days: {LOOKBACK}}}",
            f"      projects: {{connection: {s.name}, entity: projects}}",
            "    outputs:",
        ]
        for what, modes in (("entries", ENTRY_MODES), ("projects", DIM_MODES)):
            for mode, spec in modes.items():
                for dest in DESTINATIONS:
                    target = target_yaml(dest, table_name(s.name, what, mode))
                    name = f"{what}_{mode}_{dest}"
                    lines.append(f"      - {{from: {what}, name: {name}, to: {target}, {spec}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Mutations:
    """What the test changed at one source (ids as text)."""

    inside_edit: str = ""
    inside_delete: str = ""
    inside_insert: str = ""
    old_delete: str = ""
    old_insert: str = ""
    old_edit: str = ""
    project_renamed: str = ""
    project_deleted: str = ""
    before: Records = field(default_factory=dict)  # old_delete and old_edit as they were

    @property
    def deleted(self) -> set[str]:
        return {self.inside_delete, self.old_delete}


Snapshot = dict[tuple[str, str, str, str], list[Row] | None]  # (source, what, mode, dest) -> rows


@dataclass
class Scenario:
    mutations: dict[str, Mutations] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)  # CLI exit code per step
    logs: dict[str, str] = field(default_factory=dict)  # CLI output per step
    after_run2: Snapshot = field(default_factory=dict)
    after_reconcile: Snapshot = field(default_factory=dict)
    truth: dict[str, Records] = field(default_factory=dict)  # entries per source, after the changes
    projects: dict[str, Records] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def couplet(scenario: Scenario, step: str, args: list[str]) -> None:
    """``couplet`` in this process; its exit code and output are kept for the checks."""
    out = io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        scenario.codes[step] = main(args)
    scenario.seconds[step] = round(time.perf_counter() - began, 1)
    scenario.logs[step] = out.getvalue()


def snapshot(base: str) -> Snapshot:
    out: Snapshot = {}
    for s in SOURCES:
        for what, modes in (("entries", ENTRY_MODES), ("projects", DIM_MODES)):
            for mode in modes:
                for dest in DESTINATIONS:
                    out[(s.name, what, mode, dest)] = read_target(dest, table_name(s.name, what, mode), base)
    return out


def pick(entries: list[Row], source: Source, first: int, last: int) -> list[Row]:
    """Finished time entries (no lump sums, no running timers) staged on days ``TODAY - first`` ..
    ``TODAY - last``, in id order."""
    lo, hi = TODAY - dt.timedelta(days=first), TODAY - dt.timedelta(days=last)
    found = [e for e in entries if lo <= source.day(e) <= hi]
    if source.name == "clockodo":
        found = [e for e in found if e.get("type") == 1 and e.get("time_until")]
    if source.name == "clockify":
        found = [e for e in found if e["timeInterval"].get("end")]
    if source.name == "harvest":
        found = [e for e in found if not e.get("is_running")]
    assert len(found) >= 2, f"{source.name}: too few entries between {lo} and {hi} to mutate"
    return sorted(found, key=lambda e: str(e["id"]))


def insert_body(source: Source, template: Row, day: dt.date, text: str) -> Row:
    """A new time entry at 20:00 UTC of ``day`` on the template's person and project."""
    at = f"{day.isoformat()}T20:00:00Z"
    if source.name == "clockodo":
        keys = ("users_id", "customers_id", "projects_id", "services_id")
        return {**{k: template[k] for k in keys}, "time_since": at, "duration": 1800, "text": text}
    if source.name == "clockify":
        interval = {"start": at, "end": f"{day.isoformat()}T20:30:00Z"}
        refs = {k: template[k] for k in ("userId", "projectId", "taskId")}
        return {**refs, "description": text, "timeInterval": interval}
    return {
        "user_id": template["user"]["id"],
        "project_id": template["project"]["id"],
        "task_id": template["task"]["id"],
        "spent_date": day.isoformat(),
        "hours": 0.5,
        "notes": text,
    }


TEXT = {"clockodo": "text", "clockify": "description", "harvest": "notes"}
ENTITY = {"clockodo": "entries", "clockify": "time_entries", "harvest": "time_entries"}


def mutate(api: Api, source: Source) -> Mutations:
    """The changes of the scenario at one source, through its admin API."""
    m = Mutations()
    name, entity = source.name, ENTITY[source.name]
    entries = source.entries(api, START, END)
    recent = pick(entries, source, 6, 1)  # the look-back is today - 7 .. today
    old = pick(entries, source, 110, 95)
    template = recent[0]

    def insert(day: dt.date, text: str) -> str:
        return norm_id(api.admin(name, "POST", entity, insert_body(source, template, day, text))["id"])

    m.inside_edit, m.inside_delete = norm_id(recent[0]["id"]), norm_id(recent[-1]["id"])
    api.admin(name, "PATCH", f"{entity}/{m.inside_edit}", {TEXT[name]: "edited inside the look-back"})
    api.admin(name, "DELETE", f"{entity}/{m.inside_delete}")
    m.inside_insert = insert(TODAY - dt.timedelta(days=2), "inserted inside the look-back")
    m.old_delete = norm_id(old[0]["id"])
    m.before[m.old_delete] = source.values(old[0])
    api.admin(name, "DELETE", f"{entity}/{m.old_delete}")
    m.old_insert = insert(TODAY - dt.timedelta(days=65), "inserted beyond the look-back")
    if name == "clockify":  # a longer entry: the detailed report's totalTime changes
        edited = pick(entries, source, 85, 75)[0]
        end = dt.datetime.fromisoformat(edited["timeInterval"]["end"].replace("Z", "+00:00"))
        later = (end + dt.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
        m.old_edit = norm_id(edited["id"])
        m.before[m.old_edit] = source.values(edited)
        api.admin(name, "PATCH", f"{entity}/{m.old_edit}", {"timeInterval": {"end": later}})
    elif name == "harvest":  # any field: updated_since sees it
        edited = pick(entries, source, 85, 75)[0]
        m.old_edit = norm_id(edited["id"])
        m.before[m.old_edit] = source.values(edited)
        body = {"notes": "edited beyond the look-back", "hours": round(edited["hours"] + 0.25, 2)}
        api.admin(name, "PATCH", f"{entity}/{m.old_edit}", body)
    else:  # Clockodo: a longer duration in place; the user reports' day sums see it
        edited = pick(entries, source, 85, 75)[0]
        m.old_edit = norm_id(edited["id"])
        m.before[m.old_edit] = source.values(edited)
        api.admin(name, "PATCH", f"{entity}/{m.old_edit}", {"duration": int(edited["duration"]) + 900})

    # projects: rename one that entries use, delete one that none uses (in the whole history)
    now = source.entries(api, START, END)
    used = {source.project_of(e) for e in now}
    names = source.project_names(api)
    unused = sorted(set(names) - used)
    assert unused, f"{name}: every project has entries; the test needs one without to delete"
    m.project_renamed, m.project_deleted = source.project_of(template), unused[0]
    renamed = f"{names[m.project_renamed][0]} (renamed)"
    api.admin(name, "PATCH", f"projects/{m.project_renamed}", {"name": renamed})
    api.admin(name, "DELETE", f"projects/{m.project_deleted}")
    return m


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("differential")
    org = OrgOptions(anchor=TODAY + dt.timedelta(days=1), history_days=120, users=3)
    began = time.perf_counter()
    with start_background(SandboxOptions(org=org)) as server, pytest.MonkeyPatch.context() as mp:
        env = demo_env(server.base_url)
        for key, value in env.items():
            mp.setenv(key, value)
        mp.chdir(tmp)
        (tmp / "out").mkdir()
        (tmp / "flows.yaml").write_text(flow_file())
        mp.setenv("COUPLET_FLOWS", str(tmp / "flows.yaml"))
        mp.setenv("DAGSTER_HOME", str(tmp / "home"))
        (tmp / "home").mkdir()
        api = Api(server.base_url, env)
        sc = Scenario()
        couplet(sc, "run 1", ["flows", "run", *FLOWS, "--start", START.isoformat()])
        assert sc.codes["run 1"] == 0, f"the first run failed:\n{sc.logs['run 1'][-6000:]}"
        for s in SOURCES:
            sc.mutations[s.name] = mutate(api, s)
        couplet(sc, "run 2", ["flows", "run", *FLOWS])
        sc.after_run2 = snapshot(server.base_url)
        couplet(sc, "reconcile", ["flows", "reconcile", *FLOWS])
        sc.after_reconcile = snapshot(server.base_url)
        for s in SOURCES:
            sc.truth[s.name] = s.truth(api, START, END)
            sc.projects[s.name] = s.project_names(api)
        sc.seconds["total"] = round(time.perf_counter() - began, 1)
        yield sc


def rows_of(snap: Snapshot, key: tuple[str, str, str, str], fields: tuple[str, ...]) -> Landed:
    rows = snap[key]
    assert rows is not None, f"{key}: the target does not exist"
    assert not rows or "id" in rows[0], f"{key}: no id column in {sorted(rows[0])}"
    return landed(rows, fields)


ENTRY_CASES = [(s, d, m) for s in FLOWS for d in DESTINATIONS for m in ENTRY_MODES]
DIM_CASES = [(s, d, m) for s in FLOWS for d in DESTINATIONS for m in DIM_MODES]


def test_the_runs_succeed(scenario: Scenario) -> None:
    """Each couplet command exits 0 (its output is shown when not)."""
    print(f"seconds: {scenario.seconds}")
    failed = {step: code for step, code in scenario.codes.items() if code != 0}
    assert not failed, "\n\n".join(
        f"{step} exited {code}:\n{scenario.logs[step][-6000:]}" for step, code in failed.items()
    )


def test_the_truth_holds_the_changes(scenario: Scenario) -> None:
    """The sandboxes did what the admin calls asked (else the comparisons below prove nothing)."""
    for name, m in scenario.mutations.items():
        truth = scenario.truth[name]
        assert m.inside_insert in truth and m.old_insert in truth, name
        assert not (m.deleted & set(truth)), name
        assert truth[m.inside_edit][0] == "edited inside the look-back", name
        assert m.project_deleted not in scenario.projects[name], name
        assert str(scenario.projects[name][m.project_renamed][0]).endswith("(renamed)"), name


@pytest.mark.parametrize(("source", "destination", "mode"), ENTRY_CASES)
def test_run2_lands_the_look_back_not_the_past(
    scenario: Scenario, source: str, destination: str, mode: str
) -> None:
    """After the look-back run: the recent edit, delete and insert landed; the old delete, insert and
    edit did not (so it is the reconcile that fixes them)."""
    m, fields = scenario.mutations[source], BY_NAME[source].fields
    got = rows_of(scenario.after_run2, (source, "entries", mode, destination), fields)
    truth = scenario.truth[source]
    assert not got.duplicates, f"ids held twice: {sorted(got.duplicates)[:5]}"
    problems = []
    for what, key in (("edited", m.inside_edit), ("inserted", m.inside_insert)):
        if got.live.get(key) != truth[key]:
            problems.append(f"recently {what} {key}: target {got.live.get(key)} != source {truth[key]}")
    if m.inside_delete in got.live:
        problems.append(f"recently deleted {m.inside_delete} is still live")
    if mode == "soft" and m.inside_delete not in got.deleted:
        problems.append(f"recently deleted {m.inside_delete} has no _deleted_at")
    # Beyond the look-back nothing is seen yet (docs/flows.md): only the reconcile may find it.
    if m.old_delete not in got.live:
        problems.append(f"deleted beyond the look-back {m.old_delete} already gone before the reconcile")
    if m.old_insert in got.live:
        problems.append(f"inserted beyond the look-back {m.old_insert} already there before the reconcile")
    if m.old_edit and got.live.get(m.old_edit) != m.before[m.old_edit]:
        problems.append(f"edited beyond the look-back {m.old_edit} already changed before the reconcile")
    assert not problems, "; ".join(problems)
    # and nothing else moved: the target is the source but for the three old changes
    want = {k: v for k, v in truth.items() if k not in (m.old_insert, m.old_edit)} | m.before
    assert got.live == want, f"live rows vs the source before its old changes: {differences(want, got.live)}"


@pytest.mark.parametrize(("source", "destination", "mode"), ENTRY_CASES)
def test_every_entry_right_after_reconcile(
    scenario: Scenario, source: str, destination: str, mode: str
) -> None:
    """After the reconcile every target equals the source over the whole history: the same ids
    with the same fields, and (soft) the deleted ids kept with ``_deleted_at`` set."""
    m, fields = scenario.mutations[source], BY_NAME[source].fields
    got = rows_of(scenario.after_reconcile, (source, "entries", mode, destination), fields)
    truth = scenario.truth[source]
    assert not got.duplicates, f"ids held twice: {sorted(got.duplicates)[:5]}"
    assert got.live == truth, f"live rows vs the source: {differences(truth, got.live)}"
    if mode == "soft":
        assert set(got.deleted) == m.deleted, (
            f"soft-deleted {sorted(got.deleted)}, deleted at the source {sorted(m.deleted)}"
        )
        # _deleted_at is the time the write first missed the record: the reconcile keeps it
        first = rows_of(scenario.after_run2, (source, "entries", mode, destination), fields)
        assert got.deleted[m.inside_delete] == first.deleted[m.inside_delete]
    else:
        assert not got.deleted


@pytest.mark.parametrize(("source", "destination", "mode"), DIM_CASES)
def test_projects_right_after_each_run(scenario: Scenario, source: str, destination: str, mode: str) -> None:
    """Dimensions are read whole every run: the rename and the delete land with the look-back run
    and stay right after the reconcile."""
    truth = scenario.projects[source]
    for step, snap in (("run 2", scenario.after_run2), ("reconcile", scenario.after_reconcile)):
        got = rows_of(snap, (source, "projects", mode, destination), ("name",))
        assert not got.duplicates, f"{step}: ids held twice: {sorted(got.duplicates)[:5]}"
        assert got.live == truth, f"{step}: projects vs the source: {differences(truth, got.live)}"
