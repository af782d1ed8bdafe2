"""The Harvest connector: every entity of Harvest API v2 (see README.md)."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.core.entity import RateLimit, Setting, Source

from .entities import ENTITIES

DEFAULT_USER_AGENT = "couplet (https://github.com/couplet-data/couplet)"


def _headers(values: Mapping[str, str]) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {values['access_token']}",
        "Harvest-Account-Id": values["account_id"],
        # Mandatory: Harvest answers 400 without a User-Agent naming the application.
        "User-Agent": values.get("user_agent") or DEFAULT_USER_AGENT,
        "Accept": "application/json",
    }


SOURCE = Source(
    name="harvest",
    title="Harvest",
    entities=ENTITIES,
    settings=(
        Setting(
            "access_token",
            "HARVEST_ACCESS_TOKEN",
            secret=True,
            help="personal access token (id.getharvest.com/developers)",
        ),
        Setting("account_id", "HARVEST_ACCOUNT_ID", help="the numeric Harvest account id"),
        Setting("base_url", "HARVEST_BASE_URL", default="https://api.harvestapp.com", help="API host"),
        Setting(
            "user_agent",
            "HARVEST_USER_AGENT",
            required=False,
            help=f"User-Agent (default {DEFAULT_USER_AGENT!r})",
        ),
        Setting(
            "rate_limit", "HARVEST_RATE_LIMIT", required=False, help="override the 100 requests/15 s limit"
        ),
    ),
    headers=_headers,
    rate_limits=(RateLimit(100, 15),),
    rate_groups={"reports": (RateLimit(100, 15 * 60),)},
    max_concurrency=4,
    docs_url="https://help.getharvest.com/api-v2/",
    # reference: /v2/users needs an Administrator (or a Manager); Members see only their own data
    rights_hint="a Harvest token has its user's permissions; an Administrator's token reads the whole account",
)
