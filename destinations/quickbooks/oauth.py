"""OAuth 2.0 for QuickBooks Online: access tokens from a refresh token that rotates, stored safely.

Intuit's refresh flow (reference §2): ``POST`` the token endpoint with HTTP Basic client credentials
and ``grant_type=refresh_token``; the answer holds an access token for ``expires_in`` seconds (3600)
and a refresh token that may be **new**, after which the old one is dead. So:

* The rotated refresh token is written to ``<data_dir>/quickbooks/<realm>/refresh_token.json``
  (mode 0600, folder 0700, written to a temp file and renamed) **before** the access token is used,
  and it is read first on the next run: after the first rotation the token in the environment
  variable is dead, and only the stored one works. A different value in the environment variable
  than the one the stored chain began with means the user reconnected: that one is used (and stored).
* Access tokens live in memory only (never on disk), shared by the writes of one process, and are
  refreshed before they expire (at ``min(300 s, a fifth of their life)`` before), or once after a 401.
* Refreshes are serialized: in a process (an asyncio lock) and across processes (an exclusive
  ``flock`` on ``refresh_token.lock``, then the store is read again): two refreshes with one token
  would leave one of them holding a dead token.
* ``invalid_grant`` (expired, revoked or already used) is a ``ReconnectError`` that says how to get a
  new refresh token; ``invalid_client`` names the client id/secret variables.

Tokens and the client secret are never logged, formatted into a message or written anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..base import DestinationAuthError
from .errors import ReconnectError, reconnect_steps
from .state import file_lock, private_folder

log = logging.getLogger("couplet.quickbooks")

TOKEN_FILE, LOCK_FILE = "refresh_token.json", "refresh_token.lock"
LOCK_TIMEOUT = 60.0
REFRESH_ATTEMPTS = 4


def fingerprint(token: str) -> str:
    """A short hash of a refresh token: tells whether the environment variable changed, without it."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Stored:
    refresh_token: str
    client_id: str
    seed: str  # fingerprint of the environment variable's token the stored chain began with
    saved_at: str
    refresh_expires_at: str | None = None


class TokenStore:
    """The refresh token of one company on disk: ``<folder>/refresh_token.json``, 0600."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / TOKEN_FILE
        self.lock_path = folder / LOCK_FILE

    def read(self) -> Stored | None:
        try:
            mode = self.path.stat().st_mode & 0o777
            if mode & 0o077:  # readable by others (copied around, restored from a backup): close it
                os.chmod(self.path, 0o600)
                log.warning("%s was readable by others (mode %o); set it to 0600", self.path, mode)
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DestinationAuthError(
                f"cannot read the stored QuickBooks refresh token {self.path} ({type(exc).__name__}); "
                "delete the file and set the refresh token again"
            ) from None
        try:
            return Stored(**{k: data[k] for k in Stored.__dataclass_fields__ if k in data})
        except TypeError:
            raise DestinationAuthError(
                f"{self.path} is not a couplet token file; delete it and set the refresh token again"
            ) from None

    def write(self, stored: Stored) -> None:
        """Atomically, readable by this user only (temp file created 0600, fsynced, renamed)."""
        private_folder(self.folder)
        tmp = self.folder / f".{TOKEN_FILE}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(stored.__dict__, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the rename itself survives a crash
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def locked(self, timeout: float = LOCK_TIMEOUT) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the company's refresh lock (other processes wait, up to ``timeout`` seconds)."""
        return file_lock(self.lock_path, timeout, "another process's QuickBooks token refresh")


@dataclass(frozen=True)
class _Access:
    token: str
    obtained_at: float
    refresh_at: float


# Access tokens by (token endpoint, client id, realm): one refresh serves every write of the process.
_ACCESS: dict[tuple[str, str, str], _Access] = {}


def forget_access_tokens() -> None:
    """Drop the access tokens this process holds (the next request refreshes)."""
    _ACCESS.clear()


