"""Building the site of a long watch: the incremental build against rebuilding every page.

Run: python benchmarks/bench_site.py [--trials 10000] [--changed 100] [--runs 3]

A store of N trials is made from the real samples in tests/fixtures (ids rewritten), through
the same Observer a check uses (no HTTP: the site reads only the store); a tenth of them get a
second version (a real edit: the overall status). Then, in the same run, each timed ``--runs``
times, as the ``trialwatch site`` command:

- full: ``trialwatch site OUT --full`` (every page and feed built again; the naive way);
- unchanged: ``trialwatch site OUT`` when nothing changed since the last build;
- some changed: ``trialwatch site OUT`` after ``--changed`` trials got a new version.

Prints the median wall time of each and the largest peak memory (RSS) of the process.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import all_records, renumbered  # noqa: E402
from trialwatch.pipeline.compare import CheckOptions, Observer  # noqa: E402
from trialwatch.pipeline.deliver import delivered  # noqa: E402
from trialwatch.record import Fetched  # noqa: E402
from trialwatch.store import SnapshotStore  # noqa: E402

EXE = shutil.which("trialwatch") or str(Path(sys.executable).parent / "trialwatch")
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def record_for(base: list[dict[str, Any]], i: int) -> dict[str, Any]:
    return renumbered(base[i % len(base)], f"NCT{90000000 + i:08d}")


def observe_all(store: SnapshotStore, records: list[dict[str, Any]], at: str) -> None:
    with store.locked():
        observer = Observer(store, CheckOptions())
        reports = []
        for r in records:
            nct = r["protocolSection"]["identificationModule"]["nctId"]
            reports.append(observer.observe(Fetched(nct, r, "http://127.0.0.1/", at, nct)))
        delivered(store, "stdout", reports)


def terminated(record: dict[str, Any], status: str) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["protocolSection"]["statusModule"]["overallStatus"] = status
    return out


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, EXE, *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"trialwatch {' '.join(args)} failed: {proc.stderr[-500:]}")
    return seconds, int(proc.stdout.strip().splitlines()[-1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = all_records()
    work = Path(tempfile.mkdtemp(prefix="tw-bench-site-"))
    try:
        store = SnapshotStore(work / "snapshots")
        records = [record_for(base, i) for i in range(args.trials)]
        started = time.perf_counter()
        observe_all(store, records, "2026-11-25T06:00:00Z")
        tenth = records[: max(1, args.trials // 10)]
        observe_all(store, [terminated(r, "TERMINATED") for r in tenth], "2026-11-26T06:00:00Z")
        print(f"store of {args.trials:,} trials made in {time.perf_counter() - started:.1f}s")
        (work / "watchlist.toml").write_text(
            "trials = [\n"
            + "".join(
                f'  "{r["protocolSection"]["identificationModule"]["nctId"]}",\n' for r in records
            )
            + "]\n",
            encoding="utf-8",
        )
        env = {**os.environ, "TRIALWATCH_STORE": str(work / "snapshots")}
        env["TRIALWATCH_WATCHLIST"] = str(work / "watchlist.toml")
        site = str(work / "site")
        common = ["site", site, "--today", "2026-12-04"]
        results: dict[str, list[tuple[float, int]]] = {"full": [], "unchanged": [], "some": []}
        timed(common, env)  # the first build, not counted: every method starts from a site
        for run in range(args.runs):
            results["full"].append(timed([*common, "--full"], env))
            results["unchanged"].append(timed(common, env))
            stamp = f"2026-11-{27 + run:02d}T06:00:00Z"
            some = records[-args.changed :]
            observe_all(
                store, [terminated(r, "SUSPENDED") if run % 2 == 0 else r for r in some], stamp
            )
            results["some"].append(timed(common, env))
        print(f"\n{args.trials:,} trials, {args.runs} runs, medians:\n")
        print("| build | median wall | peak memory |")
        print("| --- | --- | --- |")
        names = {
            "full": "every page again (--full)",
            "unchanged": "incremental, nothing changed",
            "some": f"incremental, {args.changed} trials changed",
        }
        for key, label in names.items():
            walls = [w for w, _ in results[key]]
            peak = max(m for _, m in results[key])
            print(f"| {label} | {statistics.median(walls):.2f} s | {peak} MB |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
