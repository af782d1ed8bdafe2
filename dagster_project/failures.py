"""Honest failures: whatever goes wrong in an asset reaches the CLI and the UI with its real cause.

An asset body runs inside ``reported(...)``: any exception becomes a ``dg.Failure`` whose
description says which asset failed, the exception's type and message, the flow(s), source or
output, and the YAML field (``file:line key.path``) to look at. Without this, Dagster shows
``DagsterExecutionStepExecutionError: Error occurred while executing op …`` and the cause is only
in the event log. Known secrets are redacted from every message. Connector errors that are worth
another try (429s and 5xx that outlasted the client's retries) keep ``allow_retries`` so the
asset's retry policy applies; every other failure is final.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg

from connectors import get_source
from connectors.core.errors import ConnectorError, redact
from destinations.base import DestinationError
from pipelines.config import FlowFile, ProjectSettings

#: Env vars outside connections whose values must never appear in a message.
SECRET_ENVS = ("COUPLET_SMTP_PASSWORD", "COUPLET_GOOGLE_SERVICE_ACCOUNT")


def retry_policy(settings: ProjectSettings) -> dg.RetryPolicy:
    """Dagster's retries of a retryable failure (a rate limit or outage that outlasted the HTTP
    client's own retries); other failures carry ``allow_retries=False`` and are final."""
    return dg.RetryPolicy(
        max_retries=settings.retries,
        delay=settings.retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS if settings.retry_delay_seconds else None,
    )


def secret_values(flow_file: FlowFile) -> list[str]:
    """The values of every secret a flow file's connections name (read from the environment now)."""
    values = [os.environ.get(name, "") for name in SECRET_ENVS]
    for conn in flow_file.connections.values():
        try:
            source = get_source(conn.connector)
        except KeyError:
            continue
        env, _ = conn.setting_values()
        for setting in source.settings:
            if setting.secret:
                values.append(os.environ.get(env.get(setting.name, setting.env), ""))
    return [v for v in values if v]


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception; for our own errors the message already says it all.

    An unexpected exception also says where it was raised (the innermost frame), since its
    traceback is not shown: tracebacks can carry unredacted values.
    """
    text = str(exc).strip() or repr(exc)
    if isinstance(exc, ConnectorError | DestinationError):
        return text
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name})"
        if frames
        else ""
    )
    return f"{type(exc).__name__}: {text}{where}"


@contextmanager
def reported(asset: str, where: Sequence[str], secrets: Sequence[str]) -> Iterator[None]:
    """Turn any exception of the block into a ``dg.Failure`` that names the asset and the cause.

    ``where`` are lines of context: ``flow billing``, ``output publish/billing/xlsx_billing``,
    ``flows.yaml:12 flows.billing.outputs.1``...
    """
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        cause = redact(describe(exc), secrets)
        context = [redact(w, secrets) for w in where if w]
        description = f"{asset} failed: {cause}" + "".join(f"\n  {line}" for line in context)
        retry = isinstance(exc, ConnectorError) and exc.retryable
        raise dg.Failure(
            description=description,
            metadata={"cause": type(exc).__name__, "asset": asset},
            allow_retries=retry,
        ) from None
