"""trialwatch sync at registry scale, side by side with the floor, in one run.

Run: python benchmarks/bench_sync.py                 (100,000 records, 2,000 changed)
     python benchmarks/bench_sync.py --records 20000 --changed 500

Needs PostgreSQL's server binaries (initdb, pg_ctl; Debian's postgresql package): a private
server is started on 127.0.0.1 for the run (as the postgres user when run as root), with fsync
on, and removed at the end.

1. Bootstrap: a bulk zip of N records (the real samples in tests/fixtures, ids rewritten, as
   the registry's zip lays them out) loaded by ``trialwatch sync --from-file`` into PostgreSQL
   and into a snapshot folder, against the floor: the same JSON read from the same zip and
   ``COPY``'d into one table (nct, body) in one transaction. The floor and the two bootstraps
   are run in turn, --bootstrap-runs times (each on a fresh database or folder): median wall
   seconds, and the peak memory of each process.
2. An incremental day: the registry has posted C changed records (real edits: enrollment and
   status); ``trialwatch sync`` asks for them by date and files their events. Requests, wall
   seconds; the registry's pace adds requests × request_interval on top.
3. Workers and the pace: J trials queued to be fetched one by one (the sweep's kind of job),
   done by 1 and then by 4 ``trialwatch worker`` processes with request_interval set; the
   requests per second the registry saw (the most in any one-second window) and the trials
   compared per second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import all_records  # noqa: E402
from tests.pg import Server, binaries  # noqa: E402
from tests.registry_server import Registry, serve  # noqa: E402

EXE = shutil.which("trialwatch") or str(Path(sys.executable).parent / "trialwatch")


def samples() -> list[tuple[str, str]]:
    """(served text, its id) of every real sample under 60 KB (about 17 KB on average)."""
    out = []
    for record in all_records():
        text = json.dumps(record, separators=(",", ":"))
        if len(text) < 60_000:
            nct = record["protocolSection"]["identificationModule"]["nctId"]
            out.append((text.replace("nctIdAliases", "formerIdsNotUsed"), nct))
    return out


def nct_of(i: int) -> str:
    return f"NCT{90000000 + i:08d}"


def make_zip(path: Path, n: int) -> int:
    """The registry's bulk file: one NN/NCT….json entry per study. Returns its bytes."""
    bodies = samples()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(n):
            text, old = bodies[i % len(bodies)]
            nct = nct_of(i)
            zf.writestr(f"{nct[-2:]}/{nct}.json", text.replace(f'"{old}"', f'"{nct}"'))
    return path.stat().st_size


# Peak memory is read by a small wrapper process: a child started straight from this (large)
# process would count this process's pages in its own high-water mark (Linux keeps the
# high-water mark of the memory an exec replaced).
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write(f'\\nPEAK_KB {u.ru_maxrss} CPU {u.ru_utime + u.ru_stime}\\n')\n"
    "sys.exit(code)\n"
)


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run trialwatch: (wall seconds, CPU seconds, peak memory in MB, stdout), from the
    child's own rusage."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv], env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    _, _, tail = proc.stderr.rpartition("\nPEAK_KB ")
    if proc.returncode not in (0, 1) or not tail:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kb, _, cpu = tail.split()
    return wall, float(cpu), int(peak_kb) // 1024, proc.stdout


