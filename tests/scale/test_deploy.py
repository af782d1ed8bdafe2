"""The files of ``deploy/`` are sound without starting anything (the ``scale`` test runs them for
real): the instance config passes Dagster's schema with the settings the docs promise, the example
flow loads, and no secret is written in the Compose file or the Helm values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.loader import load_flows

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b|ACCESS_KEY|ACCOUNT_ID", re.IGNORECASE)


def test_instance_config_is_postgres_queued_and_pooled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name, value in {
        "DAGSTER_PG_HOST": "db",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "pw",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))  # raises on anything the schema rejects
    assert set(config["storage"]["postgres"]["postgres_db"]["password"]) == {"env"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_example_flow_loads() -> None:
    flows = load_flows(sorted((DEPLOY / "flows").glob("*.yaml")))
    assert flows.settings.data_dir.startswith("s3://")
    assert flows.settings.executor == "multiprocess"
    for flow in flows.flows.values():
        assert all("bigquery" in output.model_dump(exclude_none=True)["to"] for output in flow.outputs)


def env_entries(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (key path, value) under an ``environment:``/``env:`` mapping or list in ``node``."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("environment", "env") and isinstance(value, dict):
                found += [(f"{path}.{key}.{k}", v) for k, v in value.items()]
            elif key in ("environment", "env") and isinstance(value, list):
                found += [
                    (f"{path}.{key}.{e.get('name')}", e.get("value")) for e in value if isinstance(e, dict)
                ]
            else:
                found += env_entries(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += env_entries(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("name", ["docker-compose.yml", "helm/values.yaml"])
def test_no_secret_is_written_down(name: str) -> None:
    entries = env_entries(yaml.safe_load((DEPLOY / name).read_text()))
    assert entries
    written = [
        (key, value)
        for key, value in entries
        if SECRET_NAME.search(key.rsplit(".", 1)[-1]) and not str(value).startswith(("${", "/run/secrets/"))
    ]
    assert not written, f"{name}: secrets must come from the environment: {written}"
