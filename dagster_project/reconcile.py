"""Reconciling runs in Dagster: older days of a raw asset checked for drift, not re-read.

A reconciling run (tag ``couplet/reconcile``: a flow's schedule every ``reconcile.every_days``, or
``couplet flows reconcile``) covers the flow's reconcile range as its partition range. Each dated
raw asset re-reads its own look-back as usual and hands the older days to
``pipelines.reconcile.reconcile_entity``: the API's cheap per-window figures (counts, sums, records
changed since the last check) are compared with what is staged, and only the windows that differ
are re-extracted. The asset's metadata says which months drifted and why, and what finding them
cost in requests; each drifted month's materialization carries its reason. Downstream, outputs of
the run replace (or upsert, with deletions) the whole range from staging, which is now right.

An entity that declares no cheap signal is re-read whole over the range: slower, never wrong. So
is a small account where probing would cost as many requests as re-reading (the flow's
``reconcile.reread_when_cheaper``, default true). ``reconcile.refresh_months`` also re-reads that
many months read longest ago, for what no cheap figure shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from connectors.core.entity import Entity, Source
from connectors.core.settings import ResolvedSettings
from connectors.core.sizing import next_month
from pipelines.reconcile import ReconcileReport, reconcile_entity
from pipelines.staging import Staging, stage_entity

from .translator import TAG_RECONCILE


def reconciling(tags: dict[str, str] | Any) -> bool:
    return tags.get(TAG_RECONCILE) == "1"


def reconcile_older(
    context: dg.AssetExecutionContext,
    source: Source,
    settings: ResolvedSettings,
    connection: str,
    entity: Entity,
    staging: Staging,
    start: dt.date,
    end: dt.date,
    reread_when_cheaper: bool = True,
    refresh_months: int = 0,
) -> dict[str, Any]:
    """Check days ``[start, end)`` of a staged daily entity; returns the asset's metadata about it."""
    span = f"{start.isoformat()}..{end.isoformat()}"
    if entity.drift is None:
        report = stage_entity(source, settings, connection, entity, staging, start, end)
        context.log.info(f"{entity.name}: no cheap drift signal; {span} re-read whole ({report.rows} rows)")
        return {
            "reconciled": span,
            "reconcile_signal": "none declared: the range was re-read whole",
            "reconcile_requests": int(report.stats.get("requests", 0)),
            "reconcile_rows_reread": report.rows,
        }
    found = reconcile_entity(
        source,
        settings,
        connection,
        entity,
        staging,
        start,
        end,
        reread_if_cheaper=reread_when_cheaper,
        refresh_months=refresh_months,
    )
    whole = len(found.drifted) == 1 and found.drifted[0].reason.startswith("re-read whole")
    months = [] if whole else found.months
    known = set(context.partition_keys)
    for month in months:
        if month in known:
            first = dt.date.fromisoformat(month + "-01")
            reasons = [d.reason for d in found.drifted if d.start < next_month(first) and d.end > first]
            context.add_asset_metadata({"drift": "; ".join(reasons[:3]) or "drifted"}, partition_key=month)
    context.log.info(
        f"{entity.name} {span}: {len(found.drifted)} drifted window(s) in {len(months)} month(s); "
        f"{found.probe_requests} probe and {found.reextract_requests} re-read request(s)"
    )
    meta: dict[str, Any] = {
        "reconciled": span,
        "reconcile_signal": found.signal,
        "drifted_months": found.drifted[0].reason if whole else (", ".join(months) or "none"),
        "drift": dg.MetadataValue.md(_table(found)),
        "reconcile_probe_requests": found.probe_requests,
        "reconcile_reread_requests": found.reextract_requests,
        "reconcile_requests": found.requests,
        "reconcile_rows_reread": found.rows_reread,
        "reconcile_changed_records": found.changed,
    }
    if found.fingerprints:
        meta["reconcile_fingerprint_requests"] = found.fingerprints
        meta["reconcile_days_compared"] = found.days_compared
        # series (people) the fingerprint could not compare: only the counts covered them
        meta["reconcile_unchecked"] = ", ".join(map(str, found.unchecked[:20])) or "none"
    optional = {
        # series re-read alone (Clockify users by the report's totals, Harvest users by hours,
        # Clockodo people on a drifted day of more than a page)
        "reconcile_series_reread": "; ".join(
            f"{', '.join(map(str, s[:10]))} over {_days(a, b)}" for a, b, s in found.series_windows[:10]
        ),
        # the per-series totals disagreed too widely to be used: the counts were halved instead
        "reconcile_totals_not_comparable": ", ".join(_days(a, b) for a, b in found.not_comparable),
        "reconcile_totals_unavailable": found.totals_unavailable,
        # months re-read because they were read longest ago (reconcile.refresh_months)
        "reconcile_refreshed": ", ".join(_days(a, b) for a, b in found.refreshed),
    }
    return meta | {k: v for k, v in optional.items() if v}


def _days(start: dt.date, end: dt.date) -> str:
    """``[start, end)`` as the inclusive ``first..last`` the metadata shows."""
    return f"{start}..{end - dt.timedelta(days=1)}"


def _table(found: ReconcileReport) -> str:
    if not found.drifted:
        return f"No drift in {found.start}..{found.end} ({found.probes} window(s) probed)."
    lines = ["| days | why |", "|---|---|"]
    for d in found.drifted[:50]:
        lines.append(f"| {_days(d.start, d.end)} | {d.reason} |")
    if len(found.drifted) > 50:
        lines.append(f"| … | {len(found.drifted) - 50} more |")
    return "\n".join(lines)
