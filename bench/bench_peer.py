"""Peer benchmark: couplet against dlt, loading the Harvest sandbox's time entries. Run by hand.

    .venv/bin/python bench/bench_peer.py                          # 200k entries, 3 rounds
    .venv/bin/python bench/bench_peer.py --entries 1000000 --rounds 1
    .venv/bin/python bench/bench_peer.py --latency-ms 50           # every request 50 ms slower
    .venv/bin/python bench/bench_peer.py --rate-limit published    # Harvest's 100 requests / 15 s
    .venv/bin/python bench/bench_peer.py --only dlt,flow --json /tmp/peer.json

Three paths load the same two years [anchor - 730 days, anchor) of `GET /v2/time_entries`:

- `dlt`: a `rest_api` source following `links.next` at 2000 a page, Parquet load files, DuckDB
  (`bench/peers/dlt_harvest.py`), in its own venv `bench/.venv-dlt/`, created on first use.
- `flow`: `couplet flows run` of a one-output flow (Harvest -> DuckDB, replace) through Dagster.
- `extract`: `couplet extract harvest time_entries --out x.parquet`, the engine without Dagster.

The sandbox runs in its own process. Each round runs the paths one after another (dlt, flow,
extract, dlt, …), each as a fresh process in a fresh temp dir, so machine noise hits all alike.
Measured per run: wall seconds of the whole command (interpreter start included), rows counted back
from what it wrote, and peak RSS of the command's whole process tree, sampled every 50 ms from
/proc. Printed: a table per round, then medians and the ratios couplet/dlt; `--json` saves them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from proctree import PeakSampler  # bench/ is sys.path[0] when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
COUPLET = Path(PY).with_name("couplet")  # the console script beside the project venv's python
DLT_VENV = ROOT / "bench" / ".venv-dlt"
DLT_REQUIREMENT = "dlt[duckdb,parquet]>=1.20,<2"
PEER = ROOT / "bench" / "peers" / "dlt_harvest.py"
ANCHOR = dt.date(2026, 6, 1)
PATHS = ("dlt", "flow", "extract")
TOKEN, ACCOUNT_ID = "sandbox-harvest-token", "123456"
PUBLISHED_WINDOW_SECONDS = 15  # Harvest: 100 requests per 15 s


# -- the sandbox -----------------------------------------------------------------------------------


def serve_sandbox(port: int, entries: int, latency_ms: float, published: bool) -> None:
    """The sandbox process (`--serve-sandbox PORT`): runs until terminated."""
    from sandbox.common import SandboxOptions
    from sandbox.org import OrgOptions
    from sandbox.server import serve

    org = OrgOptions(anchor=ANCHOR, users=200, target_entries=entries)
    # rate_limit=True keeps Harvest's published buckets (100 requests / 15 s); False switches them off.
    serve(port=port, options=SandboxOptions(org=org, rate_limit=published, latency_ms=latency_ms))


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def start_sandbox(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, dict[str, Any]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [PY, __file__, "--serve-sandbox", str(port), "--entries", str(args.entries)]
    command += ["--latency-ms", str(args.latency_ms), "--rate-limit", args.rate_limit]
    proc = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a million entries take a while to generate
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sandbox exited with {proc.returncode}")
        try:
            return proc, url, get_json(url + "/healthz", timeout=2)["org"]
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    proc.wait()
    raise SystemExit("sandbox did not start")


def request_log(url: str) -> dict[str, Any]:
    return get_json(url + "/harvest/_admin/requests")


def harvest_total(url: str, first: dt.date, last: dt.date) -> int:
    """Time entries Harvest reports for [first, last]: the org's entries without its lump sums."""
    query = f"from={first}&to={last}&per_page=1"
    headers = {"Authorization": f"Bearer {TOKEN}", "Harvest-Account-Id": ACCOUNT_ID, "User-Agent": "bench"}
    request = urllib.request.Request(f"{url}/harvest/v2/time_entries?{query}", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return int(json.loads(response.read())["total_entries"])


# -- dlt's venv ------------------------------------------------------------------------------------


def ensure_dlt() -> str:
    """Create `bench/.venv-dlt/` with dlt on first use; return the installed dlt version."""
    python = DLT_VENV / "bin" / "python"
    stamp = DLT_VENV / ".installed"
    if not (stamp.exists() and stamp.read_text() == DLT_REQUIREMENT):
        print(f"creating {DLT_VENV.relative_to(ROOT)} with {DLT_REQUIREMENT} …", flush=True)
        if not python.exists():
            base = shutil.which("python3") or PY
            subprocess.run([base, "-m", "venv", str(DLT_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, DLT_REQUIREMENT], check=True)
        stamp.write_text(DLT_REQUIREMENT)
    version = subprocess.run(
        [str(python), "-c", "import dlt; print(dlt.__version__)"], check=True, capture_output=True, text=True
    )
    return version.stdout.strip()


# -- the three paths -------------------------------------------------------------------------------


@dataclass
class Scenario:
    url: str  # the sandbox root
    first: dt.date  # first day
    end: dt.date  # day after the last
    published: bool  # the sandbox enforces Harvest's rate limit, couplet keeps its own
    home: Path | None = None  # a Dagster instance every `flow` run shares (None: a fresh one each run)


@dataclass
class Run:
    round: int
    path: str
    ok: bool
    seconds: float
    rows: int
    columns: int
    peak_mib: float
    requests: int
    throttled: int  # 429 answers the sandbox gave during the run
    inner_seconds: float | None = None  # dlt: `pipeline.run` alone, as the peer script times it
    warnings: list[str] = field(default_factory=list)  # stderr lines naming a warning
    error: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.ok and self.seconds else 0.0


def couplet_env(s: Scenario) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HARVEST_BASE_URL=s.url + "/harvest",
        HARVEST_ACCESS_TOKEN=TOKEN,
        HARVEST_ACCOUNT_ID=ACCOUNT_ID,
    )
    env.pop("HARVEST_RATE_LIMIT", None)
    if not s.published:
        env["HARVEST_RATE_LIMIT"] = "off"  # otherwise couplet keeps the published 100 requests / 15 s
    return env


def new_home(home: Path) -> Path:
    """An empty Dagster instance folder: couplet writes its own dagster.yaml there on first use
    (telemetry off, its SQLite storage: docs/flows.md, "The Dagster instance")."""
    home.mkdir(parents=True, exist_ok=True)
    return home


def warm_home(home: Path) -> Path:
    """A Dagster instance created before the clock starts, as a user's exists after the first run."""
    new_home(home)
    code = "from dagster_project.flows_run import local_instance; local_instance()"
    subprocess.run([PY, "-c", code], env=dict(os.environ, DAGSTER_HOME=str(home)), cwd=ROOT, check=True)
    return home


def write_flow(work: Path, s: Scenario) -> Path:
    """The flow file of a `flow` run (JSON is YAML, and needs no import)."""
    flow = {
        "settings": {"data_dir": str(work / "data"), "partitions_start": s.first.isoformat()},
        "connections": {
            "harvest": {
                "connector": "harvest",
                "access_token": {"env": "HARVEST_ACCESS_TOKEN"},
                "account_id": {"env": "HARVEST_ACCOUNT_ID"},
                "base_url": {"env": "HARVEST_BASE_URL"},
            }
        },
        "flows": {
            "bench": {
                "sources": {"time_entries": {"connection": "harvest", "entity": "time_entries"}},
                "outputs": [
                    {
                        "from": "time_entries",
                        "to": {"duckdb": {"path": str(work / "couplet.duckdb"), "table": "time_entries"}},
                        "mode": "replace",
                    }
                ],
            }
        },
    }
    path = work / "flow.yaml"
    path.write_text(json.dumps(flow, indent=2) + "\n")
    return path


def command_for(path: str, work: Path, s: Scenario, dlt_python: Path) -> tuple[list[str], dict[str, str]]:
    if path == "dlt":
        env = dict(os.environ, RUNTIME__DLTHUB_TELEMETRY="false", DLT_DATA_DIR=str(work / "dlt_data"))
        last = s.end - dt.timedelta(days=1)  # Harvest's `to` is inclusive
        command = [str(dlt_python), str(PEER), "--url", s.url + "/harvest", "--workdir", str(work)]
        command += ["--first", s.first.isoformat(), "--last", last.isoformat()]
        command += ["--token", TOKEN, "--account-id", ACCOUNT_ID]
        return command, env
    dates = ["--start", s.first.isoformat(), "--end", s.end.isoformat()]
    env = couplet_env(s)
    if path == "flow":
        home = s.home or new_home(work / "dagster_home")
        env.update(COUPLET_FLOWS=str(write_flow(work, s)), DAGSTER_HOME=str(home))
        return [str(COUPLET), "flows", "run", "bench", *dates], env
    return [str(COUPLET), "extract", "harvest", "time_entries", *dates, "--out", str(work / "x.parquet")], env


def rows_written(path: str, work: Path, stdout: str) -> tuple[int, int, float | None]:
    """Rows and columns the run left behind, read back from its output, never from what the command
    printed. dlt's peer script reads its own DuckDB file (with its own DuckDB version) and prints them."""
    if path == "dlt":
        out = json.loads(stdout.strip().splitlines()[-1])
        return int(out["rows"]), int(out["columns"]), float(out["seconds"])
    if path == "flow":
        import duckdb

        with duckdb.connect(str(work / "couplet.duckdb"), read_only=True) as con:
            row = con.execute('SELECT count(*) FROM "time_entries"').fetchone()
            columns = len(con.execute('SELECT * FROM "time_entries" LIMIT 0').description or ())
        return (int(row[0]) if row else 0), columns, None
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(work / "x.parquet").metadata
    return metadata.num_rows, metadata.num_columns, None


def measure(round_no: int, path: str, s: Scenario, dlt_python: Path, keep: bool) -> Run:
    work = Path(tempfile.mkdtemp(prefix=f"bench-peer-{path}-"))
    try:
        command, env = command_for(path, work, s, dlt_python)
        before = request_log(s.url)
        with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=err)
            sampler = PeakSampler(proc.pid)
            sampler.start()
            code = proc.wait()
            seconds = time.perf_counter() - started
            sampler.stop()
        after = request_log(s.url)
        made = after["count"] - before["count"]
        statuses = [r["status"] for r in after["requests"][-made:]] if made else []  # the log keeps 10,000
        stdout = (work / "stdout").read_text(errors="replace")
        stderr = (work / "stderr").read_text(errors="replace")
        run = Run(
            round_no,
            path,
            ok=code == 0,
            seconds=seconds,
            rows=0,
            columns=0,
            peak_mib=sampler.peak_kib / 1024,
            requests=made,
            throttled=statuses.count(429),
        )
        if code:
            run.error = f"exit {code}: " + (stderr or stdout).strip()[-2000:]
            return run
        try:
            run.rows, run.columns, run.inner_seconds = rows_written(path, work, stdout)
        except Exception as exc:  # a missing output is a failed run, reported with the rest
            run.ok, run.error = False, f"no rows to read back ({exc}); stderr: {stderr.strip()[-2000:]}"
        run.warnings = warnings_in(stderr)
        return run
    finally:
        if keep:
            print(f"  {path}: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def warnings_in(stderr: str) -> list[str]:
    """Lines naming a warning, each with its indented continuation lines (dlt lists columns so)."""
    found: list[str] = []
    inside = False
    for line in stderr.splitlines():
        if "warning" in line.lower():
            found.append(line.strip())
            inside = True
        elif inside and line.startswith((" ", "\t")):
            found[-1] += " " + line.strip()
        elif line.strip():
            inside = False
    return found


# -- report ----------------------------------------------------------------------------------------

HEADER = f"{'path':8} {'rows':>10} {'cols':>4} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9} {'requests':>9} {'429s':>5}"


def row_text(run: Run, expected: int) -> str:
    if not run.ok:
        return (
            f"{run.path:8} FAILED after {run.seconds:.1f}s: {run.error.splitlines()[-1] if run.error else ''}"
        )
    note = "" if run.rows == expected else f"  (expected {expected:,})"
    return (
        f"{run.path:8} {run.rows:>10,} {run.columns:>4} {run.seconds:>8.1f} {run.rows_per_s:>9,.0f} {run.peak_mib:>9.0f}"
        f" {run.requests:>9,} {run.throttled:>5}{note}"
    )


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    medians = {}
    for path in PATHS:
        ok = [r for r in runs if r.path == path and r.ok]
        if ok:
            medians[path] = {
                "runs": len(ok),
                "seconds": statistics.median(r.seconds for r in ok),
                "rows": statistics.median(r.rows for r in ok),
                "rows_per_s": statistics.median(r.rows_per_s for r in ok),
                "peak_mib": statistics.median(r.peak_mib for r in ok),
            }
    return medians


RATIOS = {  # key: (label, numerator path, denominator path, median compared)
    "flow_vs_dlt_rows_per_s": ("flow vs dlt (rows/s)", "flow", "dlt", "rows_per_s"),
    "extract_vs_dlt_rows_per_s": ("extract vs dlt (rows/s)", "extract", "dlt", "rows_per_s"),
    "flow_time_over_extract_time": ("flow time / extract time", "flow", "extract", "seconds"),
    "flow_peak_rss_over_dlt_peak_rss": ("flow peak RSS / dlt peak RSS", "flow", "dlt", "peak_mib"),
}


def ratios(medians: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        key: medians[a][field] / medians[b][field]
        for key, (_, a, b, field) in RATIOS.items()
        if a in medians and b in medians
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model
            )
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def commit() -> str:
    """HEAD's short hash, marked when tracked files differ from it (work in progress measured)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return (head.stdout.strip() or "unknown") + (" (uncommitted changes)" if status.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=200_000, help="entries the sandbox generates")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency the sandbox adds per request")
    parser.add_argument(
        "--rate-limit",
        choices=("off", "published"),
        default="off",
        help="published: the sandbox enforces 100 requests / 15 s and couplet keeps its own limiter",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(PATHS), help="comma-separated subset of dlt,flow,extract")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--keep", action="store_true", help="keep each run's temp dir (output, logs)")
    parser.add_argument(
        "--cold-instance",
        action="store_true",
        help="a new Dagster instance for every flow run (default: one, created before the first round)",
    )
    parser.add_argument("--serve-sandbox", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox, args.entries, args.latency_ms, args.rate_limit == "published")
        return

    paths = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(paths) - set(PATHS):
        parser.error(f"--only: unknown path(s) {sorted(unknown)}; choose from {','.join(PATHS)}")
    if not COUPLET.exists():
        raise SystemExit(f"{COUPLET} not found: run this with the project venv's python (.venv/bin/python)")
    dlt_version = ensure_dlt() if "dlt" in paths else None
    dlt_python = DLT_VENV / "bin" / "python"

    proc, url, org = start_sandbox(args)
    try:
        first = dt.date.fromisoformat(org["first_day"])
        end = dt.date.fromisoformat(org["last_day"]) + dt.timedelta(days=1)
        home = None if args.cold_instance else warm_home(Path(tempfile.mkdtemp(prefix="bench-peer-home-")))
        scenario = Scenario(url, first, end, published=args.rate_limit == "published", home=home)
        expected = harvest_total(url, first, end - dt.timedelta(days=1))
        print(
            f"sandbox: {org['entries']:,} entries over [{first}, {end}), {expected:,} of them time entries"
            f" (the rest lump sums); latency {args.latency_ms:g} ms,"
            f" rate limit {args.rate_limit}; dlt {dlt_version or '-'}; couplet {commit()}; {machine()}"
        )
        runs: list[Run] = []
        for round_no in range(1, args.rounds + 1):
            print(f"\nround {round_no}/{args.rounds}\n{HEADER}", flush=True)
            for path in paths:
                if scenario.published:  # start every run with a full budget, not the last run's leftovers
                    time.sleep(PUBLISHED_WINDOW_SECONDS)
                run = measure(round_no, path, scenario, dlt_python, args.keep)
                runs.append(run)
                print(row_text(run, expected), flush=True)
                for line in run.warnings:
                    print(f"  {path} warning: {line[:400]}")
                if not run.ok:
                    print("  " + run.error.replace("\n", "\n  "), file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()

    medians = summarise(runs)
    rel = ratios(medians)
    print(f"\nmedians over {args.rounds} round(s)")
    print(f"{'path':8} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9}")
    for path, m in medians.items():
        print(f"{path:8} {m['seconds']:>8.1f} {m['rows_per_s']:>9,.0f} {m['peak_mib']:>9.0f}")
    for key, value in rel.items():
        print(f"{RATIOS[key][0]:30} {value:.2f}x")
    if args.json:
        summary = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": commit(),
            "machine": machine(),
            "dlt_version": dlt_version,
            "scenario": {
                "org_entries": org["entries"],
                "time_entries": expected,
                "first_day": first.isoformat(),
                "end": end.isoformat(),
                "latency_ms": args.latency_ms,
                "rate_limit": args.rate_limit,
                "rounds": args.rounds,
            },
            "medians": medians,
            "ratios": rel,
            "runs": [asdict(r) | {"rows_per_s": r.rows_per_s} for r in runs],
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary -> {args.json}")
    if any(not r.ok for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
