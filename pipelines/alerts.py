"""Failure alerts: an e-mail over SMTP and/or a Slack-compatible webhook.

SMTP settings come from the environment (never from a flow file):

    COUPLET_SMTP_HOST        required for e-mail alerts
    COUPLET_SMTP_PORT        default 587
    COUPLET_SMTP_USER        optional login
    COUPLET_SMTP_PASSWORD    optional login (secret)
    COUPLET_SMTP_FROM        default couplet@<host>
    COUPLET_SMTP_STARTTLS    1 (default) to upgrade the connection, 0 for a local relay

A webhook receives ``{"text": "..."}`` as JSON, which Slack, Mattermost, Teams connectors and most
chat tools accept. Sending never raises into the caller's run: failures are returned as text so the
sensor can log them.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from connectors.core.errors import redact


@dataclass(frozen=True)
class Failure:
    flow: str
    job: str
    run_id: str
    error: str
    ui_url: str = ""


def message(failure: Failure) -> tuple[str, str]:
    """(subject, body) of the alert for one failed run."""
    subject = f"[couplet] flow {failure.flow} failed (job {failure.job})"
    lines = [
        f"The couplet flow '{failure.flow}' failed.",
        f"Job: {failure.job}",
        f"Run: {failure.run_id}",
        "",
        failure.error.strip() or "(no error message)",
    ]
    if failure.ui_url:
        lines += ["", f"Details: {failure.ui_url.rstrip('/')}/runs/{failure.run_id}"]
    return subject, "\n".join(lines)


def send_email(to: list[str], subject: str, body: str, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    host = env.get("COUPLET_SMTP_HOST", "")
    if not host:
        raise RuntimeError(
            "e-mail alerts need COUPLET_SMTP_HOST (and COUPLET_SMTP_PORT/USER/PASSWORD/FROM as needed)"
        )
    port = int(env.get("COUPLET_SMTP_PORT", "587"))
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = env.get("COUPLET_SMTP_FROM") or f"couplet@{host}"
    msg["To"] = ", ".join(to)
    msg.set_content(body)
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        if env.get("COUPLET_SMTP_STARTTLS", "1") != "0":
            smtp.starttls()
        if env.get("COUPLET_SMTP_USER"):
            smtp.login(env["COUPLET_SMTP_USER"], env.get("COUPLET_SMTP_PASSWORD", ""))
        smtp.send_message(msg)


def post_webhook(url: str, text: str, transport: httpx.BaseTransport | None = None) -> None:
    with httpx.Client(timeout=30, transport=transport) as client:
        client.post(url, json={"text": text}).raise_for_status()


def notify(
    failure: Failure,
    email: list[str] | None,
    webhook: str | None,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[str]:
    """Send every configured alert; returns what went wrong (empty when all were delivered)."""
    env = os.environ if env is None else env
    subject, body = message(failure)
    problems: list[str] = []
    secrets = [env.get("COUPLET_SMTP_PASSWORD", ""), webhook or ""]
    if email:
        try:
            send_email(email, subject, body, env)
        except (OSError, smtplib.SMTPException, RuntimeError) as exc:
            problems.append(redact(f"e-mail to {', '.join(email)} failed: {exc}", secrets))
    if webhook:
        try:
            post_webhook(webhook, f"*{subject}*\n{body}", transport)
        except httpx.HTTPError as exc:
            # The URL itself is a secret (it grants posting): never print it.
            problems.append(redact(f"webhook failed: {type(exc).__name__}", secrets))
    return problems
