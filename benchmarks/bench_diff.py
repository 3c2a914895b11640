"""Diff throughput: trialwatch's change model against a plain deepdiff of the raw JSON.

Run: python benchmarks/bench_diff.py [--runs 5]

Pairs are the real records in tests/fixtures (NCT04431453, 505 KB, among them), each against
the same record after a realistic sponsor update (status, primary completion, enrollment, one
site added, sites reordered as the registry may serve them). Prints the median of the runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trialwatch.changes.differ import diff_records  # noqa: E402
from trialwatch.changes.match import _quoted  # noqa: E402
from trialwatch.changes.textnorm import display_text, text_key  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"


def records() -> list[dict[str, Any]]:
    out = []
    for path in sorted(FIXTURES.glob("NCT*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.append(data)
    return out


def update(record: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(record)
    p = new["protocolSection"]
    status = p["statusModule"]
    status["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    pc = status.get("primaryCompletionDateStruct") or {"date": "2030-01"}
    pc["date"] = "2031-" + str(pc["date"])[5:] if len(str(pc["date"])) >= 7 else "2031"
    status["primaryCompletionDateStruct"] = pc
    info = p.setdefault("designModule", {}).setdefault("enrollmentInfo", {"count": 100})
    info["count"] = int(info.get("count") or 100) + 7
    locs = p.setdefault("contactsLocationsModule", {}).setdefault("locations", [])
    locs.reverse()
    locs.append(
        {
            "facility": "New Site",
            "city": "Boston",
            "state": "Massachusetts",
            "country": "United States",
        }
    )
    return new


def cold() -> None:
    """Forget trialwatch's text caches, so every run pays for normalising as a real check does."""
    display_text.cache_clear()
    text_key.cache_clear()
    _quoted.cache_clear()


def timed(fn: Callable[[], object]) -> float:
    cold()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pairs = [(r, update(r)) for r in records()]
    big = [
        (a, b)
        for a, b in pairs
        if a["protocolSection"]["identificationModule"]["nctId"] == "NCT04431453"
    ]
    size = sum(len(json.dumps(a)) for a, _ in pairs)
    print(f"{len(pairs)} record pairs, {size / 1e6:.2f} MB of JSON on the old side")

    def ours(ps: list[tuple[dict[str, Any], dict[str, Any]]]) -> Callable[[], object]:
        return lambda: [diff_records("X", a, b) for a, b in ps]

    def plain(ps: list[tuple[dict[str, Any], dict[str, Any]]]) -> Callable[[], object]:
        return lambda: [DeepDiff(a, b) for a, b in ps]

    def unordered(ps: list[tuple[dict[str, Any], dict[str, Any]]]) -> Callable[[], object]:
        return lambda: [DeepDiff(a, b, ignore_order=True) for a, b in ps]

    rows = [
        ("trialwatch diff_records", ours),
        ("deepdiff, plain", plain),
        ("deepdiff, ignore_order=True", unordered),
    ]
    print(f"{'method':32} {'all pairs/s':>12} {'NCT04431453 ms':>15}   (median of {args.runs})")
    for name, make in rows:
        all_times = [timed(make(pairs)) for _ in range(args.runs)]
        big_times = [timed(make(big)) for _ in range(args.runs)]
        rate = len(pairs) / statistics.median(all_times)
        print(f"{name:32} {rate:12.1f} {statistics.median(big_times) * 1000:15.1f}")
    # What each reports for one pair: the noise a plain diff makes of a reordered site list.
    a, b = max(
        pairs,
        key=lambda p: len(
            p[0]["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        ),
    )
    plain_paths = sum(len(v) for v in DeepDiff(a, b).values())
    ours_changes = [c for c in diff_records("X", a, b)[0] if c.material]
    print(
        f"\n{a['protocolSection']['identificationModule']['nctId']}: deepdiff reports "
        f"{plain_paths} differences; trialwatch reports {len(ours_changes)} changes:"
    )
    for c in ours_changes:
        print(f"  - {c.sentence}")


if __name__ == "__main__":
    main()
