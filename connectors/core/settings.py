"""Connection settings: read from environment variables, checked, never printed.

A connection names the env var that holds each secret (``api_key: {env: CLOCKODO_API_KEY}`` in a
flow file); non-secret settings (base URL, region) may also be given literally. Missing required
settings fail with the list of env vars to set.

Every source's rate limits can be overridden: by its ``rate_limit`` setting where it declares one
(Harvest, Clockify), else by the env var ``<SOURCE>_RATE_LIMIT`` (``CLOCKODO_RATE_LIMIT``); the
value is read by ``connectors.core.ratelimit.parse_rate_limits`` (``900/min``, ``published/2``, ``off``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .entity import Source
from .errors import ConfigError


@dataclass(frozen=True)
class ResolvedSettings:
    source: str
    values: Mapping[str, str]
    env_names: Mapping[str, str]  # setting name -> env var it was (or would be) read from
    secrets: tuple[str, ...]  # secret values, for redaction

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    @property
    def auth_hint(self) -> str:
        return f"Check the credentials in {', '.join(self.credential_env)}." if self.credential_env else ""

    credential_env: tuple[str, ...] = ()  # env vars holding the credentials (required, no default)


def resolve_settings(
    source: Source,
    env_overrides: Mapping[str, str] | None = None,
    literals: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedSettings:
    """Values for every setting of ``source``.

    ``env_overrides`` maps a setting to another env var name (a second account); ``literals`` gives
    non-secret values directly. Raises ``ConfigError`` naming every missing env var at once.
    """
    env = os.environ if environ is None else environ
    env_overrides = dict(env_overrides or {})
    literals = dict(literals or {})
    known = {s.name for s in source.settings}
    unknown = (set(env_overrides) | set(literals)) - known
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {sorted(unknown)}; {source.name} has {sorted(known)}", source=source.name
        )
    values: dict[str, str] = {}
    env_names: dict[str, str] = {}
    missing: list[str] = []
    for s in source.settings:
        env_name = env_overrides.get(s.name, s.env)
        env_names[s.name] = env_name
        if s.name in literals:
            if s.secret:
                raise ConfigError(
                    f"setting {s.name!r} is a secret: give it as {{env: VAR}} and put the value in that env var",
                    source=source.name,
                )
            value = str(literals[s.name])
        else:
            value = env.get(env_name, "") or s.default
        if value:
            values[s.name] = value
        elif s.required:
            missing.append(f"{env_name} ({s.help or s.name})")
    if "rate_limit" not in known:  # a source without the setting: its generic env var
        env_names["rate_limit"] = f"{source.name.upper()}_RATE_LIMIT"
        if env.get(env_names["rate_limit"]):
            values["rate_limit"] = env[env_names["rate_limit"]]
    if missing:
        raise ConfigError(
            f"{source.title} connection is not configured: set {'; '.join(missing)}",
            source=source.name,
        )
    if source.prepare is not None:
        values = source.prepare(values)
    secrets = tuple(values[s.name] for s in source.settings if s.secret and s.name in values)
    credential_env = tuple(env_names[s.name] for s in source.settings if s.required and not s.default)
    return ResolvedSettings(source.name, values, env_names, secrets, credential_env)
