"""Google credentials for the Sheets and BigQuery writers, with errors that say how to fix them.

Where credentials come from, first match wins:

1. the ``credentials`` argument of the writer: a service-account key as a file path or as the JSON
   text itself;
2. ``COUPLET_GOOGLE_SERVICE_ACCOUNT``: the same, path or JSON text (handy for secrets managers that
   inject values, not files);
3. ``GOOGLE_APPLICATION_CREDENTIALS``: a path to a service-account key file;
4. BigQuery only: application default credentials (``gcloud auth application-default login``,
   the metadata server on GCP).

An **endpoint** replaces Google's API host, to write to an emulator such as ``couplet sandbox``
(``/google/sheets``, ``/google/bigquery``): the writer's ``endpoint`` setting, else
``COUPLET_GOOGLE_SHEETS_ENDPOINT`` (Sheets) or ``BIGQUERY_EMULATOR_HOST`` (BigQuery; the client
library's own variable; see ``endpoints``). With an endpoint, sources 1-3 still apply when set; otherwise requests are
anonymous (no token is fetched; application default credentials are never used).

No message ever contains key material: only where the key came from, its ``client_email`` and
which field is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import DefaultCredentialsError
from google.oauth2 import service_account

from .base import DestinationAuthError

ENV_SERVICE_ACCOUNT = "COUPLET_GOOGLE_SERVICE_ACCOUNT"
ENV_APPLICATION_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
SHEETS_SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
BIGQUERY_SCOPES = ("https://www.googleapis.com/auth/bigquery",)

SETUP_HINT = (
    "Create a service account in the Google Cloud console (IAM & Admin > Service accounts), add a JSON "
    f"key, and set {ENV_SERVICE_ACCOUNT} to the key file's path (or to its JSON content), or set "
    f"{ENV_APPLICATION_CREDENTIALS} to the path."
)


@dataclass(frozen=True)
class GoogleCredentials:
    credentials: Credentials
    email: str | None  # the service account's e-mail: what a spreadsheet must be shared with
    source: str  # where they came from, for messages


def _raw(value: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    if value:
        return value, "the writer's credentials setting"
    for var in (ENV_SERVICE_ACCOUNT, ENV_APPLICATION_CREDENTIALS):
        if env.get(var):
            return env[var], var
    return None


def _load_info(raw: str, source: str) -> dict[str, Any]:
    text = raw.strip()
    if not text.startswith("{"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise DestinationAuthError(f"{source} points to {str(path)!r}, which is not a file. {SETUP_HINT}")
        source = f"{source} ({path})"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DestinationAuthError(
                f"cannot read the key file from {source}: {type(exc).__name__}"
            ) from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position, not the text: the text is a private key.
        raise DestinationAuthError(
            f"the service-account key from {source} is not valid JSON (line {exc.lineno}, column {exc.colno}). "
            f"{SETUP_HINT}"
        ) from None
    if not isinstance(info, dict):
        raise DestinationAuthError(
            f"the service-account key from {source} is not a JSON object. {SETUP_HINT}"
        )
    return info


def service_account_credentials(
    scopes: Sequence[str], value: str | None = None, env: Mapping[str, str] | None = None
) -> GoogleCredentials:
    """A service account from the argument or the environment; ``DestinationAuthError`` if none."""
    env = os.environ if env is None else env
    found = _raw(value, env)
    if found is None:
        raise DestinationAuthError(f"no Google credentials are configured. {SETUP_HINT}")
    raw, source = found
    info = _load_info(raw, source)
    kind = info.get("type")
    if kind != "service_account":
        raise DestinationAuthError(
            f"the key from {source} is of type {kind!r}; couplet needs a service-account key "
            f"(type 'service_account'). {SETUP_HINT}"
        )
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise DestinationAuthError(f"the service-account key from {source} lacks {missing}. {SETUP_HINT}")
    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, KeyError, TypeError) as exc:
        raise DestinationAuthError(
            f"the private key in the service-account key from {source} ({info['client_email']}) cannot be "
            f"loaded ({type(exc).__name__}); download a new key. {SETUP_HINT}"
        ) from None
    return GoogleCredentials(creds, info["client_email"], source)


def default_credentials(
    scopes: Sequence[str], value: str | None = None, env: Mapping[str, str] | None = None
) -> GoogleCredentials:
    """A service account if one is configured, else application default credentials."""
    env = os.environ if env is None else env
    if _raw(value, env) is not None:
        return service_account_credentials(scopes, value, env)
    try:
        creds, _ = google.auth.default(scopes=list(scopes))
    except DefaultCredentialsError:
        raise DestinationAuthError(
            "no Google credentials found (no service-account key, no application default credentials). "
            f"{SETUP_HINT} On a workstation `gcloud auth application-default login` also works."
        ) from None
    return GoogleCredentials(
        creds, getattr(creds, "service_account_email", None), "application default credentials"
    )


def endpoint_credentials(
    scopes: Sequence[str], value: str | None = None, env: Mapping[str, str] | None = None
) -> GoogleCredentials:
    """Credentials for an endpoint other than Google's (an emulator): the configured service
    account if there is one, else anonymous ones, which send no ``Authorization`` header."""
    env = os.environ if env is None else env
    if _raw(value, env) is not None:
        return service_account_credentials(scopes, value, env)
    return GoogleCredentials(AnonymousCredentials(), None, "anonymous credentials (custom endpoint)")
