"""Create or update Runn items to match the source: the plan and its application, for one target.

The targets (``targets``) describe each row as a ``Wanted``: its external reference, the fields the
source owns (compared with Runn's and sent when they differ), the fields sent only on create (a
person's role), and whether it may be created at all. ``sync`` then, per row:

1. skips it when the target already knows why (a missing client, an inactive item not in Runn);
2. finds its Runn item by reference (``matching``; roles, which people carry by name, also by name);
   two Runn items with one reference are ambiguous: skipped, never guessed;
3. creates it when there is none (with the reference, so the next run finds it);
4. compares the owned fields; equal: unchanged; different: updated with a PATCH of just those
   fields, unless the output says ``update: false`` (skipped, with the differences) or Runn offers
   no update for the kind (roles: skipped, with what to change by hand);
5. in a dry run, records what it would do and sends nothing.

Writes go one at a time, in row order, under the client's limits; a write Runn refuses
(``ItemRejected``) is recorded as failed for that item and the others go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .client import ItemRejected, RunnClient
from .columns import InputError
from .matching import Index, Ref, one
from .report import Entry, Report

Record = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A kind of Runn item: where it lives and whether the API can update it."""

    name: str  # plural, as in the report: clients
    path: str  # collection path, with the spec's trailing slash
    can_update: bool = True
    no_update_hint: str = ""


CLIENTS = Kind("clients", "/clients/")
PROJECTS = Kind("projects", "/projects/")
PEOPLE = Kind("people", "/people/")
ROLES = Kind(
    "roles",
    "/roles/",
    can_update=False,
    no_update_hint="Runn's API (v1.0.0) documents no update for roles: change the role in Runn's app",
)


@dataclass
class Wanted:
    """One source row as the Runn item it should be."""

    entry: Entry  # how the report names it: source, id, name
    ref: Ref | None  # None: matched by name only (roles without a source id)
    fields: dict[str, Any]  # owned by the source: compared, sent on create and update
    on_create: dict[str, Any] = field(default_factory=dict)  # sent only when creating (roleId)
    create: bool = True
    not_created_reason: str = ""
    skip: str | None = None  # known before looking at Runn
    by_name: str | None = None  # also match an item with this name (roles)
    after: Callable[[Record | None], None] | None = None  # told the item it became (people's roles)
    # More fields for a create, worked out only when one is needed (a person's role, made if missing)
    prepare: Callable[[], Awaitable[dict[str, Any]]] | None = None


def same(name: str, runn: Any, source: Any) -> bool:
    if isinstance(runn, str) and isinstance(source, str):
        if name == "email":
            return runn.strip().casefold() == source.strip().casefold()
        return runn.strip() == source.strip()
    if isinstance(runn, int | float) and isinstance(source, int | float) and not isinstance(runn, bool):
        return float(runn) == float(source)
    return bool(runn == source)


def dedupe(wanted: list[Wanted], target: str) -> list[Wanted]:
    """One ``Wanted`` per reference: identical repeats collapse, conflicting ones are an error."""
    seen: dict[tuple[str, str], Wanted] = {}
    out: list[Wanted] = []
    for w in wanted:
        if w.ref is None:
            out.append(w)
            continue
        first = seen.get(w.ref.key)
        if first is None:
            seen[w.ref.key] = w
            out.append(w)
        elif (first.fields, first.on_create, first.create, first.skip) != (
            w.fields,
            w.on_create,
            w.create,
            w.skip,
        ):
            raise InputError(
                f"Runn output, target {target}: rows {first.entry.get('row')} and {w.entry.get('row')} have "
                f"the same id {w.ref.external_id!r} ({w.ref.name}) but different values; keep one row per id "
                "(filter or aggregate in a step)"
            )
    return out


async def sync(
    runn: RunnClient | None, kind: Kind, wanted: list[Wanted], index: Index, report: Report, update: bool
) -> None:
    """Bring Runn in line with ``wanted`` (``runn`` None: a dry run that only plans).

    One write at a time, in row order: the rate limit (2 a second) is the bound, not latency, so
    parallel writes would gain nothing and make the order of created ids depend on timing."""
    for w in wanted:
        await _one(runn, kind, w, index, report, update)


async def _one(
    runn: RunnClient | None, kind: Kind, w: Wanted, index: Index, report: Report, update: bool
) -> None:
    if w.skip is not None:
        report.skip(w.entry, w.skip)
        return
    item, ambiguous = one(index.find(w.ref), w.ref, kind.name) if w.ref is not None else (None, None)
    if ambiguous:
        report.skip(w.entry, ambiguous)
        return
    if item is None and w.by_name is not None:
        named = [i for i in index.by_name(w.by_name) if not _has_other_ref(i, w.ref)]
        item = named[0] if named else None
    if item is None:
        await _create(runn, kind, w, index, report)
        return
    changes = {
        k: [item.get(k), v] for k, v in w.fields.items() if v is not None and not same(k, item.get(k), v)
    }
    entry = {**w.entry, "runn_id": item["id"]}
    if w.after is not None:
        w.after(item)
    if not changes:
        report.unchanged += 1
    elif not kind.can_update:
        report.skip({**entry, "changes": changes}, f"changed at the source; {kind.no_update_hint}")
    elif not update:
        report.skip({**entry, "changes": changes}, "differs from the source; not updated (update: false)")
    else:
        try:
            if runn is not None:
                await runn.patch(f"{kind.path}{item['id']}", {k: v for k, (_, v) in changes.items()})
        except ItemRejected as exc:
            report.fail({**entry, "changes": changes}, str(exc))
            return
        report.updated.append({**entry, "changes": changes})


def _has_other_ref(item: Record, ref: Ref | None) -> bool:
    """A same-named item that already belongs to another source id is not ours to adopt by name."""
    if ref is None:
        return False
    name = ref.key[0]
    return any(
        isinstance(r.get("referenceName"), str) and r["referenceName"].strip().casefold() == name
        for r in item.get("references") or ()
    )


async def _create(runn: RunnClient | None, kind: Kind, w: Wanted, index: Index, report: Report) -> None:
    if not w.create:
        report.skip(w.entry, w.not_created_reason)
        return
    on_create = {**w.on_create, **(await w.prepare() if w.prepare is not None else {})}
    body = {k: v for k, v in {**w.fields, **on_create}.items() if v is not None}
    body.pop("isArchived", None)  # creates take no isArchived; inactive items are not created
    if w.ref is not None:
        body["references"] = [w.ref.as_json()]
    if runn is None:
        shown = {k: v for k, v in body.items() if k != "references"}
        report.created.append({**w.entry, "runn_id": None, "fields": shown})
        if w.after is not None:
            w.after(None)
        return
    try:
        item = await runn.create(kind.path, body, lambda: _find(runn, kind, w))
    except ItemRejected as exc:
        report.fail(w.entry, str(exc))
        return
    index.add(item)
    if w.after is not None:
        w.after(item)
    report.created.append({**w.entry, "runn_id": item.get("id")})


async def _find(runn: RunnClient, kind: Kind, w: Wanted) -> Record | None:
    """After a create whose answer was lost: the item, if Runn made it after all."""
    if w.ref is None:
        named = Index(await runn.list_all(kind.path)).by_name(w.by_name or "")
        return named[0] if named else None
    params = {"externalId": w.ref.external_id} if kind is PEOPLE else None
    found = Index(await runn.list_all(kind.path, params)).find(w.ref)
    return found[0] if found else None
