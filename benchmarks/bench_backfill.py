"""Backfilling the registry's version history, against the floor of merely asking for it.

Run: python benchmarks/bench_backfill.py --trials 100 --versions 10 --runs 3

A local server on 127.0.0.1 serves T trials of V versions each, built from a real record
(tests/history_data.py: NCT03934567's life, in the HTML form the history endpoint serves; ids
rewritten). The politeness delay is off. Printed, as medians of --runs:

- trialwatch backfill --all on an empty store (index + every version, each stored);
- trialwatch backfill --all again (index only: nothing is fetched twice);
- the floor: the same T + T×V requests made one after another with a bare httpx client in
  this process, bodies read and nothing else done.

with requests, MB received, wall seconds and versions per second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.history_data import as_history, series  # noqa: E402
from tests.registry_server import Registry, serve  # noqa: E402

EXE = str(Path(sys.executable).parent / "trialwatch")


def make_registry(trials: int, versions: int) -> tuple[Registry, list[str]]:
    reg = Registry()
    life = series()
    ids = []
    for t in range(trials):
        nct = f"NCT{91000000 + t:08d}"
        entries = []
        for v in range(versions):
            entry, record = life[min(v, len(life) - 1)]
            text = json.dumps(as_history(record)).replace('"NCT03934567"', f'"{nct}"')
            entries.append(({**entry, "version": v}, json.loads(text)))
        reg.versions[nct] = entries
        ids.append(nct)
    return reg, ids


def floor(url: str, ids: list[str], versions: int) -> tuple[float, int, int]:
    import httpx

    base = url.replace("/api/v2", "/api/int")
    size = 0
    started = time.perf_counter()
    with httpx.Client() as client:
        for nct in ids:
            size += len(client.get(f"{base}/studies/{nct}/history").content)
            for v in range(versions):
                size += len(client.get(f"{base}/studies/{nct}/history/{v}").content)
    return time.perf_counter() - started, len(ids) * (versions + 1), size


def run(url: str, work: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [EXE, "backfill", "--all", "--quiet"],
        cwd=work,
        capture_output=True,
        text=True,
        env={
            "PATH": "",
            "HOME": str(work),
            "TRIALWATCH_HISTORY_URL": url.replace("/api/v2", "/api/int"),
            "TRIALWATCH_REQUEST_INTERVAL": "0",
        },
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"backfill failed ({proc.returncode}): {proc.stdout[-800:]}{proc.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reg, ids = make_registry(args.trials, args.versions)
    total = args.trials * args.versions
    first: list[float] = []
    again: list[float] = []
    floors: list[float] = []
    requests: dict[str, int] = {}
    size = 0
    with serve(reg) as url:
        for _ in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix="tw-backfill-"))
            try:
                (work / "trialwatch.toml").write_text(
                    "trials = [" + ", ".join(f'"{i}"' for i in ids) + "]\n", encoding="utf-8"
                )
                before = len(reg.requests)
                first.append(run(url, work))
                requests["first"] = len(reg.requests) - before
                before = len(reg.requests)
                again.append(run(url, work))
                requests["again"] = len(reg.requests) - before
            finally:
                shutil.rmtree(work, ignore_errors=True)
            seconds, requests["floor"], size = floor(url, ids, args.versions)
            floors.append(seconds)
    print(f"{args.trials} trials × {args.versions} versions, {size / 1e6:.1f} MB served")
    print(f"{'run':<34} {'requests':>8} {'median s':>9} {'versions/s':>11} {'×floor':>7}")
    base = statistics.median(floors)
    for name, key, times, count in (
        ("floor: bare httpx, one per request", "floor", floors, total),
        ("trialwatch backfill --all (empty)", "first", first, total),
        ("trialwatch backfill --all (again)", "again", again, 0),
    ):
        median = statistics.median(times)
        rate = f"{count / median:>11.0f}" if count else f"{'—':>11}"
        print(f"{name:<34} {requests[key]:>8} {median:>9.2f} {rate} {median / base:>7.2f}")


if __name__ == "__main__":
    main()
