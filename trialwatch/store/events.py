"""Changes and events as rows: every step trialwatch stores (a new snapshot of a trial) files
what changed in it, one row per event and one per material change no event explains, in the
``events`` table of the store's state (SQLite), so that "every outcome switch posted this month"
is one query::

    CREATE TABLE events (
      nct TEXT,          -- the trial
      seen TEXT,         -- when trialwatch stored the step (RFC 3339, UTC)
      made_on TEXT,      -- the day the version was made (the sponsor's update), or NULL
      old_snapshot TEXT, -- the snapshot before, and the one the step stored
      new_snapshot TEXT,
      kind TEXT,         -- "event" or "change"
      type TEXT,         -- the event type (status_changed, outcome_replaced…); a change's kind
      category TEXT,     -- status, dates, outcomes… (an event: what its type is about, else
                         -- its first change's)
      headline TEXT,     -- the words the report says
      rank INTEGER,      -- reader importance, lower first
      body TEXT          -- the event or change as the JSON report has it (an event with its
                         -- changes under "changes_json")
    )

Rows are written in the same transaction as the step's state, so a step is filed once; a store
from before 0.5 has none for its earlier steps until ``trialwatch events --rebuild``."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from trialwatch.errors import StoreError
from trialwatch.model import Change, Event

TABLE = """
CREATE TABLE IF NOT EXISTS events (
  nct TEXT, seen TEXT, made_on TEXT, old_snapshot TEXT, new_snapshot TEXT,
  kind TEXT, type TEXT, category TEXT, headline TEXT, rank INTEGER, body TEXT, pos INTEGER
);
"""
# What each filter of ``trialwatch events`` is answered from (the same on PostgreSQL:
# store/postgres/schema.py). ``pos`` is a row's place in the order rows were stored.
INDEXES = """
CREATE INDEX IF NOT EXISTS events_seen ON events (seen);
CREATE INDEX IF NOT EXISTS events_trial ON events (nct, seen);
CREATE UNIQUE INDEX IF NOT EXISTS events_pos ON events (pos);
CREATE INDEX IF NOT EXISTS events_type ON events (type, seen);
CREATE INDEX IF NOT EXISTS events_category ON events (category, seen);
CREATE INDEX IF NOT EXISTS events_day ON events ((coalesce(made_on, substr(seen, 1, 10))));
"""
# The last position given to a row, in the state's meta table: a position is never given
# twice, even after rows are filed again (--rebuild).
POSITION = "events_position"
# PostgreSQL's notification channel for rows stored (events --follow listens on it).
CHANNEL = "trialwatch_events"


@dataclass
class Row:
    nct: str
    seen: str
    made_on: str | None
    old_snapshot: str | None
    new_snapshot: str
    kind: str
    type: str
    category: str
    headline: str
    rank: int
    body: dict[str, Any]
    # Its place in the order rows were stored: only grows, never given twice (the cursor of
    # ``trialwatch events --after``). None until the row is filed.
    position: int | None = None

    def values(self) -> tuple[Any, ...]:
        """The row as the table holds it, in COLUMNS order (its body as JSON text)."""
        return (*(getattr(self, c) for c in COLUMNS[:-1]), json.dumps(self.body, sort_keys=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct,
            "seen": self.seen,
            "made_on": self.made_on,
            "old_snapshot": self.old_snapshot,
            "new_snapshot": self.new_snapshot,
            "kind": self.kind,
            "type": self.type,
            "category": self.category,
            "headline": self.headline,
            "rank": self.rank,
            "body": self.body,
            "cursor": self.position,  # since 0.7
        }


# The table's columns: the fields of a Row, in order, its body last (its position is the
# table's own ``pos``).
COLUMNS = tuple(f.name for f in fields(Row) if f.name != "position")


# An event's category by what it is about, where its type says (a QC return is about results
# even when the only field that moved is the registry's submission tracking).
_BY_PREFIX = (
    ("results_", "results"), ("result_", "results"), ("safety_", "results"),
    ("status_", "status"), ("enrollment_", "enrollment"), ("date_", "dates"),
    ("actual_date_", "dates"), ("outcome_", "outcomes"), ("eligibility_", "eligibility"),
    ("site", "locations"), ("arm", "arms_interventions"), ("intervention_", "arms_interventions"),
    ("design_", "design"),
)  # fmt: skip


def event_category(event_type: str, first_change: str) -> str:
    """The category an event row is filed under: what its type is about, else its first
    change's category."""
    for prefix, category in _BY_PREFIX:
        if event_type.startswith(prefix):
            return category
    return first_change


def rows_of(
    nct: str,
    seen: str,
    made_on: str | None,
    old_snapshot: str | None,
    new_snapshot: str,
    changes: list[Change],
    events: list[Event],
) -> list[Row]:
    """The rows one stored step files: its events (bookkeeping ones aside), then its material
    changes that no such event explains."""
    by_id = {c.id: c for c in changes}
    shown = [e for e in events if not e.silent]
    explained = {i for e in shown for i in e.changes}
    row = functools.partial(Row, nct, seen, made_on, old_snapshot, new_snapshot)
    out = []
    for e in sorted(shown, key=lambda e: e.rank):
        mine = [by_id[i] for i in e.changes if i in by_id]
        body = {**e.to_json(), "changes_json": [c.to_json() for c in mine]}
        category = event_category(e.type.value, mine[0].category.value if mine else "other")
        out.append(row("event", e.type.value, category, e.headline, e.rank, body))
    for c in changes:
        if c.material and c.id not in explained:
            out.append(row("change", c.kind.value, c.category.value, c.sentence, 1000, c.to_json()))
    return out


