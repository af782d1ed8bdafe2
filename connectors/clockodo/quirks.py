"""Clockodo's real quirks, as small record hooks (the engine does everything else)."""

from __future__ import annotations

from typing import Any

from connectors.core.entity import HookContext

Records = list[dict[str, Any]]


def entry_flags(records: Records, ctx: HookContext) -> Records:
    """``billable`` is an int enum (-1 hidden, 0 no, 1 billable, 2 billed): add the two flags people filter on."""
    for r in records:
        b = r.get("billable")
        hidden = b is None or b == -1
        r["is_billable"] = None if hidden else b in (1, 2)
        r["is_billed"] = None if hidden else b == 2
    return records


def flatten_access(records: Records, ctx: HookContext) -> Records:
    """Access rights to rows: one per user x permission x customer x project.

    Each of ``add``, ``report`` and ``edit`` is ``true`` (all customers), ``false`` (none), or an
    object keyed by customer id (string) whose value is ``true`` (all its projects) or
    ``{"projects": {"<project id>": true}}``.
    """
    out: Records = []
    for r in records:
        user = r.get("users_id")
        for permission in ("add", "report", "edit"):
            value = r.get(permission)
            if value is True:
                out.append(_row(user, permission, "all", None, None))
            elif isinstance(value, dict):
                for customer, grant in value.items():
                    if grant is True:
                        out.append(_row(user, permission, "customer", int(customer), None))
                    elif isinstance(grant, dict):
                        for project, allowed in (grant.get("projects") or {}).items():
                            if allowed:
                                out.append(_row(user, permission, "project", int(customer), int(project)))
    return out


def _row(user: Any, permission: str, scope: str, customer: int | None, project: int | None) -> dict[str, Any]:
    return {
        "users_id": user,
        "permission": permission,
        "scope": scope,
        "customers_id": customer,
        "projects_id": project,
    }
