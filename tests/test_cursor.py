"""A cursor machines can follow (issue 32): every event row has a position that only grows, and
a consumer that asks for the rows after the cursor it stored never misses a row and never sees
one twice — while several writers file rows at once, on the folder and on PostgreSQL — and the
filters of `trialwatch events` are answered from an index on both."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests import stores
from tests.conftest import cli, edited
from tests.registry_server import Registry, serve
from trialwatch.store.events import Row
from trialwatch.store.open import open_store

pytestmark = pytest.mark.usefixtures("each_store")


def _row(writer: int, n: int) -> Row:
    seen = f"2026-12-0{1 + writer}T09:00:{n % 60:02d}Z"
    return Row(
        f"NCT0{writer}000000", seen, None, None, f"{seen[:10]}.json", "event", "status_changed",
        "status", f"writer {writer} row {n}", 100, {},
    )  # fmt: skip


def test_a_consumer_following_several_writers_sees_every_row_once() -> None:
    writers, per_writer = 3, 40
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        store = open_store(stores.spec())
        try:
            for n in range(per_writer):
                with store.unit(key=f"NCT0{w}000000") as unit:
                    unit.file_events([_row(w, n)])
        except BaseException as exc:  # handed to the test
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    seen: list[str] = []
    cursor = 0
    reader = open_store(stores.spec())
    try:
        while True:
            finished = all(not t.is_alive() for t in threads)
            rows = reader.query_events(after=cursor)
            seen += [r.headline for r in rows]
            cursor = max([cursor, *(r.position or 0 for r in rows)])
            if finished and not rows:
                break
    finally:
        reader.close()
        done.set()
    assert not errors, errors
    assert len(seen) == len(set(seen)) == writers * per_writer  # none missed, none twice
    for w in range(writers):  # each writer's rows in the order it stored them
        mine = [int(h.split()[-1]) for h in seen if h.startswith(f"writer {w} ")]
        assert mine == sorted(mine)


@pytest.fixture
def registry(her2: dict[str, Any]) -> Any:
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        yield reg, url


def test_events_after_a_cursor_as_ndjson(
    registry: Any, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = registry
    base = ["--api-url", url]
    assert cli(capsys, "check", "NCT06224738", *base)[0] == 0
    reg.put(edited(her2, lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="ACTIVE_NOT_RECRUITING")))  # fmt: skip
    reg.data_timestamp = "2026-11-26T09:00:00"
    assert cli(capsys, "check", "NCT06224738", *base)[0] == 1
    code, out, _ = cli(capsys, "events", "--after", "0", "--format", "ndjson")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    rows, trailer = lines[:-1], lines[-1]
    assert rows and all(r["schema"] == "trialwatch.events/1" for r in rows)
    assert [r["cursor"] for r in rows] == sorted(r["cursor"] for r in rows)
    assert trailer == {"next_cursor": rows[-1]["cursor"]}
    # Asked again with that cursor: nothing new, the same cursor.
    code, out, _ = cli(capsys, "events", "--after", str(trailer["next_cursor"]), "-f", "ndjson")
    assert [json.loads(line) for line in out.splitlines()] == [trailer]
    # A change stored later comes after it, once.
    reg.put(edited(her2, lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="COMPLETED")))  # fmt: skip
    reg.data_timestamp = "2026-11-27T09:00:00"
    assert cli(capsys, "check", "NCT06224738", *base)[0] == 1
    code, out, _ = cli(capsys, "events", "--after", str(trailer["next_cursor"]), "-f", "ndjson")
    later = [json.loads(line) for line in out.splitlines()]
    assert len(later) >= 2 and all(r["cursor"] > trailer["next_cursor"] for r in later[:-1])
    assert any("Completed" in r["headline"] for r in later[:-1])
    # --seen-since: when trialwatch stored it (today), beside --since (when it was made).
    code, out, _ = cli(capsys, "events", "--seen-since", "2000-01-01", "-f", "json")
    assert len(json.loads(out)["events"]) == len(rows) + len(later) - 1


def _plan(sql: str, args: tuple[Any, ...]) -> str:
    """How the store's engine answers a query: SQLite's query plan, or PostgreSQL's EXPLAIN with
    sequential scans ruled out where an index can serve (a tiny table would be read whole)."""
    if stores.on_database():
        import psycopg

        with psycopg.connect(stores.spec(), autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            rows = conn.execute("EXPLAIN " + sql.replace("?", "%s"), args).fetchall()
        return "\n".join(str(r[0]) for r in rows)
    return "\n".join(str(r[-1]) for r in stores.sql("EXPLAIN QUERY PLAN " + sql, args))


@pytest.mark.parametrize(
    "where,args",
    [
        ("type = ?", ("status_changed",)),
        ("category = ?", ("status",)),
        ("nct = ?", ("NCT06224738",)),
        ("coalesce(made_on, substr(seen, 1, 10)) >= ?", ("2026-11-01",)),
        ("seen >= ?", ("2026-11-01",)),
        ("pos > ?", (0,)),
    ],
)
def test_each_filter_of_events_is_answered_from_an_index(
    where: str, args: tuple[Any, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(stores.spec())
    try:
        with store.unit() as unit:
            unit.file_events([_row(0, 1)])
    finally:
        store.close()
    plan = _plan(f"SELECT nct FROM events WHERE {where}", args)
    assert "Index" in plan or "INDEX" in plan, plan
    assert "SCAN events" not in plan and "Seq Scan" not in plan, plan


def test_a_store_from_before_the_cursor_gives_its_rows_positions_in_the_order_stored(
    tmp_path: Any,
) -> None:
    """Rows filed by 0.6 (no positions) get theirs when the store is first opened by 0.7, in the
    order they were stored, and the next row comes after them."""
    old_rows = [_row(0, n) for n in range(3)]
    if stores.on_database():
        import psycopg

        from trialwatch.store.postgres.schema import MIGRATIONS

        url = stores.spec().rsplit("/", 1)[0] + f"/old{abs(hash(str(tmp_path))) % 10**6}"
        with psycopg.connect(stores.spec(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
        with psycopg.connect(url, autocommit=True) as conn:  # a 0.6 database: schema 2
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for number, step in enumerate(MIGRATIONS[:2], 1):
                for statement in step:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))
            for r in old_rows:
                conn.execute(
                    "INSERT INTO events (nct, seen, made_on, old_snapshot, new_snapshot, kind, "
                    "type, category, headline, rank, body) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    r.values(),
                )
        spec = url
    else:
        import sqlite3

        folder = tmp_path / "old-snapshots"
        (folder / ".trialwatch").mkdir(parents=True)
        with sqlite3.connect(folder / ".trialwatch" / "state.db") as db:  # a 0.6 state
            db.execute(
                "CREATE TABLE events (nct TEXT, seen TEXT, made_on TEXT, old_snapshot TEXT, "
                "new_snapshot TEXT, kind TEXT, type TEXT, category TEXT, headline TEXT, "
                "rank INTEGER, body TEXT)"
            )
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
                r.values() for r in old_rows])  # fmt: skip
        spec = str(folder)
    store = open_store(spec)
    try:
        found = store.query_events(after=0)
        assert [r.headline for r in found] == [r.headline for r in old_rows]
        assert [r.position for r in found] == [1, 2, 3]
        with store.unit() as unit:
            unit.file_events([_row(1, 9)])
        [newest] = store.query_events(after=3)
        assert newest.position == 4
    finally:
        store.close()


def test_a_follower_is_woken_by_a_row_stored_elsewhere() -> None:
    """`events --follow` on PostgreSQL waits for a notification, not the clock; on a store that
    has none it looks again when its time runs out. Either way it gets the new row, once."""
    from trialwatch.usecases.events import follow_events

    got: list[str] = []
    woken: list[bool] = []
    reader = open_store(stores.spec())
    real_wait = reader.wait_for_events

    def wait(seconds: float) -> bool:
        woken.append(real_wait(seconds))
        return woken[-1]

    writer = open_store(stores.spec())

    def file_one() -> None:
        with writer.unit() as unit:
            unit.file_events([_row(2, 1)])

    # The follower's first look finds nothing; a row is stored while it waits.
    timer = threading.Timer(0.5, file_one)
    timer.start()
    try:
        import trialwatch.usecases.events as usecase

        original = usecase.open_store
        usecase.open_store = lambda spec: reader  # type: ignore[assignment]
        reader.wait_for_events = wait  # type: ignore[method-assign]
        try:
            from trialwatch.config import load_settings

            last = follow_events(
                load_settings({}, None), 0, lambda rows: got.extend(r.headline for r in rows),
                every=5 if stores.on_database() else 1.0, rounds=2,
            )  # fmt: skip
        finally:
            usecase.open_store = original  # type: ignore[assignment]
    finally:
        timer.join()
        writer.close()
    assert got == ["writer 2 row 1"] and last >= 1
    assert woken == [stores.on_database()]  # PostgreSQL said so; a folder's time ran out
