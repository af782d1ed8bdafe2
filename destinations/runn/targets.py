"""Clients, projects, people and roles: each source row as the Runn item it should be (``sync.Wanted``).

* clients: ``name`` (and ``website`` when given) is the source's; ``active: false`` archives the
  client in Runn, and an inactive client not yet in Runn is not created.
* projects: ``name`` and the client (``clientId``, found by the client's own reference); a project
  whose client is not in Runn is skipped ("write the clients first"), as is one without a client
  (Runn requires one). ``active`` as for clients.
* people: first and last name (a single ``name`` is split at its last space), e-mail when the
  source has a valid one (never unset), ``active``. Exactly one role at the source: that role; none or
  several: the role "Unknown"; both looked up by name in Runn and created when missing. A person's
  role is set when the person is created; Runn keeps roles in contracts, which the API cannot edit,
  so a role changed later is reported (``role_differs``), not changed.
* roles: created by name when missing (with their rates); found by reference, else by name. Runn
  documents no role update, so a renamed role is reported as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from .client import RunnClient
from .columns import Rows, split_name
from .matching import Index, ReferenceNames
from .report import Entry, Report
from .sync import CLIENTS, PEOPLE, PROJECTS, ROLES, Wanted, dedupe, sync

Record = dict[str, Any]
UNKNOWN_ROLE = "Unknown"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _entry(row: Record, name: str | None) -> Entry:
    entry: Entry = {"row": row["_row"], "source": row["source"], "id": row.get("id")}
    if name is not None:
        entry["name"] = name
    return entry


def _archived(row: Record) -> bool | None:
    active = row.get("active")
    return None if active is None else not active


def clients(rows: Rows, names: ReferenceNames) -> list[Wanted]:
    out = []
    for row in rows.items:
        fields = {"name": row["name"], "website": row.get("website"), "isArchived": _archived(row)}
        out.append(
            Wanted(
                _entry(row, row["name"]),
                names.ref(row["source"], row["id"]),
                fields,
                create=row.get("active") is not False,
                not_created_reason="inactive at the source and not in Runn: not created",
            )
        )
    return dedupe(out, "clients")


def projects(rows: Rows, names: ReferenceNames, client_index: Index) -> list[Wanted]:
    out = []
    for row in rows.items:
        entry = _entry(row, row["name"])
        entry["client_id"] = row.get("client_id")
        skip = client_id = None
        if row.get("client_id") is None:
            skip = "no client at the source; Runn needs a client for every project"
        else:
            client_ref = names.ref(row["source"], row["client_id"])
            found = client_index.find(client_ref)
            if not found:
                skip = (
                    f"its client {row['client_id']} ({client_ref.name}) is not in Runn: write the clients "
                    "target first (an inactive client is not created)"
                )
            elif len(found) > 1:
                skip = f"its client reference {client_ref} is on {len(found)} Runn clients; keep it on one"
            else:
                client_id = found[0]["id"]
        fields = {"name": row["name"], "clientId": client_id, "isArchived": _archived(row)}
        out.append(
            Wanted(
                entry,
                names.ref(row["source"], row["id"]),
                fields,
                create=row.get("active") is not False,
                not_created_reason="inactive at the source and not in Runn: not created",
                skip=skip,
            )
        )
    return dedupe(out, "projects")


def roles(rows: Rows, names: ReferenceNames) -> list[Wanted]:
    out = []
    for row in rows.items:
        on_create = {
            "defaultHourCost": row.get("default_hour_cost"),
            "standardRate": row.get("standard_rate"),
        }
        ref = names.ref(row["source"], row["id"]) if row.get("id") is not None else None
        out.append(
            Wanted(_entry(row, row["name"]), ref, {"name": row["name"]}, on_create, by_name=row["name"])
        )
    return dedupe(out, "roles")


def person_roles(roles_index: Index) -> dict[int, int]:
    """Person id -> role id, for people in exactly one role's ``personIds`` (UNCONFIRMED: the spec
    lists ``personIds`` on a role without saying whether past contracts count; several is unknown)."""
    seen: dict[int, list[int]] = {}
    for role in roles_index.items:
        for person_id in role.get("personIds") or ():
            seen.setdefault(person_id, []).append(role["id"])
    return {p: r[0] for p, r in seen.items() if len(r) == 1}


class RoleBook:
    """Runn's roles by name; a role people need and Runn lacks is created once (or, dry, planned)."""

    def __init__(self, runn: RunnClient | None, index: Index, report: Report) -> None:
        self.runn, self.index, self.report = runn, index, report
        self.planned: set[str] = set()

    async def ensure(self, name: str) -> int | None:
        """The role's id (None: it would be created in a dry run)."""
        found = self.index.by_name(name)
        if found:
            return int(found[0]["id"])
        if self.runn is None:
            if name.casefold() not in self.planned:
                self.planned.add(name.casefold())
                self.report.roles_created.append(name)
            return None
        runn = self.runn
        item = await runn.create(ROLES.path, {"name": name}, lambda: _named(runn, name))
        self.index.add(item)
        self.report.roles_created.append(name)
        return int(item["id"])


