"""OAuth 2.0 of the QuickBooks sandbox: the token endpoint and the access tokens the API accepts.

Reference §2 and §10.1. `POST /oauth2/v1/tokens/bearer` with `Authorization: Basic
base64(client_id:client_secret)` and the form `grant_type=refresh_token&refresh_token=...` answers
`{"token_type": "bearer", "access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in"}`.

- Rotation, the strict reading of "may return a new refresh token, and the old one becomes unusable":
  every refresh returns a new refresh token and the one used is dead at once, so a second refresh with
  it (a retry after a lost response, or a concurrent refresh) answers `400 {"error": "invalid_grant"}`,
  as do unknown, expired and revoked tokens.
- Refresh tokens expire `refresh_token_seconds` after their issue (renewed by each refresh: the new
  token gets a fresh window) and never later than `refresh_token_max_seconds` after the consent.
- Bad client credentials: `401 {"error": "invalid_client"}` (generic OAuth; UNCONFIRMED for Intuit).
- `authorization_code` grants answer `invalid_grant`: the sandbox never issues codes (the admin API
  issues a fresh token pair instead, as a completed consent would).
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sandbox.common import JSON
from sandbox.quickbooks.options import QuickBooksOptions

Record = dict[str, Any]


@dataclass
class RefreshToken:
    token: str
    expires_at: float  # rolling window of this token
    consent_expires_at: float  # absolute cap of the consent it descends from
    used: bool = False
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    realm_id: str
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class Client:
    """Who called the token endpoint (the request log and limiter key by `email`)."""

    email: str
    key: str


def oauth_error(status: int, error: str) -> Response:
    return JSON({"error": error}, status, headers={"Cache-Control": "no-store"})


class Tokens:
    """Refresh and access tokens of one sandbox app (one client, one realm)."""

    def __init__(self, options: QuickBooksOptions, clock: Callable[[], float] = time.time) -> None:
        self.options, self.clock = options, clock
        self.reset()

    def reset(self) -> None:
        now = self.clock()
        o = self.options
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refreshes = 0
        if o.refresh_token:
            self.refresh_tokens[o.refresh_token] = RefreshToken(
                o.refresh_token, now + o.refresh_token_seconds, now + o.refresh_token_max_seconds
            )

    # -- issuing ----------------------------------------------------------------------------------
    def _new_refresh(self, consent_expires_at: float) -> RefreshToken:
        now = self.clock()
        token = f"AB11{int(now)}{secrets.token_urlsafe(24)}"
        expires = min(now + self.options.refresh_token_seconds, consent_expires_at)
        self.refresh_tokens[token] = RefreshToken(token, expires, consent_expires_at)
        return self.refresh_tokens[token]

    def _grant(self, refresh: RefreshToken) -> Record:
        now = self.clock()
        access = AccessToken(
            "eyJ" + secrets.token_urlsafe(40), self.options.realm_id, now + self.options.access_token_seconds
        )
        self.access_tokens[access.token] = access
        return {
            "token_type": "bearer",
            "access_token": access.token,
            "refresh_token": refresh.token,
            "expires_in": math.ceil(self.options.access_token_seconds),
            "x_refresh_token_expires_in": max(0, math.floor(refresh.expires_at - now)),
        }

    def issue(self) -> Record:
        """A fresh consent: a new refresh token (its own five-year cap) and an access token."""
        now = self.clock()
        return self._grant(self._new_refresh(now + self.options.refresh_token_max_seconds))

    def refresh(self, token: str) -> Record | None:
        """Rotate: the used token dies, a new one is returned. None = invalid_grant."""
        now = self.clock()
        old = self.refresh_tokens.get(token)
        if old is None or old.used or old.revoked or now >= min(old.expires_at, old.consent_expires_at):
            return None
        old.used = True
        self.refreshes += 1
        return self._grant(self._new_refresh(old.consent_expires_at))

    # -- checking ---------------------------------------------------------------------------------
    def check(self, token: str) -> AccessToken | str:
        """The live access token, or why not (the 401's detail)."""
        access = self.access_tokens.get(token)
        if access is None:
            return "Token invalid: the access token is unknown"
        if access.revoked:
            return "Token revoked"
        if self.clock() >= access.expires_at:
            return "Token expired"
        return access

    # -- admin ------------------------------------------------------------------------------------
    def expire(self, access: bool = True, refresh: bool = False) -> None:
        past = self.clock() - 1
        for a in self.access_tokens.values() if access else ():
            a.expires_at = min(a.expires_at, past)
        for r in self.refresh_tokens.values() if refresh else ():
            r.expires_at = min(r.expires_at, past)

    def revoke(self) -> None:
        """As a disconnect of the app: every refresh and access token stops working."""
        for r in self.refresh_tokens.values():
            r.revoked = True
        for a in self.access_tokens.values():
            a.revoked = True

    def snapshot(self) -> Record:
        now = self.clock()

        def state(used: bool, revoked: bool, expires_at: float) -> str:
            return "used" if used else "revoked" if revoked else "expired" if now >= expires_at else "live"

        return {
            "refreshes": self.refreshes,
            "refresh_tokens": [
                {"token": r.token, "state": state(r.used, r.revoked, min(r.expires_at, r.consent_expires_at)),
                 "expires_in": math.floor(min(r.expires_at, r.consent_expires_at) - now)}
                for r in self.refresh_tokens.values()
            ],
            "access_tokens": [
                {"token": a.token, "state": state(False, a.revoked, a.expires_at),
                 "expires_in": round(a.expires_at - now, 3)}
                for a in self.access_tokens.values()
            ],
        }  # fmt: skip


class TokenEndpoint:
    """`POST /oauth2/v1/tokens/bearer`: client authentication, then the grant."""

    def __init__(self, tokens: Tokens, options: QuickBooksOptions) -> None:
        self.tokens, self.options = tokens, options

    def authenticate(self, request: Request) -> Client | Response:
        header = request.headers.get("Authorization", "")
        if header[:6].lower() != "basic ":
            return oauth_error(401, "invalid_client")
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error(401, "invalid_client")
        if client_id != self.options.client_id or secret != self.options.client_secret:
            return oauth_error(401, "invalid_client")
        return Client(client_id, client_id)

    async def handle(self, request: Request, client: Client) -> Response:
        media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request")
        try:
            form = parse_qs((await request.body()).decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            return oauth_error(400, "invalid_request")
        grant = form.get("grant_type", [""])[0]
        if grant == "authorization_code":
            return oauth_error(400, "invalid_grant")
        if grant != "refresh_token":
            return oauth_error(400, "unsupported_grant_type" if grant else "invalid_request")
        token = form.get("refresh_token", [""])[0]
        if not token:
            return oauth_error(400, "invalid_request")
        granted = self.tokens.refresh(token)
        if granted is None:
            return oauth_error(400, "invalid_grant")
        return JSON(granted, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @staticmethod
    def error(request: Request, status: int, kind: str, message: str) -> Response:
        """Errors the shared pipeline makes (injected faults) in the OAuth error shape."""
        names = {401: "invalid_client", 403: "access_denied", 429: "slow_down"}
        return oauth_error(status, names.get(status, "server_error" if status >= 500 else "invalid_request"))
