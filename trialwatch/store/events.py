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
      category TEXT,     -- status, dates, outcomes… (an event: its first change's)
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
from dataclasses import astuple, dataclass, fields
from typing import Any

from trialwatch.errors import StoreError
from trialwatch.model import Change, Event

TABLE = """
CREATE TABLE IF NOT EXISTS events (
  nct TEXT, seen TEXT, made_on TEXT, old_snapshot TEXT, new_snapshot TEXT,
  kind TEXT, type TEXT, category TEXT, headline TEXT, rank INTEGER, body TEXT
);
CREATE INDEX IF NOT EXISTS events_seen ON events (seen);
CREATE INDEX IF NOT EXISTS events_trial ON events (nct, seen);
"""


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

    def values(self) -> tuple[Any, ...]:
        """The row as the table holds it, in COLUMNS order (its body as JSON text)."""
        return (*astuple(self)[:-1], json.dumps(self.body, sort_keys=True))

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
        }


# The table's columns: the fields of a Row, in order.
COLUMNS = tuple(f.name for f in fields(Row))


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
        category = mine[0].category.value if mine else "other"
        out.append(row("event", e.type.value, category, e.headline, e.rank, body))
    for c in changes:
        if c.material and c.id not in explained:
            out.append(row("change", c.kind.value, c.category.value, c.sentence, 1000, c.to_json()))
    return out


def ensure(conn: sqlite3.Connection) -> None:
    """The table and its indexes (statement by statement: executescript would commit the
    caller's transaction)."""
    for statement in TABLE.split(";"):
        if statement.strip():
            conn.execute(statement)


def insert(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """File rows (inside the caller's transaction)."""
    ensure(conn)
    conn.executemany(
        f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        [r.values() for r in rows],
    )


def forget(conn: sqlite3.Connection, nct: str) -> None:
    """Drop a trial's rows (before they are filed again from its snapshots)."""
    ensure(conn)
    conn.execute("DELETE FROM events WHERE nct = ?", (nct,))


def query(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    types: list[str] | None = None,
    categories: list[str] | None = None,
    trials: list[str] | None = None,
) -> Iterator[Row]:
    """Rows, oldest first, that match every filter given."""
    where, args = [], []
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
    sql = f"SELECT {', '.join(COLUMNS)} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seen, nct, rank, rowid"
    try:
        ensure(conn)
        cursor = conn.execute(sql, args)
        for stored in cursor:
            try:
                body = json.loads(stored[-1] or "{}")
            except ValueError:
                body = {}
            yield Row(**dict(zip(COLUMNS[:-1], stored[:-1], strict=True)), body=body)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the stored events: {exc}") from None
