"""What a test reads of the store under test, whichever it is: the snapshot folder (the
default, ./snapshots) or the PostgreSQL database TRIALWATCH_STORE names (the each_store
fixture). Read through trialwatch's own store interface, or with plain SQL on its tables."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trialwatch.store.open import is_database_url, open_store


def spec() -> str:
    return os.environ.get("TRIALWATCH_STORE", "snapshots")


def on_database() -> bool:
    return is_database_url(spec())


def process_env() -> dict[str, str]:
    """The store under test, for a trialwatch process (a database; the folder is its default)."""
    return {"TRIALWATCH_STORE": spec()} if on_database() else {}


def pending_trials() -> set[str]:
    """Trials with a change not yet reported to every output."""
    store = open_store(spec())
    try:
        return store.pending.trials()
    finally:
        store.close()


def snapshot_names(nct: str) -> list[str]:
    """A trial's stored snapshots, oldest first."""
    store = open_store(spec())
    try:
        return [p.name for p in store.snapshots(nct)]
    finally:
        store.close()


def trials() -> list[str]:
    """The trials with a snapshot."""
    store = open_store(spec())
    try:
        return store.trials()
    finally:
        store.close()


def snapshot_count() -> int:
    """Snapshots stored, of every trial."""
    store = open_store(spec())
    try:
        return sum(len(store.snapshots(n)) for n in store.trials())
    finally:
        store.close()


def latest_record(nct: str) -> dict[str, Any] | None:
    store = open_store(spec())
    try:
        snap = store.latest(nct)
        return snap.record if snap else None
    finally:
        store.close()


def query_members(query_id: str) -> set[str] | None:
    store = open_store(spec())
    try:
        return store.queries().members(query_id)
    finally:
        store.close()


def version_numbers(nct: str) -> set[int]:
    """The registry versions of a trial stored by backfill."""
    store = open_store(spec())
    try:
        return store.versions().numbers(nct)
    finally:
        store.close()


def sql(query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Plain SQL on the store's tables (``?`` parameters), committed: what a user runs in
    sqlite3 or psql."""
    if on_database():
        import psycopg

        with psycopg.connect(spec(), autocommit=True) as conn:
            cur = conn.execute(query.replace("?", "%s"), params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []
    with sqlite3.connect(f"{spec()}/.trialwatch/state.db") as db:
        return db.execute(query, params).fetchall()


def delete_snapshot(nct: str, name: str) -> None:
    """Lose one snapshot, as a hand deletion or a restore from an older backup does."""
    if on_database():
        sql("DELETE FROM snapshots WHERE nct = ? AND name = ?", (nct, name))
    else:
        (Path(spec()) / nct / name).unlink()


def damage_snapshot(nct: str, name: str) -> None:
    """Make one snapshot unreadable (half a file, as a full disk or a bad restore leaves it)."""
    if on_database():
        sql("UPDATE snapshots SET body = ? WHERE nct = ? AND name = ?", ('{"study": {', nct, name))
    else:
        (Path(spec()) / nct / name).write_text('{"study": {', encoding="utf-8")
