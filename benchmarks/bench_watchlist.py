"""Checking a watch list: trialwatch's batched check against one request per trial.

Run: python benchmarks/bench_watchlist.py [--sizes 1000 10000] [--runs 3]

A local server on 127.0.0.1 serves N records made from the real samples in tests/fixtures with
their ids rewritten; the politeness delay is off. For each N, in the same run:

- batched: ``trialwatch check`` over a watch list of N (``/studies?filter.ids=`` with 500 ids a
  request, after ``/version``);
- one by one: ``trialwatch check --no-batch ID…`` with the same N ids (``/studies/{id}``
  each), the way registry downloaders fetch.

Each is run on an empty store (first run) and again with the registry's data timestamp moved but
no record changed (unchanged second run); the batched check is also run with the timestamp
unmoved (skipped run). Prints requests, median wall time and the largest peak memory (RSS) of
the trialwatch process over the runs.
"""

from __future__ import annotations

import argparse
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
from tests.registry_server import Registry, serve  # noqa: E402

EXE = shutil.which("trialwatch") or str(Path(sys.executable).parent / "trialwatch")


def make_registry(n: int) -> tuple[Registry, list[str]]:
    reg = Registry()
    base = all_records()
    ids = []
    for i in range(n):
        nct = f"NCT{90000000 + i:08d}"
        reg.put(renumbered(base[i % len(base)], nct))
        ids.append(nct)
    return reg, ids


# Peak memory is read by a small wrapper process: a child forked straight from this (large)
# process would count this process's pages in its own high-water mark.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write(f'\\nPEAK_KB {u.ru_maxrss} CPU {u.ru_utime + u.ru_stime}\\n')\n"
    "sys.exit(code)\n"
)


def run(args: list[str], cwd: Path) -> tuple[float, int, int, float]:
    """Wall seconds, exit code, peak RSS in MB and CPU seconds (user + system) of one
    trialwatch process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, EXE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(
            f"trialwatch {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    tail = proc.stderr.rsplit("PEAK_KB ", 1)[1].split()
    return wall, proc.returncode, int(tail[0]) // 1024, float(tail[2])


def scenario(reg: Registry, url: str, ids: list[str], batched: bool, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"first": [], "unchanged": [], "skipped": []}
    for r in range(runs):
        work = Path(tempfile.mkdtemp(prefix="tw-bench-"))
        try:
            # Whole records every run (batched against one by one); bench_search.py measures
            # the two-phase check.
            config = [f'api_url = "{url}"', "request_interval = 0", "two_phase = false"]
            if batched:
                (work / "watchlist.toml").write_text(
                    "trials = [\n" + "".join(f'  "{i}",\n' for i in ids) + "]\n", encoding="utf-8"
                )
            (work / "trialwatch.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
            args = ["check", "--quiet"] + ([] if batched else ["--no-batch", *ids])
            reg.data_timestamp = f"2026-11-25T09:00:{r:02d}"
            for phase in ("first", "unchanged", "skipped"):
                if phase == "skipped" and not batched:
                    continue
                if phase == "unchanged":
                    reg.data_timestamp = f"2026-11-26T09:00:{r:02d}"
                before = len(reg.requests)
                wall, _code, rss, _cpu = run(args, work)
                results[phase].append((len(reg.requests) - before, wall, rss))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'N':>6} {'method':11} {'run':10} {'requests':>9} {'median s':>9} {'peak MB':>8}"
        f"   (median of {args.runs} runs; peak is the largest)"
    )
    for n in args.sizes:
        reg, ids = make_registry(n)
        with serve(reg) as url:
            for name, batched in (("batched", True), ("one by one", False)):
                res = scenario(reg, url, ids, batched, args.runs)
                for phase in ("first", "unchanged", "skipped"):
                    rows = res[phase]
                    if not rows:
                        continue
                    requests = statistics.median(r[0] for r in rows)
                    wall = statistics.median(r[1] for r in rows)
                    peak = max(r[2] for r in rows)
                    print(f"{n:>6} {name:11} {phase:10} {requests:>9.0f} {wall:>9.2f} {peak:>8}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
