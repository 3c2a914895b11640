"""The in-memory adapter: the whole store in this process's memory (an SQLite database that
never touches a disk, with the same tables as PostgreSQL's), gone when the process ends. For
the unit tests, for trying trialwatch (``--store memory:``), and as the third adapter that
proves the port speaks trialwatch's own types."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from trialwatch.changes.normalize import NORMALIZER_VERSION
from trialwatch.errors import StoreError
from trialwatch.record import Fetched
from trialwatch.store import events
from trialwatch.store.port import first_check, first_state
from trialwatch.store.snapshots import snapshot_body
from trialwatch.store.state import _SCHEMA, StateDB
from trialwatch.store.tables import TablePending, TablesStore

SPEC = "memory:"

# What PostgreSQL keeps in tables and a folder in files (store/postgres/schema.py).
_TABLES = """
CREATE TABLE IF NOT EXISTS snapshots (nct TEXT, name TEXT, fetched_at TEXT, body TEXT NOT NULL,
  PRIMARY KEY (nct, name));
CREATE TABLE IF NOT EXISTS pending (nct TEXT PRIMARY KEY, run TEXT, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_versions (nct TEXT, version INTEGER, body TEXT NOT NULL,
  PRIMARY KEY (nct, version));
CREATE TABLE IF NOT EXISTS registry_index (nct TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS query_members (query TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


class MemoryState(StateDB):
    """The state's tables in an SQLite database held in memory (the folder's transactions and
    savepoints, without its file)."""

    def __init__(self) -> None:
        self.path = SPEC
        self.notes: list[str] = []
        self._conn: sqlite3.Connection | None = None
        self._depth = 0
        self._after: list[Any] = []

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.executescript(_SCHEMA + _TABLES)
        events.ensure(conn)
        return conn

    def close(self) -> None:
        """Kept: closing the connection would lose the store."""


class MemoryRuns:
    """Which runs are alive: in one process, only this store's own run, while it holds it."""

    def __init__(self) -> None:
        self.run_id = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        self._alive = False

    def start(self) -> None:
        self._alive = True

    def stop(self) -> None:
        self._alive = False

    def alive(self, run_id: str) -> bool:
        return bool(run_id) and run_id == self.run_id and self._alive

    def tidy(self) -> None:
        """Nothing to tidy: no run outlives its process."""


class MemoryStore(TablesStore):
    """The store in memory."""

    capabilities: frozenset[str] = (
        frozenset()
    )  # nothing on disk, nothing shared, gone with the process

    def __init__(self) -> None:
        self.label = "the in-memory store"
        self.folder = None
        self.db: MemoryState = MemoryState()
        self.pending = TablePending(self.db)
        self.runs = MemoryRuns()
        self._held = threading.RLock()
        self._depth = 0
        self._checks: list[tuple[str, str, str, str | None, str | None]] = []

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store for one run (see SnapshotStore.locked)."""
        with self._held:
            self._depth += 1
            if self._depth == 1:
                self.runs.start()
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    # The checks of a run are bookkeeping: never worth its report.
                    with contextlib.suppress(StoreError):
                        self.flush_checks()
                    self.runs.stop()

    def baselines(self, conn: Any, found: Sequence[Fetched]) -> None:
        """First snapshots (see port.Store), a batch at once, in the caller's unit of work."""
        if not found:
            return
        for f in found:
            self._check_id(f.nct_id)
        names = [f"{f.fetched_at[:10]}.json" for f in found]
        conn.executemany(
            "INSERT INTO snapshots (nct, name, fetched_at, body) VALUES (?, ?, ?, ?)",
            [
                (f.nct_id, name, f.fetched_at, snapshot_body(f, compact=True))
                for f, name in zip(found, names, strict=True)
            ],
        )
        for f, name in zip(found, names, strict=True):
            state = first_state(f)
            self.db.put(
                conn,
                f.nct_id,
                {
                    "latest": name,
                    "digest": None,
                    "raw": f.fingerprint,
                    "normalizer": NORMALIZER_VERSION,
                    "status": state["status"],
                    "title": state["title"],
                    "last_changed": state["changed_at"],
                    **first_check(f),
                },
            )
            self.db.log_line(conn, f.fetched_at, f.nct_id, "new", name)

    def close(self) -> None:
        """Nothing to let go: closing would lose the store."""
