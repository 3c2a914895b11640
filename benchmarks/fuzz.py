"""A longer fuzz run than the test suite's: mutated real records through parse, store,
compare and every renderer. Prints how many crashed (internal errors or exceptions).

    python benchmarks/fuzz.py --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import all_records
from tests.fuzzing import mutate, through_everything
from trialwatch.store import SnapshotStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    records = all_records()
    outcomes: Counter[str] = Counter()
    crashes = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i, record in enumerate(itertools.islice(itertools.cycle(records), args.cases)):
            store = SnapshotStore(Path(tmp) / f"s{i}")
            try:
                through_everything(store, record, record, "2026-11-25T06:00:00Z")
                run = through_everything(store, record, mutate(record, rng), "2026-11-26T06:00:00Z")
            except Exception:
                crashes += 1
                traceback.print_exc(limit=3)
                continue
            for t in run.trials:
                outcomes[t.outcome.value] += 1
                if "internal error" in (t.error or ""):
                    crashes += 1
                    print(t.error, file=sys.stderr)
    took = time.monotonic() - started
    print(f"cases {args.cases}  crashes {crashes}  outcomes {dict(outcomes)}  {took:.1f}s")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
