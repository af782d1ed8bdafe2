"""Clockify's quirks, as small record hooks (the engine does everything else)."""

from __future__ import annotations

from typing import Any

from connectors.core.entity import HookContext


def workspace_status(records: list[dict[str, Any]], ctx: HookContext) -> list[dict[str, Any]]:
    """Each user's status in the workspace as ``membershipStatus`` (ACTIVE, INACTIVE, PENDING, DECLINED).

    A user's own ``status`` is the account's (ACTIVE, DELETED...): a person deactivated in the
    workspace keeps an ACTIVE account. Whether they are still a member is only in the WORKSPACE
    membership, which the list returns when asked with ``memberships=WORKSPACE`` (reference §4.2).
    """
    for record in records:
        memberships = record.get("memberships")
        found = None
        if isinstance(memberships, list):
            found = next(
                (
                    m.get("membershipStatus")
                    for m in memberships
                    if isinstance(m, dict) and m.get("membershipType") == "WORKSPACE"
                ),
                None,
            )
        record["membershipStatus"] = found
    return records
