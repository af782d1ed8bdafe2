"""Runn destination: clients, projects, people, roles and actuals pushed into Runn's API v1.

``to: {runn: {target: people, connection_name: harvest}}`` with ``mode: upsert``; in code,
``RunnWriter().write(RunnTarget(target="clients", source="harvest", connection_name="main"), table, "upsert")``.

Runn is an operational destination, not a table: each row becomes a Runn item matched by the source's
id kept in the item's external references (``referenceName`` ``couplet:<tool>:<connection>``,
``externalId`` the id), created when missing and updated when it differs (``update: false`` turns
updates off); nothing is ever deleted. The modules: ``columns`` (what each target reads),
``matching`` (references), ``sync`` and ``targets`` (clients, projects, people, roles), ``actuals``,
``report``, ``client`` (HTTP), ``writer`` (``RunnWriter``). User docs: ``docs/destinations/runn.md``.

This module holds only the declaration (``DESTINATION``): it imports pydantic and nothing of the
writer, so loading flows stays cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator

from connectors.core.ratelimit import parse_rate_limits

from ..endpoints import shown_endpoint
from ..spec import Context, Destination, Settings

if TYPE_CHECKING:
    from .writer import RunnWriter

DEFAULT_BASE_URL = "https://api.runn.io"
ENV_BASE_URL = "RUNN_BASE_URL"
DEFAULT_TOKEN_ENV = "RUNN_API_TOKEN"
# 120 requests a minute: Runn's own (archived, v0-era) rate-limit test; UNCONFIRMED for v1.
DEFAULT_RATE_LIMIT = "120/min"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class RunnTarget(Settings):
    """``to: {runn: {...}}``: what a Runn output pushes, and where the ids come from."""

    target: Literal["clients", "projects", "people", "roles", "actuals"]
    # The couplet connection the rows' ids come from; a mapping {tool: connection} when the rows hold
    # a ``source`` column with several tools (people_and_projects mixes clockify and harvest).
    connection_name: Annotated[str, Field(pattern=_NAME)] | dict[str, Annotated[str, Field(pattern=_NAME)]]
    # The tool the ids come from (harvest, clockify, clockodo...), when the rows have no ``source`` column.
    source: Annotated[str, Field(pattern=_NAME)] | None = None
    update: bool = True  # false: items already in Runn are never changed (only created ones are written)
    dry_run: bool = False  # read Runn, plan, report what would be created/updated/sent; write nothing
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = DEFAULT_TOKEN_ENV
    # The API's root; unset: RUNN_BASE_URL, else https://api.runn.io (couplet sandbox: .../runn).
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")] | None = None
    rate_limit: str = DEFAULT_RATE_LIMIT  # "N/min" (several: "120/min,5000/day"), or "off"

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate_limits(value)  # a ValueError says how to write it
        return value

    @field_validator("connection_name")
    @classmethod
    def _mapping(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict):
            if not value:
                raise ValueError("name at least one tool: connection_name: {harvest: harvest_main}")
            bad = [k for k in value if not re.match(_NAME, k)]
            if bad:
                raise ValueError(f"tool names {bad} must be words such as harvest or clockify")
        return value

    def api_root(self, env: Mapping[str, str] | None = None) -> str:
        """The base URL requests go to (``base_url``, ``RUNN_BASE_URL``, else Runn's), without a trailing slash."""
        env = os.environ if env is None else env
        return (self.base_url or env.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL).rstrip("/")

    def __hash__(self) -> int:  # frozen settings hash; a connection_name mapping is hashed as sorted pairs
        names = self.connection_name
        key = tuple(sorted(names.items())) if isinstance(names, dict) else names
        return hash((type(self), *(key if n == "connection_name" else v for n, v in self)))

    def __str__(self) -> str:
        return f"Runn {self.target}"


# Written in this order within a flow: a project links to its client, a person carries a role,
# an actual names a person and a project that must exist in Runn first.
TARGET_ORDER = ("clients", "projects", "roles", "people", "actuals")


def label(target: RunnTarget, env: Mapping[str, str] | None = None) -> str:
    """``Runn people at https://api.runn.io`` (``(dry run)`` when nothing is written)."""
    dry = " (dry run)" if target.dry_run else ""
    return f"Runn {target.target} at {shown_endpoint(target.api_root(env))}{dry}"


def _writer(target: RunnTarget, context: Context) -> RunnWriter:
    from .writer import RunnWriter

    return RunnWriter()


DESTINATION: Destination[RunnTarget] = Destination(
    kind="runn",
    settings=RunnTarget,
    writer=_writer,
    label=label,
    default_name=lambda t: f"runn_{t.target}",
    example={"target": "people", "connection_name": "harvest", "source": "harvest"},
    tabular=False,  # items created or updated in Runn, matched by external id; never a table
    # Runn keeps no history to append to and cannot delete clients or projects: items are upserted.
    modes=("upsert",),
    sequence=lambda t: TARGET_ORDER.index(t.target),
    dry_run=lambda t: t.model_copy(update={"dry_run": True}),
    # One Runn account (its token) at a time across runs: with a pool limit of 1 its rate limit holds,
    # the send log handed from one write to the next (pipelines.ratestate).
    pool=lambda t: f"runn:${t.token_env}",
    limiters=("runn",),
)
