"""Two-phase checks against whole-record checks, for a list of ids and for a search watch.

Run: python benchmarks/bench_search.py [--sizes 10000] [--runs 3]

A local server on 127.0.0.1 serves N records made from the real samples in tests/fixtures with
their ids rewritten, and a search whose members are all N; the politeness delay is off. Two
stores are filled by a first check (one watching the N ids, one watching the search). Then, in
turn and ``--runs`` times each, the registry's data timestamp moves with no record changed and
the same store is checked:

- two-phase (the default): ids and last-update dates first (``fields=``), whole records only
  for trials whose date moved (none here);
- whole records (``two_phase = false``): every record fetched, as before.

Prints requests, bytes the server sent (response bodies), median wall time and the largest peak
memory (RSS) of the trialwatch process, and how many times fewer bytes two-phase received.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_watchlist import make_registry, run  # noqa: E402
from tests.registry_server import Registry, query_key, serve  # noqa: E402

QUERY = {"query.cond": "asthma"}


def prepare(url: str, ids: list[str], search: bool) -> Path:
    work = Path(tempfile.mkdtemp(prefix="tw-bench-search-"))
    config = [f'api_url = "{url}"', "request_interval = 0", "max_query_results = 1000000"]
    (work / "trialwatch.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
    if search:
        (work / "watchlist.toml").write_text(
            'trials = []\n\n[[queries]]\nlabel = "bench"\nparams = { "query.cond" = "asthma" }\n',
            encoding="utf-8",
        )
    else:
        (work / "watchlist.toml").write_text(
            "trials = [\n" + "".join(f'  "{i}",\n' for i in ids) + "]\n", encoding="utf-8"
        )
    return work


def measure(reg: Registry, work: Path, two_phase: bool, stamp: str) -> tuple[int, int, float, int]:
    reg.data_timestamp = stamp
    requests, sent = len(reg.requests), reg.bytes_served
    os.environ["TRIALWATCH_TWO_PHASE"] = "true" if two_phase else "false"  # over the file
    try:
        wall, _code, rss, _cpu = run(["check", "--quiet"], work)
    finally:
        del os.environ["TRIALWATCH_TWO_PHASE"]
    return len(reg.requests) - requests, reg.bytes_served - sent, wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'N':>6} {'watch':7} {'method':13} {'requests':>9} {'MB received':>12} "
        f"{'median s':>9} {'peak MB':>8}   (unchanged run; median of {args.runs}; peak: largest)"
    )
    for n in args.sizes:
        reg, ids = make_registry(n)
        reg.queries[query_key(QUERY)] = list(ids)
        with serve(reg) as url:
            for watch, search in (("ids", False), ("search", True)):
                work = prepare(url, ids, search)
                try:
                    reg.data_timestamp = "2026-11-25T09:00:00"
                    first = run(["check", "--quiet"], work)
                    sys.stderr.write(f"{n} {watch}: first run {first[0]:.1f}s\n")
                    rows: dict[str, list[tuple[int, int, float, int]]] = {"two": [], "whole": []}
                    for r in range(args.runs):
                        for key, two in (("two", True), ("whole", False)):
                            stamp = f"2026-11-26T09:{r:02d}:0{int(two)}"
                            rows[key].append(measure(reg, work, two, stamp))
                    sent = {}
                    for key, name in (("two", "two-phase"), ("whole", "whole records")):
                        got = rows[key]
                        requests = statistics.median(g[0] for g in got)
                        sent[key] = statistics.median(g[1] for g in got)
                        wall = statistics.median(g[2] for g in got)
                        peak = max(g[3] for g in got)
                        print(
                            f"{n:>6} {watch:7} {name:13} {requests:>9.0f} "
                            f"{sent[key] / 1e6:>12.2f} {wall:>9.2f} {peak:>8}"
                        )
                    print(
                        f"{n:>6} {watch:7} {'ratio':13} {'':>9} "
                        f"{sent['whole'] / max(sent['two'], 1):>11.0f}× fewer bytes two-phase"
                    )
                    sys.stdout.flush()
                finally:
                    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
