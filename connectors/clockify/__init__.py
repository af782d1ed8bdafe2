"""The Clockify connector: every list entity of the regular API plus the detailed report (README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.core.entity import RateLimit, Setting, Source
from connectors.core.errors import ConfigError

from .entities import ENTITIES

REGIONS = ("global", "euc1", "use2", "euw2", "apse2")


def hosts(region: str) -> tuple[str, str]:
    """(regular API base, reports base) of a region. Reports live at /report on regional hosts."""
    if region == "global":
        return "https://api.clockify.me/api", "https://reports.api.clockify.me"
    return f"https://{region}.clockify.me/api", f"https://{region}.clockify.me/report"


def _prepare(values: dict[str, str]) -> dict[str, str]:
    values = dict(values)
    region = values.get("region", "global").strip().lower()
    if region not in REGIONS:
        raise ConfigError(
            f"CLOCKIFY_REGION {region!r} is not a Clockify region; use one of {', '.join(REGIONS)}",
            source="clockify",
        )
    base, reports = hosts(region)
    values.setdefault("base_url", base)
    values.setdefault("reports_url", reports)
    return values


async def _discover(client: Any, values: dict[str, str]) -> dict[str, str]:
    """No workspace configured: use the key's only workspace, or say which ones there are."""
    if values.get("workspace_id"):
        return values
    resp = await client.request_json(values["base_url"].rstrip("/") + "/v1/workspaces")
    workspaces = resp.body if isinstance(resp.body, list) else []
    if len(workspaces) == 1:
        return {**values, "workspace_id": str(workspaces[0]["id"])}
    if not workspaces:
        raise ConfigError("the API key sees no workspace; check CLOCKIFY_API_KEY", source="clockify")
    listed = "; ".join(f"{w.get('id')} ({w.get('name')})" for w in workspaces)
    raise ConfigError(
        f"the API key sees {len(workspaces)} workspaces: set CLOCKIFY_WORKSPACE_ID to one of: {listed}",
        source="clockify",
    )


def _headers(values: Mapping[str, str]) -> dict[str, str]:
    # Exactly one auth header: X-Api-Key (an extra Authorization header is a 401 at Clockify).
    return {"X-Api-Key": values["api_key"], "Accept": "application/json", "User-Agent": "couplet"}


SOURCE = Source(
    name="clockify",
    title="Clockify",
    entities=ENTITIES,
    settings=(
        Setting("api_key", "CLOCKIFY_API_KEY", secret=True, help="API key from Profile settings -> API"),
        Setting(
            "workspace_id", "CLOCKIFY_WORKSPACE_ID", required=False, help="workspace id (found when unset)"
        ),
        Setting(
            "region", "CLOCKIFY_REGION", required=False, default="global", help=f"one of {', '.join(REGIONS)}"
        ),
        Setting(
            "base_url", "CLOCKIFY_BASE_URL", required=False, help="regular API base (default from the region)"
        ),
        Setting(
            "reports_url",
            "CLOCKIFY_REPORTS_URL",
            required=False,
            help="reports API base (default from the region)",
        ),
        Setting(
            "rate_limit",
            "CLOCKIFY_RATE_LIMIT",
            required=False,
            help="requests allowed, e.g. 50/s (paid plans, the default) or 30/h (new free workspaces)",
        ),
    ),
    headers=_headers,
    prepare=_prepare,
    discover=_discover,
    rate_limits=(RateLimit(50, 1),),
    max_concurrency=8,
    docs_url="https://docs.clockify.me",
    # reference §1: a key sees what its user sees; other users' data needs a workspace Owner/Admin
    rights_hint="a Clockify key has its user's role; a workspace Owner's or Admin's key reads everything",
)
