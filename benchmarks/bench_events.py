"""`trialwatch events` at a million rows in PostgreSQL: each filter answered from its index,
side by side with the same query forced to read the whole table (today's floor before 0.7, when
no index served type, category or the day), in one run. Medians of --runs.

Run: python benchmarks/bench_events.py                     (1,000,000 rows, 7 runs)
     python benchmarks/bench_events.py --rows 200000 --runs 5

Needs PostgreSQL's server binaries (Debian's postgresql package): a private server is started
on 127.0.0.1 for the run (as the postgres user when run as root), with fsync on, and removed at
the end. The rows are made from real event types, categories and ids over a year of days; the
query is trialwatch's own (store/events.py), through the store's port."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import Server, binaries  # noqa: E402
from trialwatch.model import Category, EventType  # noqa: E402
from trialwatch.store.open import open_store  # noqa: E402

TYPES = [e.value for e in EventType] + ["added", "removed", "changed"]
CATEGORIES = [c.value for c in Category]


def fill(url: str, rows: int, trials: int) -> None:
    """rows event rows over ``trials`` trials and 365 days, by COPY; positions 1…rows."""
    import psycopg

    rng = random.Random(7)
    store = open_store(url)
    store.trials()  # its first connection makes the schema (the migrations), as trialwatch does
    store.close()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY events (nct, seen, made_on, old_snapshot, new_snapshot, kind, type, category, "
            "headline, rank, body, pos) FROM STDIN"
        ) as copy:
            for i in range(1, rows + 1):
                day = f"2026-{1 + (i * 12) // (rows + 1):02d}-{1 + i % 28:02d}"
                nct = f"NCT{90000000 + rng.randrange(trials):08d}"
                kind = "event" if i % 3 else "change"
                copy.write_row(
                    (nct, f"{day}T09:00:00Z", day if i % 4 else None, f"{day}.json",
                     f"{day}_2.json", kind, rng.choice(TYPES), rng.choice(CATEGORIES),
                     f"headline {i}", i % 900, json.dumps({"n": i}), i)
                )  # fmt: skip
        cur.execute("UPDATE meta SET value = %s WHERE key = 'events_position'", (str(rows),))
        if cur.rowcount == 0:
            cur.execute("INSERT INTO meta (key, value) VALUES ('events_position', %s)", (rows,))
        conn.commit()
        cur.execute("ANALYZE events")


QUERIES = {
    "one type": {"types": ["outcome_replaced"]},
    "one category": {"categories": ["enrollment"]},
    "one trial": {"trials": ["NCT90000042"]},
    "a week made": {"since": "2026-06-01", "until": "2026-06-07"},
    "stored since a day": {"seen_since": "2026-12-20"},
    "after a cursor": {"after": None},  # the last 1,000 rows: filled in below
}


def timed(url: str, filters: dict[str, object], runs: int, scan: bool) -> tuple[float, float, int]:
    """(median milliseconds the database took for trialwatch's query, median milliseconds of
    the whole call through the port with the rows read into Python, rows); ``scan`` forbids the
    indexes (the whole table read, as before 0.7)."""
    import psycopg

    from trialwatch.store.events import Filter, select

    sql, args = select(Filter(**filters))  # type: ignore[arg-type]
    sql = sql.replace("?", "%s")
    switches = (
        ["SET enable_indexscan = off", "SET enable_bitmapscan = off",
         "SET enable_indexonlyscan = off"] if scan else []
    )  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in switches:
            conn.execute(statement)
        db = []
        for _ in range(runs + 1):
            plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args).fetchone()
            db.append(float(plan[0][0]["Execution Time"]))
    store = open_store(url)
    try:
        conn2 = store.db.conn  # the benchmark's own look behind the port: the planner's switches
        for statement in switches:
            conn2.execute(statement)
        found = store.query_events(**filters)  # type: ignore[arg-type]
        whole = []
        for _ in range(runs):
            started = time.perf_counter()
            found = store.query_events(**filters)  # type: ignore[arg-type]
            whole.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    return statistics.median(db[1:]), statistics.median(whole), len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bindir = binaries()
    if bindir is None:
        raise SystemExit("needs PostgreSQL's server binaries (initdb): apt-get install postgresql")
    server = Server(bindir, durable=True)
    server.start()
    try:
        url = server.new_database(empty=True)
        started = time.monotonic()
        fill(url, args.rows, args.trials)
        print(f"{args.rows:,} event rows over {args.trials:,} trials, filled in "
              f"{time.monotonic() - started:.1f} s; medians of {args.runs} runs")  # fmt: skip
        QUERIES["after a cursor"] = {"after": args.rows - 1000}
        print("database ms: the query itself (EXPLAIN ANALYZE); call ms: through the port, rows")
        print("read into Python; 'index' as trialwatch runs it, 'table' with indexes forbidden")
        head = f"{'query':<20} {'rows':>7} {'index db ms':>12} {'table db ms':>12} {'×':>6}"
        print(f"{head} {'index call ms':>14} {'table call ms':>14}")
        for name, filters in QUERIES.items():
            fast, fast_call, n = timed(url, filters, args.runs, scan=False)
            slow, slow_call, m = timed(url, filters, args.runs, scan=True)
            assert n == m, (name, n, m)
            print(
                f"{name:<20} {n:>7,} {fast:>12.1f} {slow:>12.1f} {slow / fast:>6.1f} "
                f"{fast_call:>14.1f} {slow_call:>14.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