def copy_floor(url: str, path: Path) -> float:
    """Seconds to read every entry of the zip and COPY (nct, body) into one table."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE floor (nct TEXT PRIMARY KEY, body TEXT NOT NULL)")
        with zipfile.ZipFile(path) as zf, cur.copy("COPY floor (nct, body) FROM STDIN") as cp:
            for info in zf.infolist():
                body = zf.read(info).decode("utf-8")
                cp.write_row((info.filename.rsplit("/", 1)[-1][:-5], body))
        conn.commit()
    return time.monotonic() - started


def median_of(runs: list[float]) -> float:
    return statistics.median(runs)


def changed_registry(n: int, changed: int, day: str) -> Registry:
    """The registry the day after the bulk file: ``changed`` of its records updated (their
    enrollment corrected, every tenth also terminated) and posted on ``day``."""
    reg = Registry()
    bodies = samples()
    reg.data_timestamp = f"{day}T09:00:00"
    for i in range(0, n, max(1, n // changed))[:changed]:
        text, old = bodies[i % len(bodies)]
        record = json.loads(text.replace(f'"{old}"', f'"{nct_of(i)}"'))
        status = record["protocolSection"]["statusModule"]
        design = record["protocolSection"].setdefault("designModule", {})
        design.setdefault("enrollmentInfo", {"type": "ESTIMATED"})["count"] = 4242 + i
        if i % 10 == 0:
            status["overallStatus"] = "TERMINATED"
        status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
        reg.put(record, posted=False)
    return reg


def window_rate(times: list[float]) -> float:
    """The most requests in any one-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:  # a window of one second, its end excluded
            j += 1
        best = max(best, i - j + 1)
    return float(best)


