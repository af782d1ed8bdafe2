"""Shared by the Dagster tests: running a job over some days, and reading what it did."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from dagster_project.translator import window_tags

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def days(first: str, last: str) -> dict[str, str]:
    """Run tags for the days ``first`` .. ``last`` (both included)."""
    return window_tags(dt.date.fromisoformat(first), dt.date.fromisoformat(last) + dt.timedelta(days=1))


def run_job(
    defs: dg.Definitions,
    job: str,
    instance: dg.DagsterInstance,
    first: str | None = None,
    last: str | None = None,
) -> dg.ExecuteInProcessResult:
    tags = days(first, last or first) if first else {}
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=tags, run_config=QUIET, raise_on_error=False
    )


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """The failure description of each failed step (what the UI shows as its message)."""
    out = []
    for e in result.all_events:
        if e.is_step_failure and e.step_failure_data:
            user = e.step_failure_data.user_failure_data
            error = e.step_failure_data.error
            out.append(user.description if user and user.description else (error.message if error else ""))
    return out
