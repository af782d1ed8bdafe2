"""What a Runn write did (or, in a dry run, would do), for the write result's metadata.

Every item of a target ends in exactly one bucket:

* ``created``: new in Runn (with its Runn id; none in a dry run);
* ``updated``: in Runn already and changed to match the source (``changes``: field -> [Runn, source]);
* ``unchanged``: in Runn already and equal to the source;
* ``skipped``: not written, with the reason (a missing client, an ambiguous reference, ``update:
  false``, an inactive item that is not in Runn, actuals of a person whose role is Unknown...);
* ``failed``: Runn refused the write, with its message (the write then fails, after the others).

People also list ``unknown_role``: who got (or keeps) the role "Unknown" because the source has none
or several roles for them, so someone can fix them in Runn, and ``role_differs``: people already in Runn whose role there is not the
source's single role (reported, not changed: see ``targets``). Lists are capped (``LIST_CAP``) so a
large first import does not flood the metadata; ``<list>_more`` counts what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LIST_CAP = 100
Entry = dict[str, Any]


@dataclass
class Report:
    target: str
    dry_run: bool
    created: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Entry] = field(default_factory=list)
    failed: list[Entry] = field(default_factory=list)
    unknown_role: list[Entry] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)
    role_differs: list[Entry] = field(default_factory=list)  # people whose Runn role is not the source's
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # per target (actuals: minutes sent...)

    def skip(self, entry: Entry, reason: str) -> None:
        self.skipped.append({**entry, "reason": reason})

    def fail(self, entry: Entry, reason: str) -> None:
        self.failed.append({**entry, "reason": reason})

    @property
    def written(self) -> int:
        """Items written to Runn (none in a dry run)."""
        return 0 if self.dry_run else len(self.created) + len(self.updated)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }

    def as_extra(self) -> dict[str, object]:
        """The write result's ``extra``: counts first, then the capped lists."""
        out: dict[str, object] = {"runn_target": self.target, "dry_run": self.dry_run, **self.counts()}
        lists: dict[str, list[Any]] = {
            "created_items": self.created,
            "updated_items": self.updated,
            "skipped_items": self.skipped,
            "failed_items": self.failed,
        }
        if self.target == "people":
            lists["unknown_role"] = self.unknown_role
        if self.roles_created:
            lists["roles_created"] = self.roles_created
        if self.role_differs:
            lists["role_differs"] = self.role_differs
        for name, items in lists.items():
            out[name] = items[:LIST_CAP]
            if len(items) > LIST_CAP:
                out[f"{name}_more"] = len(items) - LIST_CAP
        if self.notes:
            out["notes"] = self.notes
        out.update(self.extra)
        return out

    def summary(self) -> str:
        """``created 3, updated 1, unchanged 7, skipped 2, failed 0`` (``would create`` in a dry run)."""
        verb = "would " if self.dry_run else ""
        c = self.counts()
        return (
            f"{verb}create {c['created']}, {verb}update {c['updated']}, unchanged {c['unchanged']}, "
            f"skipped {c['skipped']}, failed {c['failed']}"
        )