@contextlib.contextmanager
def postgres() -> Iterator[Server]:
    bindir = binaries()
    if bindir is None:
        raise SystemExit("needs PostgreSQL's initdb and pg_ctl (Debian: apt install postgresql)")
    server = Server(bindir, durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def workers_run(
    env: dict[str, str], store: str, reg: Registry, jobs: list[str], n: int
) -> tuple[float, float, float, float]:
    """Queue ``jobs`` to be fetched one by one and let ``n`` workers do them: (seconds,
    most requests in any one-second window, requests a second from the first to the last,
    trials compared a second)."""
    from trialwatch.store.open import open_store

    s = open_store(store)
    with s.unit() as unit:
        unit.forget_done_jobs()
        unit.enqueue([(j, "sweep", None) for j in jobs])
    s.close()
    reg.times.clear()
    started = time.monotonic()
    procs = [
        subprocess.Popen([EXE, "worker", "-q"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(n)
    ]
    for p in procs:
        p.wait()
    took = time.monotonic() - started
    times = sorted(reg.times)
    mean = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return took, window_rate(times), mean, len(jobs) / took


def part_bootstrap(
    server: Server, scratch: Path, bulk: Path, base: dict[str, str], runs: int
) -> dict[str, str]:
    """The floor and each store's bootstrap, alternated ``runs`` times (each run on a fresh
    database or folder): medians. Returns the stores of the last run, for parts 2 and 3."""
    print(f"\n1. bootstrap from the bulk file (floor and runs alternated, medians of {runs})")
    print(f"   {'what':<30} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'x floor':>8}  each run")
    floors: list[float] = []
    seen: dict[str, list[tuple[float, float, int]]] = {}
    stores: dict[str, str] = {}
    for r in range(runs):
        floors.append(copy_floor(server.new_database(), bulk))
        stores = {"PostgreSQL": server.new_database(), "folder": str(scratch / f"snapshots-{r}")}
        for name, store in stores.items():
            env = {
                **base,
                "TRIALWATCH_STORE": store,
                "TRIALWATCH_API_URL": "http://127.0.0.1:9/api/v2",
            }
            wall, cpu, peak, _ = run_child([EXE, "sync", "-q", "--from-file", str(bulk)], env)
            seen.setdefault(name, []).append((wall, cpu, peak))
        if r < runs - 1:
            shutil.rmtree(stores["folder"], ignore_errors=True)
    floor = median_of(floors)
    each = ", ".join(f"{f:.1f}" for f in floors)
    label = "COPY into one table (floor)"
    print(f"   {label:<30} {floor:>8.1f} {'':>8} {'':>8} {1:>8.2f}  {each}")
    for name, got in seen.items():
        wall = median_of([g[0] for g in got])
        cpu = median_of([g[1] for g in got])
        peak = max(g[2] for g in got)
        each = ", ".join(f"{g[0]:.1f}" for g in got)
        label = f"sync into {name}"
        print(f"   {label:<30} {wall:>8.1f} {cpu:>8.1f} {peak:>8} {wall / floor:>8.2f}  {each}")
    return stores


def part_day(reg: Registry, url: str, stores: dict[str, str], base: dict[str, str]) -> None:
    changed = len(reg.studies)
    print(f"\n2. an incremental day: {changed:,} changed records posted")
    print(
        f"   {'store':<12} {'requests':>9} {'wall s':>8} {'cpu s':>8} {'cpu ms/record':>13} "
        f"{'peak MB':>8}  stored"
    )
    asked = 0
    for name, store in stores.items():
        env = {
            **base,
            "TRIALWATCH_STORE": store,
            "TRIALWATCH_API_URL": url,
            "TRIALWATCH_REQUEST_INTERVAL": "0",
            "TRIALWATCH_SWEEP_DAYS": "0",
        }
        before = len(reg.requests)
        wall, cpu, peak, out = run_child([EXE, "sync", "--format", "json"], env)
        asked = len(reg.requests) - before
        got = json.loads(out)["stored"]
        per = cpu * 1000 / max(1, changed)
        print(
            f"   {name:<12} {asked:>9} {wall:>8.1f} {cpu:>8.1f} {per:>13.2f} {peak:>8}  "
            f"{got['changed']:,} changed, {got['events']:,} events"
        )
    print(f"   the registry's pace adds request_interval x {asked} requests ({asked} s at 1 s)")


def part_workers(
    reg: Registry, url: str, stores: dict[str, str], base: dict[str, str], jobs: int,
    interval: float, repeat: int,
) -> None:  # fmt: skip
    ids = [nct_of(i) for i in range(jobs)]
    bodies = samples()
    for j in ids:  # every fetch answers 200 (changed or not)
        if j not in reg.studies:
            text, old = bodies[int(j[3:]) % len(bodies)]
            reg.put(json.loads(text.replace(f'"{old}"', f'"{j}"')), posted=False)
    print(
        f"\n3. workers: {jobs} trials fetched one by one at request_interval = {interval} s "
        f"(at most {1 / interval:.0f} requests a second), medians of {repeat}"
    )
    print(
        f"   {'store':<12} {'workers':>7} {'wall s':>8} {'most in 1 s':>11} {'mean req/s':>10} "
        f"{'trials/s':>9}"
    )
    for name, store in stores.items():
        env = {
            **base,
            "TRIALWATCH_STORE": store,
            "TRIALWATCH_API_URL": url,
            "TRIALWATCH_REQUEST_INTERVAL": str(interval),
        }
        for n in (1, 4):
            runs = [workers_run(env, store, reg, ids, n) for _ in range(repeat)]
            took = median_of([r[0] for r in runs])
            most = max(r[1] for r in runs)
            mean = median_of([r[2] for r in runs])
            done = median_of([r[3] for r in runs])
            print(f"   {name:<12} {n:>7} {took:>8.1f} {most:>11.0f} {mean:>10.1f} {done:>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--changed", type=int, default=2_000)
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.02, help="request_interval of part 3")
    ap.add_argument("--repeat", type=int, default=3, help="runs of part 3 (medians)")
    ap.add_argument(
        "--bootstrap-runs", type=int, default=3, help="floor and bootstraps alternated (medians)"
    )
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="trialwatch-bench-sync-"))
    try:
        bulk = scratch / "ctg-studies.json.zip"
        started = time.monotonic()
        size = make_zip(bulk, args.records)
        print(
            f"bulk file: {args.records:,} records, {size / 1e6:,.0f} MB zipped "
            f"(made in {time.monotonic() - started:.0f} s)"
        )
        with postgres() as server:
            base = {"PATH": os.environ.get("PATH", ""), "HOME": str(scratch)}
            stores = part_bootstrap(server, scratch, bulk, base, args.bootstrap_runs)
            reg = changed_registry(args.records, args.changed, "2026-12-05")
            with serve(reg) as url:
                part_day(reg, url, stores, base)
                part_workers(reg, url, stores, base, args.jobs, args.interval, args.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
