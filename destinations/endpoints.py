"""Where Google API requests go instead of Google: an emulator's endpoint, and how it is shown.

An endpoint comes from a writer's ``endpoint`` setting, else ``COUPLET_GOOGLE_SHEETS_ENDPOINT``
(Sheets) or ``BIGQUERY_EMULATOR_HOST`` (BigQuery; the client library's own variable); see
``google_auth``. Apart from it because it imports no Google library: the destinations' labels
(``... at <endpoint>``) use it when flows load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .base import DestinationConfigError

ENV_SHEETS_ENDPOINT = "COUPLET_GOOGLE_SHEETS_ENDPOINT"
ENV_BIGQUERY_ENDPOINT = "BIGQUERY_EMULATOR_HOST"  # google-cloud-bigquery reads it too


def api_endpoint(value: str | None, env_var: str, env: Mapping[str, str] | None = None) -> str | None:
    """The URL to send API requests to instead of Google's: ``value``, else ``env_var``; ``None``
    for Google itself. Checked to be an http(s) URL without query; trailing slashes dropped."""
    env = os.environ if env is None else env
    source = "the endpoint setting" if value else env_var
    raw = (value or env.get(env_var) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        # The value is not echoed: a mistyped variable could hold anything, a key included.
        raise DestinationConfigError(
            f"{source} must be an http(s) URL without query, such as "
            "http://127.0.0.1:8765/google/sheets (couplet sandbox)"
        )
    return raw.rstrip("/")


def shown_endpoint(url: str) -> str:
    """An endpoint for messages and metadata: without user and password, should it carry any."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def shown_at(endpoint: str | None, env_var: str) -> str:
    """`` at <endpoint>`` when requests go to an emulator (``endpoint``, else ``env_var``), else ``""``;
    for labels, so the value is shown, not checked (a write checks it: ``api_endpoint``)."""
    url = endpoint or os.environ.get(env_var, "").strip()
    return f" at {shown_endpoint(url.rstrip('/'))}" if url else ""
