"""How diffing one record scales with its number of sites (list matching is O(n log n)).

A real record (NCT02552212, 105 sites) is grown to N sites with distinct facility names; the
new side is reversed, has one site removed and one site's status changed. Prints the median
of --runs runs per N and the time per site, which stays flat when the cost is linear.

    python benchmarks/bench_sites.py --sizes 2000 4000 8000 16000 --runs 3
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trialwatch.changes.differ import diff_records

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "NCT02552212.json"


def grown(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    record = json.loads(FIXTURE.read_text(encoding="utf-8"))
    record = record.get("study", record)
    sites = record["protocolSection"]["contactsLocationsModule"]["locations"]
    many = []
    for i in range(n):
        site = copy.deepcopy(sites[i % len(sites)])
        site["facility"] = f"{site.get('facility', 'Site')} {i}"
        many.append(site)
    old = copy.deepcopy(record)
    old["protocolSection"]["contactsLocationsModule"]["locations"] = many
    new = copy.deepcopy(old)
    new_sites = new["protocolSection"]["contactsLocationsModule"]["locations"]
    new_sites.reverse()
    new_sites[5]["status"] = "COMPLETED"
    new_sites.pop(n // 2)
    return old, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000, 16000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'sites':>7} {'median s':>9} {'µs/site':>8} changes")
    for n in args.sizes:
        old, new = grown(n)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            changes, _ = diff_records("NCT02552212", old, new)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{n:>7} {median:>9.3f} {median / n * 1e6:>8.1f} {len(changes)}")


if __name__ == "__main__":
    main()
