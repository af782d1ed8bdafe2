"""Schema drift on raw assets: which fields the API sent that no column declares, and the check on it.

Every materialization that read records reports, from the engine's ``FieldTally``
(``connectors/core/fields.py``):

* ``undeclared_fields``: how many fields the records carried that no column of the entity reads
  (their values are not staged); a number, so it plots over time;
* ``undeclared_field_records``: each such field (dotted path inside flattened objects) with the number
  of records that had a value there;
* ``missing_fields``: declared fields that no record of the read carried at all.

The ``schema_drift`` check (severity WARN, not blocking) compares those two sets of names with the
last materialization of the asset (any partition) that reported them: equal passes; a field that
appeared or vanished on either side fails with WARN and names it, so a change in the API's shape
shows in the UI the day it happens. The first read passes and becomes the baseline; a run that read
no records passes without moving the baseline (with no record, nothing can be said of fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from connectors.core.fields import FieldTally, listed

SCHEMA_CHECK = "schema_drift"
UNDECLARED = "undeclared_fields"
UNDECLARED_RECORDS = "undeclared_field_records"
MISSING = "missing_fields"
KEYS = (UNDECLARED, UNDECLARED_RECORDS, MISSING)
NAMED = 10  # names in a check's description; the metadata lists them all
LOOK_BACK = 200  # latest materializations searched for the baseline (runs without records have none)
PAGE = 10


def schema_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SCHEMA_CHECK,
        asset=key,
        blocking=False,
        description=(
            "fields the API sends that no column declares, and declared fields no record carried, "
            "are the same as at the last read (WARN when a field appears or disappears)"
        ),
    )


def field_metadata(tally: FieldTally | None) -> dict[str, Any]:
    """The materialization's field metadata; empty when no record was read."""
    if tally is None or not tally.records:
        return {}
    undeclared = tally.undeclared
    return {
        UNDECLARED: len(undeclared),
        UNDECLARED_RECORDS: dg.MetadataValue.json(undeclared),
        MISSING: dg.MetadataValue.json(tally.missing),
    }


def reused_metadata(reused: dg.EventLogRecord) -> dict[str, Any]:
    """The field metadata of a materialization whose read this run reuses (it read nothing itself)."""
    mat = reused.asset_materialization
    found = mat.metadata if mat is not None else {}
    return {k: found[k] for k in KEYS if k in found}


Fields = tuple[frozenset[str], frozenset[str]]  # (undeclared, missing)


def _fields(metadata: Mapping[str, Any]) -> Fields | None:
    undeclared, missing = metadata.get(UNDECLARED_RECORDS), metadata.get(MISSING)
    if undeclared is None or missing is None:
        return None
    return frozenset(getattr(undeclared, "value", undeclared)), frozenset(getattr(missing, "value", missing))


def _baseline(instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[str, Fields] | None:
    """(run id, fields) of the latest materialization that reported fields, if any."""
    cursor, scanned = None, 0
    while scanned < LOOK_BACK:  # in pages: the latest one almost always has them
        found = instance.fetch_materializations(key, limit=PAGE, cursor=cursor)
        for record in found.records:
            mat = record.asset_materialization
            fields = _fields(mat.metadata) if mat is not None else None
            if fields is not None:
                return record.run_id, fields
        scanned += len(found.records)
        if not found.has_more:
            break
        cursor = found.cursor
    return None


def schema_check(
    instance: dg.DagsterInstance, key: dg.AssetKey, metadata: Mapping[str, Any]
) -> dg.AssetCheckResult:
    """Compare this materialization's fields (``metadata``, before it is stored) with the last ones."""
    now = _fields(metadata)
    if now is None:
        return dg.AssetCheckResult(
            check_name=SCHEMA_CHECK,
            passed=True,
            description="no records read: nothing to say about fields (the baseline stays)",
        )
    undeclared, missing = now
    counts = {"undeclared_fields": len(undeclared), "missing_fields": len(missing)}
    before = _baseline(instance, key)
    if before is None:
        return dg.AssetCheckResult(
            check_name=SCHEMA_CHECK,
            passed=True,
            metadata=counts,
            description=f"first read: baseline of {len(undeclared)} undeclared and {len(missing)} missing field(s)",
        )
    run_id, (was_undeclared, was_missing) = before
    changes = {
        "new_undeclared_fields": sorted(undeclared - was_undeclared),
        "undeclared_fields_gone": sorted(was_undeclared - undeclared),
        "newly_missing_fields": sorted(missing - was_missing),
        "missing_fields_back": sorted(was_missing - missing),
    }
    changed = {k: v for k, v in changes.items() if v}
    meta: dict[str, Any] = {**counts, "compared_with_run": run_id}
    meta.update({k: dg.MetadataValue.json(v) for k, v in changed.items()})
    if not changed:
        return dg.AssetCheckResult(
            check_name=SCHEMA_CHECK,
            passed=True,
            metadata=meta,
            description="the same fields as the last read",
        )
    return dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=meta,
        description="the API's fields changed since the last read: "
        + "; ".join(f"{_LABELS[k]}: {listed(v, NAMED)}" for k, v in changed.items()),
    )


_LABELS = {
    "new_undeclared_fields": "sent now, declared by no column (not staged)",
    "undeclared_fields_gone": "undeclared, no longer sent",
    "newly_missing_fields": "declared, now in no record",
    "missing_fields_back": "declared, sent again",
}
