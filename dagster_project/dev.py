"""``make dev``: the sandbox plus ``dg dev`` on the shipped flows, wired together.

The sandbox runs in this process; ``dg dev`` (which loads the project's ``defs/`` folder, see
``definitions.py``; ``--workspace`` runs ``dagster dev -w workspace.yaml`` instead) runs as a
child with the connections' env vars pointing at the sandbox (unless they are already set: then the UI talks to the real accounts).
Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from .demo import demo_env


def main() -> int:
    parser = argparse.ArgumentParser(description="sandbox + Dagster UI")
    parser.add_argument("--port", type=int, default=8765, help="sandbox port")
    parser.add_argument("--ui-port", type=int, default=3000)
    parser.add_argument(
        "--workspace", action="store_true", help="run `dagster dev -w workspace.yaml` instead of `dg dev`"
    )
    args = parser.parse_args()
    from sandbox.server import start_background

    server = start_background(port=args.port)
    env = dict(os.environ)
    for key, value in demo_env(server.base_url).items():
        env.setdefault(key, value)
    os.makedirs(env.setdefault("DAGSTER_HOME", os.path.abspath("data/dagster_home")), exist_ok=True)
    print(f"sandbox: {server.base_url}   Dagster UI: http://127.0.0.1:{args.ui_port}")
    # `dg` warns unless the project's venv is the active one: this interpreter's is.
    env.setdefault("VIRTUAL_ENV", sys.prefix)
    if args.workspace:
        command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
    else:
        command = [os.path.join(os.path.dirname(sys.executable), "dg"), "dev"]
    # dagster dev maps SIGTERM to SIGINT's handler; give the child a default SIGINT so it stops.
    child = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(args.ui_port)],
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        return child.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
