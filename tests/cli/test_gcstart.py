"""The ``couplet`` command starts with garbage collection off and turns it on when the work begins.

``entry`` pauses collections (``dagster_project.gcstart``); every command must end the pause before
its work: a run once its definitions are built, ``extract`` before it reads, every other command
at once. A command that forgot would run with collections off for good.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.cli import main
from dagster_project.demo import demo_env
from dagster_project.gcstart import end_startup, pause_for_startup
from sandbox.common import SandboxOptions
from sandbox.org import OrgOptions
from sandbox.server import start_background


@pytest.fixture(autouse=True)
def collections_back_on() -> Iterator[None]:
    yield
    end_startup()
    gc.enable()
    gc.unfreeze()


def test_the_pause_ends_once_with_what_start_up_allocated_frozen() -> None:
    pause_for_startup()
    assert not gc.isenabled()
    frozen = gc.get_freeze_count()
    end_startup()
    assert gc.isenabled() and gc.get_freeze_count() > frozen
    gc.unfreeze()
    end_startup()  # again: nothing to end, nothing frozen
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_without_a_pause_nothing_changes() -> None:
    end_startup()
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.parametrize("command", [["flows", "list"], ["flows", "validate"], ["flows", "show", "team"]])
def test_commands_that_run_nothing_end_the_pause(flow_file: Path, command: list[str]) -> None:
    pause_for_startup()
    assert main(command) == 0
    assert gc.isenabled()


def test_a_run_and_an_extract_end_the_pause_before_their_work(
    flow_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_background(SandboxOptions(org=OrgOptions(anchor=dt.date(2026, 6, 1), history_days=30)))
    seen: list[bool] = []
    import connectors.core.extract as extract

    original = extract.Extractor.extract

    def spy(self, *args, **kwargs):  # the collector's state when the reading starts
        seen.append(gc.isenabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(extract.Extractor, "extract", spy)
    try:
        for key, value in demo_env(server.base_url).items():
            monkeypatch.setenv(key, value)
        pause_for_startup()
        assert main(["flows", "run", "team", "--start", "2026-05-11", "--end", "2026-05-13"]) == 0
        assert gc.isenabled()
        pause_for_startup()
        out = tmp_path / "entries.parquet"
        assert main(f"extract clockodo entries --start 2026-05-11 --end 2026-05-13 --out {out}".split()) == 0
        assert gc.isenabled()
    finally:
        server.stop()
    assert seen and all(seen)
