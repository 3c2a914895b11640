"""A watch list at scale, against the floor of merely parsing what the registry sends.

Run: python benchmarks/bench_scale.py --sizes 10000 100000
     python benchmarks/bench_scale.py --sizes 10000 --runs 3   (medians of three fresh stores)
     python benchmarks/bench_scale.py --sizes 5000 --min-kb 100 --max-kb 1000   (large records)

A local server on 127.0.0.1 serves N records made from the real samples in tests/fixtures (ids
rewritten; the samples under 60 KB, about 17 KB on average as on the registry); the politeness
delay is off. For each N, in one run: a first check of the watch list on an empty store, then a
check after the registry's data timestamp moved with no record changed (unchanged run). For
each it prints requests, bytes received, wall seconds, CPU seconds (user + system) and peak
memory of the trialwatch process, the files it created or modified in the snapshot folder
(snapshots, and separately the .trialwatch/ bookkeeping that git ignores), and beside it the
floor: the CPU seconds of json.loads over the same pages' bytes in this process. The stores
are removed once every run is measured (a store of 100,000 trials takes about 2 GB), since
removing one slows the next run's file creation. What a first run pays the kernel for its
files varies here from one sitting to the next (1 to 3 s of system time for 10,000 trials), for
two reasons perf shows: ext4 without a journal (this machine's) passes over inodes freed in
the last minutes each time it makes a file (recently_deleted() under ext4_create), and this
virtual machine backs a page of memory the first time it is touched, so copying a file's bytes
into new page-cache pages (copy_folio_from_iter_atomic) is slow until memory was used once
(writing 10,000 files of 29 KB took 0.3 to 0.9 s, and 0.17 s once 8 GB had been touched).
Measure where nothing large was removed in the last minutes; to run it in turn with another
version, keep every sitting's stores with --keep-in and remove them once done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_watchlist import run  # noqa: E402
from tests.conftest import all_records  # noqa: E402
from tests.registry_server import Registry, serve  # noqa: E402


def make_registry(n: int, min_kb: int = 0, max_kb: int = 60) -> tuple[Registry, list[str]]:
    """N records as served bytes only (no parsed copies: 100,000 of them would not fit), made
    from the samples of min_kb to max_kb kilobytes."""
    reg = Registry()
    bodies = []
    for record in all_records():
        text = json.dumps(record, separators=(",", ":"))
        if min_kb * 1000 <= len(text) < max_kb * 1000:
            nct = record["protocolSection"]["identificationModule"]["nctId"]
            bodies.append((text.replace("nctIdAliases", "formerIdsNotUsed"), nct))
    ids = []
    for i in range(n):
        text, old = bodies[i % len(bodies)]
        nct = f"NCT{90000000 + i:08d}"
        reg.studies[nct] = {}
        reg.encoded[nct] = text.replace(f'"{old}"', f'"{nct}"').encode()
        ids.append(nct)
    return reg, ids


Files = dict[str, tuple[int, int]]


def files_state(root: Path) -> Files:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size)
    return out


def written(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> tuple[int, int]:
    changed = [p for p, s in after.items() if before.get(p) != s]
    book = sum(1 for p in changed if p.startswith(".trialwatch"))
    return len(changed) - book, book


def floor_cpu(reg: Registry, ids: list[str], batch: int = 500) -> tuple[float, int]:
    """CPU seconds of json.loads over the pages the check receives, and their bytes."""
    total = 0
    started = time.process_time()
    for start in range(0, len(ids), batch):
        page = b'{"studies":[' + b",".join(reg.encoded[i] for i in ids[start : start + batch])
        page += b"]}"
        total += len(page)
        json.loads(page)
        del page
    return time.process_time() - started, total


# requests, wall s, CPU s, peak MB, snapshot files written, bookkeeping files written
Pair = tuple[int, float, float, int, int, int]


def one_pair(
    reg: Registry, ids: list[str], url: str, run_no: int, scratch: Path
) -> dict[str, Pair]:
    """A first run on an empty store, then an unchanged run: per phase (requests, wall s,
    CPU s, peak MB, snapshot files written, bookkeeping files written). The store stays in
    ``scratch`` until every run is measured: removing a store of 10,000 trials between runs
    made the next first checks slower here (medians 9.6 and 9.0 s against 8.6 and 8.6 s, the
    same code, the two ways run in turn): the file system passed over the freed inodes as
    it made the new files (see above)."""
    work = Path(tempfile.mkdtemp(prefix="tw-scale-", dir=scratch))
    out: dict[str, Pair] = {}
    (work / "trialwatch.toml").write_text(
        f'api_url = "{url}"\nrequest_interval = 0\n'
        # Whole records every run: this measures fetching and comparing them.
        "two_phase = false\n",
        encoding="utf-8",
    )
    (work / "watchlist.toml").write_text(
        "trials = [\n" + "".join(f'  "{i}",\n' for i in ids) + "]\n", encoding="utf-8"
    )
    for phase, stamp in (("first", "2026-11-25"), ("unchanged", "2026-11-26")):
        reg.data_timestamp = f"{stamp}T09:{run_no:02d}:00"
        before = files_state(work / "snapshots")
        asked = len(reg.requests)
        os.sync()  # the last run's writes are not this one's to flush
        wall, _code, peak, cpu = run(["check", "--quiet"], work)
        snaps, book = written(before, files_state(work / "snapshots"))
        out[phase] = (len(reg.requests) - asked, wall, cpu, peak, snaps, book)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument(
        "--runs", type=int, default=1, help="fresh stores per size (medians of their runs)"
    )
    parser.add_argument(
        "--min-kb", type=int, default=0, help="only samples of at least this size (KB)"
    )
    parser.add_argument(
        "--max-kb",
        type=int,
        default=60,
        help="only samples under this size (KB); --min-kb 100 --max-kb 1000 serves the two "
        "largest samples (128 and 224 KB, with full results): pages must shrink to keep "
        "memory bounded",
    )
    parser.add_argument(
        "--keep-in",
        type=Path,
        help="make the stores in this folder and leave them there (for runs in turn with "
        "another version: remove the folder once every run is measured)",
    )
    args = parser.parse_args()
    print(
        f"{'N':>7} {'run':10} {'requests':>8} {'MB recv':>8} {'wall s':>7} {'CPU s':>7} "
        f"{'floor CPU s':>11} {'×floor':>7} {'peak MB':>8} {'snap files':>10} {'bookkeeping':>11}"
        f" {'×unchanged':>10}"
    )
    if args.keep_in is not None:
        args.keep_in.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="tw-scale-", dir=args.keep_in))
    try:
        for n in args.sizes:
            measure(n, args, scratch)
    finally:
        if args.keep_in is None:
            shutil.rmtree(scratch, ignore_errors=True)


def measure(n: int, args: argparse.Namespace, scratch: Path) -> None:
    """One size's runs, printed: medians of the fresh stores, each first run against its
    unchanged run."""
    reg, ids = make_registry(n, args.min_kb, args.max_kb)
    floor, size = floor_cpu(reg, ids)
    with serve(reg) as url:
        pairs = [one_pair(reg, ids, url, r, scratch) for r in range(args.runs)]
    unchanged_wall = statistics.median(p["unchanged"][1] for p in pairs)
    for phase in ("first", "unchanged"):
        rows = [p[phase] for p in pairs]
        asked = rows[0][0]
        wall = statistics.median(r[1] for r in rows)
        cpu = statistics.median(r[2] for r in rows)
        peak = max(r[3] for r in rows)
        snaps, book = rows[0][4], rows[0][5]
        print(
            f"{n:>7} {phase:10} {asked:>8} {size / 1e6:>8.0f} "
            f"{wall:>7.1f} {cpu:>7.1f} {floor:>11.1f} {cpu / floor:>7.1f} "
            f"{peak:>8} {snaps:>10} {book:>11} {wall / unchanged_wall:>10.2f}"
        )
        sys.stdout.flush()
    if args.runs > 1:
        walls = ", ".join(f"{p['first'][1]:.1f}/{p['unchanged'][1]:.1f}" for p in pairs)
        print(f"        each run's first/unchanged wall s: {walls}")


if __name__ == "__main__":
    main()