async def _named(runn: RunnClient, name: str) -> Record | None:
    found = Index(await runn.list_all(ROLES.path)).by_name(name)
    return found[0] if found else None


def people(rows: Rows, names: ReferenceNames, book: RoleBook, report: Report) -> list[Wanted]:
    current = person_roles(book.index)
    role_names = {r["id"]: r.get("name") for r in book.index.items}
    out = []
    for row in rows.items:
        if rows.has("full_name"):
            first, last = split_name(row["full_name"])
            if last == "-":
                report.notes.append(
                    f"row {row['_row']}: {row['full_name']!r} is one word; last name set to '-'"
                )
        else:
            first, last = row["first_name"], row["last_name"]
        entry = _entry(row, f"{first} {last}")
        source_roles: tuple[str, ...] = row.get("roles") or row.get("role") or ()
        role = source_roles[0] if len(source_roles) == 1 else UNKNOWN_ROLE
        entry["role"] = role
        email = row.get("email")
        if email is not None and not _EMAIL.match(email):
            report.notes.append(f"row {row['_row']}: e-mail {email!r} is not valid; not sent")
            email = None
        fields = {"firstName": first, "lastName": last, "email": email, "isArchived": _archived(row)}
        if len(source_roles) != 1:
            unknown = {**entry, "roles": list(source_roles), "reason": _why_unknown(source_roles, rows)}
            report.unknown_role.append(unknown)
            after = _runn_role(unknown, current, role_names)
        else:
            after = _role_check(entry, role, current, role_names, report.role_differs)
        out.append(
            Wanted(
                entry,
                names.ref(row["source"], row["id"]),
                fields,
                create=row.get("active") is not False,
                not_created_reason="inactive at the source and not in Runn: not created",
                after=after,
                prepare=_role_id(book, role),
            )
        )
    return dedupe(out, "people")


def _role_id(book: RoleBook, role: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A new person's ``roleId``: the role of that name, created when Runn lacks it."""

    async def prepare() -> dict[str, Any]:
        return {"roleId": await book.ensure(role)}

    return prepare


def _why_unknown(roles: tuple[str, ...], rows: Rows) -> str:
    if roles:
        return f"several roles at the source: {', '.join(roles)}"
    return "the source gives no single role" if rows.has("role") else "no role at the source"


def _runn_role(
    unknown: Entry, current: dict[int, int], names: dict[int, Any]
) -> Callable[[Record | None], None]:
    def after(item: Record | None) -> None:
        if item is not None:
            unknown["runn_id"] = item["id"]
            if item["id"] in current:
                unknown["runn_role"] = names.get(current[item["id"]])

    return after


def _role_check(
    entry: Entry, role: str, current: dict[int, int], names: dict[int, Any], differs: list[Entry]
) -> Callable[[Record | None], None]:
    """For a person already in Runn: report a current role other than the source's (by name)."""

    def after(item: Record | None) -> None:
        if item is None or item["id"] not in current:
            return
        runn_role = str(names.get(current[item["id"]]) or "")
        if runn_role.strip().casefold() != role.strip().casefold():
            differs.append(
                {**entry, "runn_id": item["id"], "runn_role": runn_role, "source_role": role,
                 "reason": "Runn keeps roles in contracts, which the API cannot change; start a new contract in Runn"}
            )  # fmt: skip

    return after


async def sync_target(
    runn: RunnClient, target: str, rows: Rows, names: ReferenceNames, report: Report, update: bool
) -> None:
    """Read what the target needs from Runn, then ``sync`` the rows (a dry run reads, never writes)."""
    reader = runn
    writer = None if report.dry_run else runn
    if target == "clients":
        index = Index(await reader.list_all(CLIENTS.path))
        await sync(writer, CLIENTS, clients(rows, names), index, report, update)
    elif target == "projects":
        client_index = Index(await reader.list_all(CLIENTS.path))
        index = Index(await reader.list_all(PROJECTS.path))
        await sync(writer, PROJECTS, projects(rows, names, client_index), index, report, update)
    elif target == "roles":
        index = Index(await reader.list_all(ROLES.path))
        await sync(writer, ROLES, roles(rows, names), index, report, update)
    elif target == "people":
        book = RoleBook(writer, Index(await reader.list_all(ROLES.path)), report)
        index = Index(await reader.list_all(PEOPLE.path))
        await sync(writer, PEOPLE, people(rows, names, book, report), index, report, update)
    else:
        raise AssertionError(target)
