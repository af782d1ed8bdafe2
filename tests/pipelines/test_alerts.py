"""Failure alerts: webhook JSON, SMTP e-mail, errors reported without secrets."""

from __future__ import annotations

import json

import httpx
import pytest

from pipelines import alerts
from pipelines.alerts import Failure, notify

FAILURE = Failure(
    "billing", "billing", "run-123", "ConfigError: set CLOCKODO_API_KEY", "http://dagster.local:3000"
)


def test_webhook_gets_slack_compatible_json() -> None:
    posts = []
    transport = httpx.MockTransport(lambda r: posts.append(json.loads(r.content)) or httpx.Response(200))
    assert notify(FAILURE, None, "https://hooks.example/T/B/secret", env={}, transport=transport) == []
    (post,) = posts
    assert "flow billing failed" in post["text"] and "CLOCKODO_API_KEY" in post["text"]
    assert "http://dagster.local:3000/runs/run-123" in post["text"]


def test_webhook_failure_is_reported_without_the_url() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(500))
    problems = notify(FAILURE, None, "https://hooks.example/T/B/secret", env={}, transport=transport)
    assert problems and "secret" not in problems[0]


class FakeSMTP:
    sent: list = []

    def __init__(self, host: str, port: int, timeout: int) -> None:
        self.host, self.port = host, port
        self.calls: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def starttls(self) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        self.calls.append(f"login {user}")

    def send_message(self, msg) -> None:
        FakeSMTP.sent.append((self.host, self.port, self.calls, msg))


def test_email_over_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeSMTP.sent = []
    monkeypatch.setattr(alerts.smtplib, "SMTP", FakeSMTP)
    env = {
        "COUPLET_SMTP_HOST": "mail.test",
        "COUPLET_SMTP_PORT": "2525",
        "COUPLET_SMTP_USER": "bot",
        "COUPLET_SMTP_PASSWORD": "pw",
    }
    assert notify(FAILURE, ["ops@example.com", "pm@example.com"], None, env=env) == []
    ((host, port, calls, msg),) = FakeSMTP.sent
    assert (host, port) == ("mail.test", 2525) and calls == ["starttls", "login bot"]
    assert msg["To"] == "ops@example.com, pm@example.com" and "billing" in msg["Subject"]
    assert "CLOCKODO_API_KEY" in msg.get_content()


def test_email_without_smtp_host_says_what_to_set() -> None:
    (problem,) = notify(FAILURE, ["ops@example.com"], None, env={})
    assert "COUPLET_SMTP_HOST" in problem
