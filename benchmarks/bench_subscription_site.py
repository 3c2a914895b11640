"""A subscription of 10,000 trials in `trialwatch site`: the first build, and a rebuild after a
few trials changed, side by side with their floors in the same run (floors alternated with the
runs). Medians of --runs.

- first build: the subscription's page, feed and desk page from a store no site was built from;
  floor: reading every trial's latest snapshot once (what any slice over fields must do);
- rebuild after --changed trials changed: floor: reading those trials' snapshots once.

The store is a folder of real records (tests/fixtures, ids rewritten past the first copy), all
edited to one lead sponsor (the subscription's slice); the changes are real edits (a status
change), compared and filed as event rows as a check files them.

Run: python benchmarks/bench_subscription_site.py                 (10,000 trials, 3 runs)
     python benchmarks/bench_subscription_site.py --trials 2000 --runs 5
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import all_records, renumbered  # noqa: E402
from trialwatch.changes.differ import compare  # noqa: E402
from trialwatch.record import Fetched, utc_now  # noqa: E402
from trialwatch.site.build import build_site  # noqa: E402
from trialwatch.store import events  # noqa: E402
from trialwatch.store.open import open_store  # noqa: E402
from trialwatch.store.port import Store  # noqa: E402
from trialwatch.subscriptions.model import parse  # noqa: E402

SPONSOR = "Acme Oncology"
TODAY = dt.date(2026, 12, 7)


def population(n: int) -> list[dict[str, Any]]:
    base = all_records()
    out = []
    for i in range(n):
        record = renumbered(base[i % len(base)], f"NCT9{i:07d}")
        # One sponsor's portfolio: the lead sponsor set to it (a realistic edit).
        record["protocolSection"].setdefault("sponsorCollaboratorsModule", {})["leadSponsor"] = {
            "name": SPONSOR,
            "class": "INDUSTRY",
        }
        out.append(record)
    return out


def fetched(record: dict[str, Any]) -> Fetched:
    nct = record["protocolSection"]["identificationModule"]["nctId"]
    return Fetched(nct, record, "http://127.0.0.1/bench", utc_now(), nct)


def change(store: Store, record: dict[str, Any]) -> None:
    """A status change, stored and filed as a check stores it."""
    nct = record["protocolSection"]["identificationModule"]["nctId"]
    old = store.latest(nct)
    assert old is not None
    new = copy.deepcopy(record)
    status = new["protocolSection"].setdefault("statusModule", {})
    status["overallStatus"] = (
        "TERMINATED" if status.get("overallStatus") != "TERMINATED" else ("COMPLETED")
    )
    found = compare(nct, old.record, new)
    saved = store.save(fetched(new))
    rows = events.rows_of(nct, utc_now(), None, old.name, saved.name, found.changes, found.events)
    with store.unit(key=nct) as unit:
        unit.file_events(rows)


def read_all(store: Store, ids: list[str]) -> None:
    for nct in ids:
        store.latest(nct)


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trialwatch-bench-subs-"))
    try:
        store = open_store(work / "snapshots")
        records = population(args.trials)
        started = time.perf_counter()
        with store.unit() as unit:
            unit.baselines([fetched(r) for r in records])
        store.sync_files()
        print(f"store of {args.trials:,} trials made in {time.perf_counter() - started:.1f} s")
        for record in records[:200]:
            change(store, record)
        sub = parse(
            {"name": "acme", "sponsor": SPONSOR, "when": 'type == "status_changed"'}, "bench"
        )
        ids = store.trials()
        first, first_floor, again, again_floor = [], [], [], []
        for run in range(args.runs):
            out = work / f"site-{run}"
            first_floor.append(timed(lambda: read_all(open_store(work / "snapshots"), ids)))
            first.append(
                timed(
                    lambda out=out: build_site(store, [], [], out, today=TODAY, subscriptions=[sub])
                )
            )
            moved = records[200 + run * args.changed : 200 + (run + 1) * args.changed]
            for record in moved:
                change(store, record)
            moved_ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in moved]
            again_floor.append(
                timed(lambda m=moved_ids: read_all(open_store(work / "snapshots"), m))
            )
            again.append(
                timed(
                    lambda out=out: build_site(store, [], [], out, today=TODAY, subscriptions=[sub])
                )
            )
        page = (work / "site-0" / "subscriptions" / "acme.html").read_text(encoding="utf-8")
        assert f"Trials ({args.trials:,})" in page or f"Trials ({args.trials})" in page
        med = statistics.median
        print(f"subscription of {args.trials:,} trials, medians of {args.runs} runs:")
        print(f"  first build       {med(first):7.2f} s   floor (read every snapshot once) "
              f"{med(first_floor):7.2f} s   ({med(first) / med(first_floor):.1f}x)")  # fmt: skip
        print(f"  rebuild, {args.changed} moved {med(again):7.2f} s   floor (read those once)"
              f"          {med(again_floor):7.3f} s")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
