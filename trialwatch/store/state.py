"""The store's bookkeeping, kept apart from the snapshots so that an unchanged check touches no
file that git tracks::

    <store>/.trialwatch/
      .gitignore          "*": the folder keeps itself (and everything in it) out of git
      state.db            SQLite: per trial the latest snapshot and its fingerprints, last
                          checked / changed / error, status and title; the run log; run state
      pending/NCT….json   changes stored but not yet reported, per output (see pending.py;
                          a baseline not yet told is a row of state.db's ``untold``)
      runs/ID.lock        held (flock) by each running trialwatch for its lifetime

Everything in ``state.db`` can be rebuilt from the snapshots: a damaged one is moved aside
(``state.db.damaged-…``) and started afresh, costing a slower next check and at most the news of
baselines not yet told (``untold``). What must never be lost (changes not yet reported) lives in
the pending files, not here.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from trialwatch.errors import (
    NO_SPACE_ADVICE,
    NotStoredError,
    OutOfSpaceError,
    StoreError,
    no_space,
    os_reason,
)

log = logging.getLogger("trialwatch")

BOOKKEEPING = ".trialwatch"
# Seconds a run waits for another run's short write to the state before giving up.
BUSY_TIMEOUT = 60.0

COLUMNS = (
    "latest",
    "digest",
    "raw",
    "normalizer",
    "file_size",
    "file_mtime",
    "file_sha256",
    "dir_mtime",
    "last_checked",
    "last_changed",
    "last_error",
    "last_outcome",
    "status",
    "title",
    "checks",
    "last_update",  # the record's last-update-posted date (two-phase checks compare it)
)

_KNOWN = frozenset(COLUMNS)


@functools.cache
def _put_sql(names: tuple[str, ...]) -> str:
    """StateTables.put's statement for these columns (a run puts the same few thousands of
    times): the row made when missing (no checks yet, unless given), the columns set either
    way."""
    if not names:
        return "INSERT INTO trials (nct, checks) VALUES (?, 0) ON CONFLICT (nct) DO NOTHING"
    made = "" if "checks" in names else "checks, "
    return (
        f"INSERT INTO trials (nct, {made}{', '.join(names)}) "
        f"VALUES (?, {'0, ' if made else ''}{', '.join('?' * len(names))}) "
        "ON CONFLICT (nct) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in names)
    )


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS trials (nct TEXT PRIMARY KEY, {", ".join(COLUMNS)});
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS log (at TEXT, nct TEXT, outcome TEXT, snapshot TEXT);
CREATE TABLE IF NOT EXISTS sync_jobs (nct TEXT PRIMARY KEY, reason TEXT NOT NULL,
  state TEXT NOT NULL, record TEXT, claimed_by TEXT, lease_until REAL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, queued_at TEXT);
CREATE INDEX IF NOT EXISTS sync_jobs_todo ON sync_jobs (state, lease_until);
CREATE TABLE IF NOT EXISTS pacer (host TEXT PRIMARY KEY, next_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS untold (nct TEXT PRIMARY KEY, run TEXT NOT NULL, outputs TEXT NOT NULL);
"""


def bookkeeping_dir(root: Path) -> Path:
    return Path(root) / BOOKKEEPING


def temp_dir(root: Path) -> Path:
    """Where the store's atomic writes make their temp files: never beside a file git sees."""
    return bookkeeping_dir(root) / "tmp"


def ensure_bookkeeping(root: Path) -> Path:
    """Create ``.trialwatch/`` with a ``.gitignore`` that keeps it out of git."""
    folder = bookkeeping_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            ignore.write_text(
                "# trialwatch's bookkeeping: rebuilt when missing, never worth committing\n*\n",
                encoding="utf-8",
            )
    return folder


NOT_WRITABLE_ADVICE = (
    "run trialwatch as the user who owns the store, or give this user write access"
)
# Below this many free bytes a SQLite error on opening is taken for a full disk, not damage.
LOW_SPACE = 256 * 1024


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return LOW_SPACE  # cannot tell: not taken for a full disk


def _writable(path: Path) -> bool:
    """Can this user write the file (when it exists) and its folder?"""
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(path.parent, os.W_OK)


def _intact(path: Path) -> bool | None:
    """Does the state file read as a sound database? True: yes (the trouble is elsewhere);
    None: damaged; False: there is no file to read."""
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return True if row and row[0] == "ok" else None


