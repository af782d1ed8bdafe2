"""The Clockodo connector: seventeen entities of https://my.clockodo.com/api (see README.md)."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.core.entity import RateLimit, Setting, Source
from connectors.core.errors import ConfigError

from .entities import ENTITIES

EXTERNAL_APPLICATION_MAX = 50


def _prepare(values: dict[str, str]) -> dict[str, str]:
    values = dict(values)
    app = values.get("external_application") or f"couplet;{values['api_user']}"
    if len(app) > EXTERNAL_APPLICATION_MAX or ";" not in app:
        raise ConfigError(
            f"the X-Clockodo-External-Application value must be '<application>;<contact e-mail>' and at most "
            f"{EXTERNAL_APPLICATION_MAX} characters (got {len(app)}): set CLOCKODO_EXTERNAL_APPLICATION, "
            "e.g. 'couplet;ops@example.com'",
            source="clockodo",
        )
    values["external_application"] = app
    return values


def _headers(values: Mapping[str, str]) -> dict[str, str]:
    return {
        "X-ClockodoApiUser": values["api_user"],
        "X-ClockodoApiKey": values["api_key"],
        "X-Clockodo-External-Application": values["external_application"],
        # Legacy endpoints (/targethours, /userreports) answer in local time without this.
        "X-ClockodoEnableIsoUtcDateTimes": "1",
        "Accept-Language": "en",
        "Accept": "application/json",
        "User-Agent": "couplet (+https://github.com/couplet-data/couplet)",
    }


SOURCE = Source(
    name="clockodo",
    title="Clockodo",
    entities=ENTITIES,
    settings=(
        Setting("api_user", "CLOCKODO_API_USER", help="the e-mail address of the Clockodo user"),
        Setting("api_key", "CLOCKODO_API_KEY", secret=True, help="the user's API key from 'My area'"),
        Setting("base_url", "CLOCKODO_BASE_URL", default="https://my.clockodo.com/api", help="API base URL"),
        Setting(
            "external_application",
            "CLOCKODO_EXTERNAL_APPLICATION",
            required=False,
            help="'<application>;<contact e-mail>', at most 50 characters (default couplet;<api user>)",
        ),
    ),
    headers=_headers,
    prepare=_prepare,
    # Published per user, all endpoint versions sharing one quota (reference §1.6).
    rate_limits=(
        RateLimit(900, 60),
        RateLimit(2_250, 15 * 60),
        RateLimit(4_500, 3_600),
        RateLimit(20_000, 86_400),
    ),
    rate_groups={"entries_enhanced_list": (RateLimit(300, 15 * 60),)},
    # The official SDK fetches at most three pages at once.
    max_concurrency=3,
    docs_url="https://docs.clockodo.com",
    # reference §1.2/§4.5: a key has its user's access rights
    rights_hint="a Clockodo key has its user's access rights; an owner's key reads everything",
)
