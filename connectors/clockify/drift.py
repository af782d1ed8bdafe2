"""Clockify's drift signal (pipelines/reconcile.py): the detailed report's totals for a window.

The detailed report answers ``totals: [{_id, totalTime, totalBillableTime, entriesCount, ...}]`` over
its whole filtered range next to the first page of rows (reference §4.8), so one request with
``pageSize`` 1 gives a window's entry count, tracked seconds and billable seconds for every user at
once. Report durations are integer seconds (§1 "Data conventions"). A report may span at most 31
days on the FREE plan and longer plans are UNCONFIRMED (§1 "Rate limits", §6), so one probe covers a
month at most. Whether ``dateRangeEnd`` is inclusive is not stated: the probe asks up to the last
second of the window (timestamps have second precision), so adjacent windows never share a record.
The summary report would give per-day figures in one request, but the reference does not describe it
(§4.16), so it is not used. Time entries of the regular API are compared on finished entries only
(a running one has no end and no duration yet, §3).
"""

from __future__ import annotations

import dataclasses

from connectors.core.entity import Drift, Entity, Figure, Probe

TOTALS = "totals.0."
#: Probe overrides: one row a page, totals calculated (``detailedFilter.options``, §4.8).
PROBE_PARAMS = {"detailedFilter.pageSize": 1, "detailedFilter.options.totals": "CALCULATE"}


def report_drift(report: Entity, seconds: str, ended: tuple[str, ...] = (), by_user: bool = False) -> Drift:
    """Totals of ``report`` compared with staged rows: entries, seconds, billable seconds.

    ``seconds`` is the staged column holding a row's duration in seconds; ``ended`` the columns a
    finished entry has set (the report leaves running entries out). ``by_user``: a drifted month is
    narrowed to the users whose totals differ with the report's ``users`` filter (``{ids, contains}``,
    §4.8), so a per-user entity re-reads those users only.
    """
    figures = (
        Figure("entries", TOTALS + "entriesCount", where=ended),
        Figure("seconds", TOTALS + "totalTime", column=seconds, where=ended, tolerance=0.5),
        Figure(
            "billable_seconds",
            TOTALS + "totalBillableTime",
            column=seconds,
            where=(*ended, "billable"),
            tolerance=0.5,
        ),
    )
    probe = Probe(
        figures,
        params=PROBE_PARAMS,
        request=report,
        max_days=31,
        end_inclusive=True,
        series="users.ids" if by_user else "",
        series_params={"users.contains": "CONTAINS"} if by_user else {},
    )
    return Drift(probe)


def with_drift(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """The entities with drift signals on ``time_entries`` and ``detailed_report``, both probed
    through the ``detailed_report`` declaration itself (same host, body and window)."""
    report = next(e for e in entities if e.name == "detailed_report")
    signals = {
        "time_entries": report_drift(
            report, "timeInterval_duration_seconds", ended=("timeInterval_end",), by_user=True
        ),
        "detailed_report": report_drift(report, "timeInterval_duration"),
    }
    return tuple(dataclasses.replace(e, drift=signals[e.name]) if e.name in signals else e for e in entities)