class StateTables(abc.ABC):
    """The state's tables (trials, meta, log), read and written in SQL both engines run: the
    SQLite file of a folder store (StateDB) and PostgreSQL (store/postgres.py). A subclass
    gives ``conn`` (``?`` parameters), ``transaction()`` and the engine's ``errors``."""

    path: Any
    notes: list[str]  # said once to the user (a damaged state moved aside)
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    dialect = "sqlite"  # or "postgresql": the few statements that differ (a claim's lock)

    @property
    @abc.abstractmethod
    def conn(self) -> Any: ...

    @abc.abstractmethod
    def transaction(self, key: str | None = None) -> contextlib.AbstractContextManager[Any]: ...

    @property
    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """Whether one of this object's transactions is open (a write then joins it)."""

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        """A write of a statement or two: in the transaction already open, when there is one
        (no savepoint of its own, two round trips fewer on a server: if it fails, it fails the
        transaction around it, which is undone to its own start), else in one of its own."""
        if self.in_transaction:
            yield self.conn
            return
        with self.transaction() as conn:
            yield conn

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- trials ---------------------------------------------------------------------------------

    def row(self, nct: str) -> dict[str, Any]:
        return self.rows([nct]).get(nct, {})

    def rows(self, ncts: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(ncts)
        out: dict[str, dict[str, Any]] = {}
        cols = ", ".join(COLUMNS)
        try:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cur = self.conn.execute(
                    f"SELECT nct, {cols} FROM trials WHERE nct IN ({marks})", chunk
                )
                for values in cur:
                    out[values[0]] = dict(zip(COLUMNS, values[1:], strict=True))
        except self.errors as exc:
            raise StoreError(f"cannot read the store's state {self.path}: {exc}") from None
        return out

    def put(self, conn: Any, nct: str, fields: dict[str, Any]) -> None:
        """Set some columns of one trial (inside a transaction)."""
        names = tuple(c for c in fields if c in _KNOWN)
        conn.execute(_put_sql(names), [nct, *(fields[c] for c in names)])

    def record_checks(self, checks: list[tuple[str, str, str, str | None, str | None]]) -> None:
        """Many checks at once: (nct, when, outcome, error, last update posted). One
        transaction for a whole run."""
        if not checks:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO trials (nct, checks) VALUES (?, 0) ON CONFLICT (nct) DO NOTHING",
                [(c[0],) for c in sorted(checks)],  # one order: two runs never deadlock
            )
            conn.executemany(
                "UPDATE trials SET last_checked = ?, last_outcome = ?, last_error = ?, "
                "checks = coalesce(checks, 0) + 1, last_update = coalesce(?, last_update) "
                "WHERE nct = ?",
                [
                    (when, outcome, error, lu, nct)
                    for nct, when, outcome, error, lu in sorted(checks)
                ],
            )
            conn.executemany(
                "INSERT INTO log (at, nct, outcome, snapshot) VALUES (?, ?, ?, NULL)",
                # New and changed trials were logged with their snapshot when it was stored.
                [
                    (when, nct, outcome)
                    for nct, when, outcome, _e, _u in checks
                    if outcome == "error"
                ],
            )

    def log_line(self, conn: Any, at: str, nct: str, outcome: str, snap: str) -> None:
        conn.execute(
            "INSERT INTO log (at, nct, outcome, snapshot) VALUES (?, ?, ?, ?)",
            (at, nct, outcome, snap),
        )

    def log_of(self, nct: str) -> list[tuple[str, str, str | None]]:
        cur = self.conn.execute(
            "SELECT at, outcome, snapshot FROM log WHERE nct = ? ORDER BY rowid", (nct,)
        )
        return [(str(a), str(o), s) for a, o, s in cur]

    # -- run state ------------------------------------------------------------------------------

    def meta(self, key: str, conn: Any | None = None) -> Any:
        """A value kept under ``key`` (None when none); ``conn``: read in that transaction."""
        try:
            row = (
                (conn or self.conn)
                .execute("SELECT value FROM meta WHERE key = ?", (key,))
                .fetchone()
            )
        except self.errors:
            return None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return None

    def set_meta(self, key: str, value: Any, conn: Any | None = None) -> None:
        text = json.dumps(value, sort_keys=True)
        sql = (
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        if conn is not None:
            conn.execute(sql, (key, text))
            return
        with self.transaction() as c:
            c.execute(sql, (key, text))


class StateDB(StateTables):
    """Per-trial bookkeeping in one SQLite file. Writes are short transactions, so two runs
    (a long watch-list run and a one-trial check) can share the store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = bookkeeping_dir(root) / "state.db"
        self.notes: list[str] = []  # said once to the user (a damaged state moved aside)
        self._conn: sqlite3.Connection | None = None
        self._depth = 0  # transactions open (the outer one, then savepoints)
        self._after: list[Callable[[], None]] = []  # what waits for the open one's commit

    # -- connection ---------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        # Not bound to the thread that opened it: a connection may be opened by a read-ahead
        # thread and closed by the main one (the request pace's); its users take turns.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        from trialwatch.store import events

        conn.executescript(_SCHEMA)
        events.ensure(conn)
        have = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
        for column in COLUMNS:
            if column not in have:  # a state from an earlier version: add what it lacks
                conn.execute(f"ALTER TABLE trials ADD COLUMN {column}")
        conn.execute("SELECT count(*) FROM trials").fetchone()
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            ensure_bookkeeping(self.root)
        except OSError as exc:
            raise StoreError(
                f"cannot use the snapshot folder {self.root}: {os_reason(exc)}"
            ) from None
        try:
            return self._connect()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"the store's state {self.path} stayed locked by another trialwatch run for "
                    f"{BUSY_TIMEOUT:.0f}s; try again when it has finished"
                ) from None
            self._unusable(exc)
            return self._quarantine(exc)
        except sqlite3.DatabaseError as exc:
            self._unusable(exc)
            return self._quarantine(exc)

    def _unusable(self, exc: sqlite3.Error) -> None:
        """Raise when the state cannot be opened for a reason that is not damage (a full disk,
        a file or folder this user may not write): moving it aside would cost its contents and
        mend nothing. Returns when the file itself is damaged."""
        if no_space(exc) or _free_bytes(self.path.parent) < LOW_SPACE:
            raise OutOfSpaceError(
                f"cannot open the store's state {self.path}: {NO_SPACE_ADVICE}"
            ) from None
        readable = _intact(self.path)
        if readable is None:
            return  # damaged: set aside and rebuilt
        if readable and not _writable(self.path):
            raise StoreError(
                f"cannot write the store's state {self.path} ({exc}): this user may not write "
                f"it or its folder; {NOT_WRITABLE_ADVICE}"
            ) from None
        if readable:
            raise StoreError(f"cannot open the store's state {self.path}: {exc}") from None

    def _quarantine(self, exc: Exception) -> sqlite3.Connection:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = self.path.with_name(f"state.db.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        self.notes.append(
            f"the store's state {self.path} was damaged ({exc}); moved it to {aside.name} and "
            "rebuilt it from the snapshots (no change is lost; this check is slower)"
        )
        log.warning("%s", self.notes[-1])
        try:
            return self._connect()
        except sqlite3.Error as again:
            raise StoreError(f"cannot create the store's state {self.path}: {again}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do ``action`` once the open transaction has committed (now, when none is open);
        never, when it rolls back. An action that fails raises from the transaction's end."""
        if self._depth:
            self._after.append(action)
        else:
            action()

    @contextlib.contextmanager
    def transaction(self, key: str | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction: other runs wait (up to BUSY_TIMEOUT) while it is open (so
        ``key``, which names what PostgreSQL would lock alone, is not needed here). Inside
        another, a savepoint: what fails in it is undone, the outer transaction goes on."""
        conn = self.conn
        if self._depth:
            yield from self._savepoint(conn)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if no_space(exc):
                raise _write_error(self.path, exc) from None
            raise StoreError(
                f"the store's state {self.path} is busy ({exc}); another trialwatch run held it "
                f"for more than {BUSY_TIMEOUT:.0f}s. Try again later"
            ) from None
        self._depth = 1
        try:
            yield conn
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _write_error(self.path, exc) from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
            after, self._after = self._after, []
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _write_error(self.path, exc) from None
        failed: StoreError | None = None
        reasons: dict[str, str] = {}  # of the files not put, each trial's own
        for action in after:  # each, though one failed: the others' files are still wanted
            try:
                action()
            except NotStoredError as exc:
                reasons.update(exc.reasons)
            except StoreError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        if reasons:
            raise NotStoredError(reasons)

    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        name = f"tw{self._depth}"
        self._depth += 1
        waiting = len(self._after)
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            del self._after[waiting:]  # undone with the savepoint
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1


def _write_error(path: Path, exc: sqlite3.Error) -> StoreError:
    if no_space(exc):
        return OutOfSpaceError(f"could not write the store's state {path}: {NO_SPACE_ADVICE}")
    if "readonly" in str(exc):
        return StoreError(
            f"could not write the store's state {path} ({exc}): this user may not write it; "
            f"{NOT_WRITABLE_ADVICE}"
        )
    return StoreError(f"could not write the store's state {path}: {exc}")