class Tokens:
    """Access tokens for one company; ``await tokens.access_token()`` refreshes when needed."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        env_refresh_token: str | None,
        refresh_env: str,
        store: TokenStore,
        token_url: str,
        realm: str,
        environment: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id, self._secret = client_id, client_secret
        self._env_token = env_refresh_token or None
        self.refresh_env, self.store, self.token_url = refresh_env, store, token_url
        self.realm, self.environment = realm, environment
        self._clock = clock
        self._key = (token_url, client_id, realm)
        self._lock = asyncio.Lock()
        self.secrets: list[str] = [client_secret, *([self._env_token] if self._env_token else [])]
        self.refreshes = 0
        self.refresh_expires_in: float | None = None  # seconds the newest refresh token lives

    def _steps(self) -> str:
        return reconnect_steps(self.refresh_env, str(self.store.path), self.environment, self.realm)

    async def access_token(self) -> str:
        cached = _ACCESS.get(self._key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        async with self._lock:
            cached = _ACCESS.get(self._key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.token
            return await self._refresh()

    def expired(self, since: float) -> None:
        """A request started at ``since`` was refused (401): drop the access token unless a newer one
        was obtained meanwhile (so that ten refused requests in flight cause one refresh)."""
        cached = _ACCESS.get(self._key)
        if cached is not None and cached.obtained_at <= since:
            del _ACCESS[self._key]

    def now(self) -> float:
        return self._clock()

    def _choose(self) -> tuple[str, str]:
        """The refresh token to use and the fingerprint of the chain it belongs to."""
        stored = self.store.read()
        env = self._env_token
        if stored is not None and stored.client_id == self.client_id:
            self.secrets.append(stored.refresh_token)
            if env and fingerprint(env) != stored.seed and env != stored.refresh_token:
                log.info(
                    "QuickBooks company %s: a new refresh token is set in %s; using it",
                    self.realm,
                    self.refresh_env,
                )
                return env, fingerprint(env)
            return stored.refresh_token, stored.seed
        if not env:
            raise ReconnectError(
                f"QuickBooks company {self.realm}: no refresh token — the environment variable "
                f"{self.refresh_env} is not set and {self.store.path} does not exist. {self._steps()}"
            )
        return env, fingerprint(env)

    async def _refresh(self) -> str:
        async with self.store.locked():
            cached = _ACCESS.get(self._key)  # another process's refresh does not reach this cache,
            if cached is not None and self._clock() < cached.refresh_at:  # but another writer's does
                return cached.token
            token, seed = self._choose()
            body = await self._post(token)
            access = body.get("access_token")
            if not isinstance(access, str) or not access:
                raise DestinationAuthError(
                    f"QuickBooks company {self.realm}: the token endpoint answered without an access_token"
                )
            rotated = body.get("refresh_token")
            new_refresh = rotated if isinstance(rotated, str) and rotated else token
            lives = body.get("x_refresh_token_expires_in")
            self.refresh_expires_in = float(lives) if isinstance(lives, int | float) else None
            self.secrets += [access, new_refresh]
            now_wall = dt.datetime.now(dt.UTC)
            until = (
                (now_wall + dt.timedelta(seconds=self.refresh_expires_in)).isoformat()
                if self.refresh_expires_in
                else None
            )
            try:  # stored before the access token is used: the old refresh token is dead now
                self.store.write(Stored(new_refresh, self.client_id, seed, now_wall.isoformat(), until))
            except OSError as exc:
                raise DestinationAuthError(
                    f"QuickBooks company {self.realm}: could not store the new refresh token in "
                    f"{self.store.path} ({exc.strerror or type(exc).__name__}); the previous one is no "
                    f"longer valid. Fix the folder's permissions, then reconnect. {self._steps()}"
                ) from None
            expires_in = body.get("expires_in")
            life = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
            obtained = self._clock()
            _ACCESS[self._key] = _Access(access, obtained, obtained + life - min(300.0, life / 5))
            self.refreshes += 1
            log.info(
                "QuickBooks company %s: access token refreshed (valid %.0f s); refresh token stored in %s",
                self.realm, life, self.store.path,
            )  # fmt: skip
            return access

    async def _post(self, refresh_token: str) -> dict[str, Any]:
        """The token endpoint's JSON answer; retries timeouts, dropped answers, 429 and 5xx (after a
        lost answer the token may have been rotated already: an invalid_grant then says so)."""
        lost = False
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        async with httpx.AsyncClient(timeout=30.0) as http:
            for attempt in range(REFRESH_ATTEMPTS):
                try:
                    resp = await http.post(
                        self.token_url,
                        data=form,
                        headers={"Accept": "application/json"},
                        auth=httpx.BasicAuth(self.client_id, self._secret),
                    )
                except httpx.HTTPError as exc:
                    lost = True
                    if attempt + 1 == REFRESH_ATTEMPTS:
                        raise DestinationAuthError(
                            f"QuickBooks company {self.realm}: the token endpoint could not be reached "
                            f"({type(exc).__name__}) after {REFRESH_ATTEMPTS} attempts; run again later"
                        ) from None
                    await asyncio.sleep(random.uniform(0, 0.5 * 2**attempt))
                    continue
                if resp.status_code >= 500 or resp.status_code == 429:
                    if attempt + 1 == REFRESH_ATTEMPTS:
                        raise DestinationAuthError(
                            f"QuickBooks company {self.realm}: the token endpoint answered "
                            f"{resp.status_code} {REFRESH_ATTEMPTS} times; run again later"
                        )
                    await asyncio.sleep(random.uniform(0, 0.5 * 2**attempt))
                    continue
                return self._answer(resp, lost)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, resp: httpx.Response, lost: bool) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        said = body.get("error_description") if isinstance(body, dict) else None
        said_text = f" ({said})" if isinstance(said, str) and said and len(said) < 200 else ""
        if error == "invalid_grant":
            why = (
                " An earlier attempt's answer was lost on the way, and QuickBooks had likely rotated the "
                "token already."
                if lost
                else ""
            )
            raise ReconnectError(
                f"QuickBooks company {self.realm}: the refresh token was refused (invalid_grant{said_text}: "
                f"it expired — 100 days unused, or five years after the consent —, was revoked when the app "
                f"was disconnected, or was already used).{why} {self._steps()}"
            )
        if error == "invalid_client" or resp.status_code == 401:
            raise DestinationAuthError(
                f"QuickBooks company {self.realm}: the client id and secret were refused (invalid_client): "
                f"check that the environment variables holding them are your app's "
                f"{'Development' if self.environment == 'sandbox' else 'Production'} keys "
                "(Intuit Developer portal > your app > Keys and credentials)"
            )
        what = error if isinstance(error, str) and len(error) < 60 else f"HTTP {resp.status_code}"
        raise DestinationAuthError(
            f"QuickBooks company {self.realm}: the token endpoint refused the refresh ({what}{said_text}). "
            f"{self._steps()}"
        )
