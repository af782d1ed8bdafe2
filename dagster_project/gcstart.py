"""No garbage collections while the ``couplet`` command starts up (imports, definitions).

Importing Dagster, SQLAlchemy and pydantic and building the definitions allocates a few hundred
thousand objects that live as long as the process. CPython's default thresholds collect ~500 times
along the way, four of them full collections walking everything allocated so far: ~0.2 s of a 5 s
``couplet flows run``, for nothing worth freeing (measured, ``bench/README.md``). So the command
starts with collections off (``pause_for_startup``, first thing in ``cli.entry``) and, when start-up
is over and the work begins (before an extraction or a run), ``end_startup`` freezes everything
allocated so far (``gc.freeze``: later collections skip it, as the extraction's own scope in
``connectors.core.gcscope`` expects) and turns collections back on. It does not collect first: of
the ~350k objects a run's start-up leaves, ~4k are garbage (under 1 MiB, measured), and finding
them would cost a full collection, ~0.1 s.

``end_startup`` is idempotent and does nothing unless start-up was paused, so library use (tests,
the webserver, the code server) is unaffected. Kept free of imports: ``couplet --help`` loads it.
"""

from __future__ import annotations

import gc

_paused = {"now": False}


def pause_for_startup() -> None:
    """No collections until ``end_startup``: call first thing in a command-line process."""
    if gc.isenabled():
        gc.disable()
        _paused["now"] = True


def end_startup() -> None:
    """Start-up is over: what it allocated is frozen, collections are on again."""
    if _paused["now"]:
        _paused["now"] = False
        gc.freeze()
        gc.enable()