def next_cursor(rows: Iterable[Row], after: int) -> int:
    """The cursor to ask with next: the last row's position, or the one asked with."""
    return max([after, *(r.position or 0 for r in rows)])


def ensure(conn: Any) -> None:
    """The table and its indexes on SQLite (statement by statement: executescript would commit
    the caller's transaction), made when the state is opened; a table from before 0.7 gets its
    positions, in the order its rows were stored. Cheap once done: one look at the columns.
    PostgreSQL's schema is made by its migrations."""
    if getattr(conn, "raw", None) is not None:
        return
    have = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "pos" in have:
        return
    if not have:
        for statement in TABLE.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        conn.execute("ALTER TABLE events ADD COLUMN pos INTEGER")
    if conn.execute("SELECT 1 FROM events WHERE pos IS NULL LIMIT 1").fetchone():
        conn.execute("UPDATE events SET pos = rowid WHERE pos IS NULL")
        conn.execute(
            "INSERT INTO meta (key, value) SELECT ?, CAST(coalesce(max(pos), 0) AS TEXT) "
            "FROM events WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (POSITION,),
        )
    for statement in INDEXES.split(";"):
        if statement.strip():
            conn.execute(statement)


def insert(conn: Any, rows: Iterable[Row]) -> None:
    """File rows (inside the caller's transaction), each at the next position. Taking the
    positions locks the counter's row until the transaction ends, so positions are given in
    the order transactions commit: a reader that has seen a position has seen every one
    before it."""
    ensure(conn)
    found = list(rows)
    if not found:
        return
    (last,) = conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
        "SET value = CAST(CAST(meta.value AS INTEGER) + ? AS TEXT) RETURNING value",
        (POSITION, str(len(found)), len(found)),
    ).fetchone()
    first = int(last) - len(found) + 1
    names = (*COLUMNS, "pos")
    conn.executemany(
        f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [(*r.values(), first + k) for k, r in enumerate(found)],
    )
    if getattr(conn, "raw", None) is not None:  # PostgreSQL: wake who follows (at commit)
        conn.execute(f"NOTIFY {CHANNEL}")


def forget(conn: sqlite3.Connection, nct: str) -> None:
    """Drop a trial's rows (before they are filed again from its snapshots)."""
    ensure(conn)
    conn.execute("DELETE FROM events WHERE nct = ?", (nct,))


@dataclass(frozen=True)
class Filter:
    """What ``trialwatch events`` asks for: ``since``/``until`` the day the change was made (the
    sponsor's update, else the day it was stored), ``seen_since`` the day trialwatch stored it,
    ``types``, ``categories``, ``trials``; ``after`` a cursor (a row's position) and ``limit``
    how many rows at most."""

    since: str | None = None
    until: str | None = None
    types: list[str] | None = None
    categories: list[str] | None = None
    trials: list[str] | None = None
    seen_since: str | None = None
    after: int | None = None
    limit: int | None = None


def select(f: Filter) -> tuple[str, list[Any]]:
    """The SQL of ``query`` and its arguments. In the order the reports list rows (by when they
    were stored, then trial and rank); with a cursor (``after``), the rows stored after it, in
    the order they were stored."""
    since, until, types, categories, trials = f.since, f.until, f.types, f.categories, f.trials
    seen_since, after, limit = f.seen_since, f.after, f.limit
    where: list[str] = []
    args: list[Any] = []
    if after is not None:
        where.append("pos > ?")
        args.append(after)
    if seen_since:
        where.append("seen >= ?")
        args.append(seen_since)
    if since:
        where.append("coalesce(made_on, substr(seen, 1, 10)) >= ?")
        args.append(since)
    if until:
        where.append("coalesce(made_on, substr(seen, 1, 10)) <= ?")
        args.append(until)
    for column, values in (("type", types), ("category", categories), ("nct", trials)):
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            args.extend(values)
    sql = f"SELECT {', '.join(COLUMNS)}, pos FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY pos" if after is not None else " ORDER BY seen, nct, rank, pos"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, args


def query(conn: Any, f: Filter) -> Iterator[Row]:
    """The rows ``select`` says, read."""
    sql, args = select(f)
    try:
        ensure(conn)
        cursor = conn.execute(sql, args)
        for stored in cursor:
            try:
                body = json.loads(stored[-2] or "{}")
            except ValueError:
                body = {}
            known = dict(zip(COLUMNS[:-1], stored[:-2], strict=True))
            position = int(stored[-1]) if stored[-1] is not None else None
            yield Row(**known, body=body, position=position)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) is None and not isinstance(exc, sqlite3.Error):
            raise
        raise StoreError(f"cannot read the stored events: {exc}") from None
