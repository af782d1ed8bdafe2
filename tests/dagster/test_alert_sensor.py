"""A failed run of a flow with alerts posts to its webhook through Dagster's run-failure sensor."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.build import build_definitions
from pipelines.loader import load_flows

FLOW = """
connections:
  cl: {connector: clockodo, api_user: {env: ALERT_TEST_USER}, api_key: {env: ALERT_TEST_KEY}}
flows:
  billing:
    sources:
      customers: {connection: cl, entity: customers}
    outputs:
      - {from: customers, to: {duckdb: {path: out.duckdb, table: customers}}}
    alerts: {webhook: {env: ALERT_TEST_HOOK}}
"""


@pytest.fixture
def hook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_failed_run_alerts_the_webhook(hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = hook
    monkeypatch.setenv("ALERT_TEST_HOOK", url)
    monkeypatch.delenv("ALERT_TEST_KEY", raising=False)
    monkeypatch.setenv("ALERT_TEST_USER", "x@example.com")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    defs = build_definitions(load_flows([path]), data_dir=str(tmp_path / "data"))
    sensor = defs.resolve_sensor_def("billing_on_failure")
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("billing").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="billing_on_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        sensor(context)
    (post,) = received
    assert "flow billing failed" in post["text"] and result.run_id in post["text"]
