"""The few Sheets v4 calls the writer makes, each throttled, retried and turned into one clear error.

Every call takes a slot from the read or write budget (60 per minute per user by default: the
published Sheets quota), retries 429 (honouring ``Retry-After`` and holding the whole budget back),
5xx, 408 and dropped connections with exponential backoff and jitter, and maps what is left:
401 and refused tokens to ``DestinationAuthError``, 403 to "share the spreadsheet with <service
account e-mail>", 404 to "not found or not shared", anything else to ``DestinationError`` with
Google's message. Calls go through gspread's ``HTTPClient`` (so an injected client or HTTP client
class works, e.g. one pointed at a local fake).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from google.auth.exceptions import RefreshError, TransportError
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from .base import DestinationAuthError, DestinationConfigError, DestinationError
from .throttle import RequestBudget, RetryPolicy, retry

T = TypeVar("T")
Params = dict[str, str | int | bool | float | list[str] | None]
_TRANSIENT = {408, 500, 502, 503, 504}
_QUOTA_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


class SheetsApi:
    def __init__(
        self,
        http: HTTPClient,
        spreadsheet_id: str,
        target: str,
        account: str | None,
        reads: RequestBudget,
        writes: RequestBudget,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
    ) -> None:
        self.http = http
        self.id = spreadsheet_id
        self.target = target
        self.account = account
        self.reads, self.writes = reads, writes
        self.policy = policy
        self.sleep = sleep
        self.requests = 0
        self.retries = 0
        self.backoff_s = 0.0

    # -- calls -----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return dict(self._call(self.reads, lambda: self.http.fetch_sheet_metadata(self.id)))

    def get_values(self, a1: str) -> list[list[Any]]:
        params: Params = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}
        reply = self._call(self.reads, lambda: self.http.values_get(self.id, a1, params=params))
        return reply.get("values", [])

    def put_values(self, a1: str, rows: list[list[Any]]) -> None:
        # RAW: values are stored as sent, so text like "=1+1" or "0012" stays text; dates are sent
        # as serial numbers and shown as dates by the number format set at the swap.
        params: Params = {"valueInputOption": "RAW"}
        self._call(
            self.writes, lambda: self.http.values_update(self.id, a1, params=params, body={"values": rows})
        )

    def batch_update(
        self, requests_: list[dict[str, Any]], applied: Callable[[], bool] | None = None
    ) -> dict[str, Any]:
        """One atomic spreadsheet batchUpdate. ``applied`` tells, after a lost reply (5xx, dropped
        connection), whether the change went through anyway, so it is not sent twice."""

        def call() -> dict[str, Any]:
            try:
                return self.http.batch_update(self.id, {"requests": requests_})
            except (APIError, requests.RequestException) as exc:
                lost = isinstance(exc, requests.RequestException) or _code(exc) in _TRANSIENT
                if lost and applied is not None and self._quietly(applied):
                    return {"replies": []}
                raise

        return self._call(self.writes, call)

    # -- machinery -------------------------------------------------------------------------
    def _quietly(self, check: Callable[[], bool]) -> bool:
        with contextlib.suppress(Exception):
            return check()
        return False

    def _call(self, budget: RequestBudget, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            budget.take()
            self.requests += 1
            return fn()

        def waited(seconds: float) -> None:
            self.retries += 1
            self.backoff_s += seconds

        try:
            return retry(attempt, lambda exc: self._classify(exc, budget), self.policy, self.sleep, waited)
        except APIError as exc:
            raise self._error(exc) from None
        except (RefreshError, TransportError) as exc:
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            raise DestinationAuthError(
                f"{self.target}: Google refused the service account's token request ({reason[:200]}). "
                "The key may be deleted or disabled: create a new key for the service account."
            ) from None
        except requests.RequestException as exc:
            raise DestinationError(
                f"{self.target}: cannot reach Google Sheets ({type(exc).__name__})"
            ) from None

    def _classify(self, exc: Exception, budget: RequestBudget) -> float | None:
        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return 0.0
        if not isinstance(exc, APIError):
            return None
        code = _code(exc)
        reasons = {e.get("reason") for e in exc.error.get("errors", []) if isinstance(e, dict)}
        if code == 429 or (code == 403 and reasons & _QUOTA_REASONS):
            wait = _retry_after(exc)
            if wait is not None:
                budget.hold(wait)  # the quota is per user: hold every call of this writer back
            return wait or 0.0
        return 0.0 if code in _TRANSIENT else None

    def _error(self, exc: APIError) -> DestinationError:
        code = _code(exc)
        message = str(exc.error.get("message", ""))[:300]
        who = self.account or "the account couplet uses"
        share = (
            f"Open the spreadsheet in Google Sheets, click Share and add {who} as an Editor, then run again."
        )
        if code == 401:
            return DestinationAuthError(f"{self.target}: Google rejected the credentials (401: {message}).")
        if code == 403:
            return DestinationAuthError(
                f"{self.target}: {who} may not edit spreadsheet {self.id} (403). {share}"
            )
        if code == 404:
            return DestinationConfigError(
                f"{self.target}: spreadsheet {self.id} was not found (404). Check the id or URL; a spreadsheet "
                f"that is not shared with the service account looks missing too. {share}"
            )
        return DestinationError(f"{self.target}: Google Sheets answered {code}: {message}")


def _code(exc: APIError) -> int:
    with contextlib.suppress(AttributeError):
        return int(exc.response.status_code)
    return int(exc.code)


def _retry_after(exc: APIError) -> float | None:
    value = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
