"""The PostgreSQL store: the same store as the snapshot folder (base.py's interface), in one
database that several people, CI jobs and sync workers share. Chosen with
``--store postgresql://…`` (or ``TRIALWATCH_STORE``, or ``store`` in the config); needs the
optional extra ``pip install 'trialwatch[postgres]'`` (psycopg 3).

What the folder keeps in files is rows here (schema.py has the tables): a snapshot is a row of
``snapshots`` holding the JSON a snapshot file holds (on one line), a pending change a row of
``pending``. A change is stored, marked pending and its events filed in one transaction, so a
run killed at any point leaves the last good snapshot and every unreported change.

Overlapping runs: a run holds a session advisory lock while it lives (so others can tell it is
alive, and a killed run's lock goes with its connection); a check of one trial takes a
transaction advisory lock on that trial, so two runs never store or claim the same change twice.
The schema is versioned and migrated by trialwatch itself on first use (schema.py)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trialwatch.changes.normalize import NORMALIZER_VERSION
from trialwatch.errors import StoreError
from trialwatch.record import Fetched
from trialwatch.store.port import first_check, first_state
from trialwatch.store.postgres.schema import RUN_LOCKS, TRIAL_LOCKS, migrate
from trialwatch.store.snapshots import snapshot_body
from trialwatch.store.state import StateTables
from trialwatch.store.tables import TablePending, TablesStore

if TYPE_CHECKING:
    import psycopg


log = logging.getLogger("trialwatch")

INSTALL_ADVICE = "install it with: pip install 'trialwatch[postgres]'"


def driver() -> Any:
    """psycopg, or a StoreError that says how to install it."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"a PostgreSQL store needs the psycopg driver, which is not installed; {INSTALL_ADVICE}"
        ) from None
    return psycopg


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:
        return url.split("@")[-1] if "@" in url else url
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "")
    port = f":{parts['port']}" if parts.get("port") else ""
    where = host if "/" not in host else "local socket"
    return f"postgresql://{user}{where}{port}/{parts.get('dbname') or ''}"


@functools.lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """The state's portable SQL (``?`` parameters) as psycopg takes it (``%s``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConn:
    """A psycopg connection that runs the state's portable SQL."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(_dialect(sql), [_text(p) for p in params])

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = [[_text(p) for p in row] for row in rows]
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(_dialect(sql), rows)


def _text(value: Any) -> Any:
    """A parameter as a PostgreSQL text column can hold it: never a U+0000, which it refuses
    (registry text is sanitised before it gets here; this is the last guard)."""
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def connect(url: str, label: str) -> psycopg.Connection[Any]:
    psycopg = driver()
    try:
        return psycopg.connect(url, autocommit=True, application_name="trialwatch")  # type: ignore[no-any-return]
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"cannot connect to the PostgreSQL store {label}: {reason}; check that the server "
            "is running and that the URL's host, port, user, password and database are right"
        ) from None


class PgState(StateTables):
    """The state's tables in PostgreSQL, on one connection per store object."""

    dialect = "postgresql"

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.path = label
        self.notes: list[str] = []
        self.errors = (driver().Error,)
        self._raw: psycopg.Connection[Any] | None = None
        self._conn: PgConn | None = None
        self._outer: contextlib.ExitStack | None = None
        self._depth = 0  # this store's transactions open (the outer one, then savepoints)
        self._locked: set[str] = set()  # keys the open transaction holds

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def conn(self) -> PgConn:
        if self._conn is None:
            raw = connect(self.url, self.path)
            try:
                migrate(raw, self.path)
            except BaseException:
                raw.close()
                raise
            self._raw, self._conn = raw, PgConn(raw)
        return self._conn

    @contextlib.contextmanager
    def transaction(self, key: str | None = None) -> Iterator[PgConn]:
        """One transaction (a savepoint inside another). ``key`` names what it reads and then
        writes (a trial): other runs' transactions on the same key wait for this one."""
        conn = self.conn
        assert self._raw is not None
        self._depth += 1
        taken: str | None = None  # the key locked at this level
        try:
            with self._raw.transaction():
                # A key the transaction holds already (a worker's job, then its comparison)
                # is held until the transaction ends: not asked for again.
                if key is not None and key not in self._locked:
                    conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (TRIAL_LOCKS, key))
                    self._locked.add(taken := key)
                yield conn
        except BaseException as exc:
            # A savepoint rolled back releases the locks taken after it.
            self._locked.discard(taken or "")
            if isinstance(exc, self.errors):
                raise StoreError(
                    f"could not write the PostgreSQL store {self.path}: {exc}"
                ) from None
            raise
        finally:
            self._depth -= 1
            if not self._depth:
                self._locked.clear()

    def hold_all(self) -> None:
        """From now on nothing is committed: a dry run's outer transaction, rolled back at
        close()."""
        _connected = self.conn
        assert self._raw is not None
        self._outer = contextlib.ExitStack()
        self._outer.enter_context(self._raw.transaction(force_rollback=True))

    def close(self) -> None:
        if self._outer is not None:
            with contextlib.suppress(Exception):
                self._outer.close()
            self._outer = None
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
        self._raw, self._conn = None, None


class PgRuns:
    """Which runs are alive: each holds a session advisory lock on its id for its lifetime, on
    a connection of its own (a killed run's connection closes, and its lock with it)."""

    def __init__(self, url: str, label: str) -> None:
        self.url, self.label = url, label
        self.run_id = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        self._raw: psycopg.Connection[Any] | None = None

    def _probe(self) -> psycopg.Connection[Any]:
        if self._raw is None:
            self._raw = connect(self.url, self.label)
        return self._raw

    def start(self) -> None:
        if self._raw is not None:
            return
        self._probe().execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (RUN_LOCKS, self.run_id))

    def stop(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
            self._raw = None

    def alive(self, run_id: str) -> bool:
        if not run_id:
            return False
        if run_id == self.run_id:
            return self._raw is not None
        conn = self._probe()
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (RUN_LOCKS, run_id)
        ).fetchone()
        if row and row[0]:  # nobody holds it: that run has ended
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (RUN_LOCKS, run_id))
            return False
        return True

    def tidy(self) -> None:
        """Nothing to tidy: a dead run's lock went with its connection."""


class PostgresStore(TablesStore):
    """The store in one PostgreSQL database."""

    capabilities = frozenset({"persistent", "shared"})

    def __init__(self, url: str, *, dry_run: bool = False) -> None:
        self.url = url
        self.label = redacted(url)
        self.folder = None
        self.db: PgState = PgState(url, self.label)
        self.pending = TablePending(self.db)
        self.runs = PgRuns(url, self.label)
        self.dry_run = dry_run
        self._listener: psycopg.Connection[Any] | None = None  # events --follow's
        self._depth = 0
        self._checks: list[tuple[str, str, str, str | None, str | None]] = []

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store for one run (see SnapshotStore.locked); a dry run's writes are
        all rolled back at its end."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.runs.start()
        self._depth = 1
        try:
            if self.dry_run:
                self.db.hold_all()
            yield
        finally:
            self._depth = 0
            try:
                self.flush_checks()
            except StoreError as exc:
                log.warning("could not record this run's checks: %s", exc)
            finally:
                self.runs.stop()
                self.db.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Each unit commits on its own (see port.Store.batch): a unit locks its trial until
        its transaction ends, and one transaction holding a page's trials could wait for
        another run holding some of them in another order."""
        yield

    def wait_for_events(self, seconds: float) -> bool:
        """Listen for the rows other runs store (``NOTIFY`` at their commit), on a connection
        of its own, for at most ``seconds``."""
        from trialwatch.store.events import CHANNEL

        if self._listener is None:
            self._listener = connect(self.url, self.label)
            self._listener.execute(f"LISTEN {CHANNEL}")
        try:
            return any(True for _ in self._listener.notifies(timeout=seconds, stop_after=1))
        except driver().Error as exc:
            raise StoreError(f"lost the PostgreSQL store {self.label} ({exc})") from None

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None
        self.db.close()

    def baselines(self, conn: Any, found: Sequence[Fetched]) -> None:
        """First snapshots (see port.Store), a batch at once, by COPY: the snapshots, the
        state rows (through a temporary table, for the upsert) and their log lines; four
        statements a batch, where a statement a row cost the server more than the COPY of
        the records themselves."""
        if not found:
            return
        names = []
        for f in found:
            self._check_id(f.nct_id)
            names.append(f"{f.fetched_at[:10]}.json")
        with conn.raw.cursor() as cur:
            with cur.copy("COPY snapshots (nct, name, fetched_at, body) FROM STDIN") as copy:
                for f, name in zip(found, names, strict=True):
                    copy.write_row((f.nct_id, name, f.fetched_at, snapshot_body(f, compact=True)))
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS baseline_rows (nct TEXT, latest TEXT, raw TEXT, "
                "status TEXT, title TEXT, changed_at TEXT, last_update TEXT) ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                "COPY baseline_rows (nct, latest, raw, status, title, changed_at, last_update) "
                "FROM STDIN"
            ) as copy:
                for f, name in zip(found, names, strict=True):
                    s, c = first_state(f), first_check(f)
                    copy.write_row((f.nct_id, name, f.fingerprint, s["status"], s["title"],
                                    s["changed_at"], c["last_update"]))  # fmt: skip
            cur.execute(
                "INSERT INTO trials (nct, latest, digest, raw, normalizer, status, title, "
                "last_changed, last_checked, last_outcome, checks, last_update) "
                "SELECT nct, latest, NULL, raw, %s, status, title, changed_at, changed_at, "
                "'new', 1, last_update FROM baseline_rows ORDER BY nct "
                "ON CONFLICT (nct) DO UPDATE SET latest = excluded.latest, digest = NULL, "
                "raw = excluded.raw, normalizer = excluded.normalizer, status = excluded.status, "
                "title = excluded.title, last_changed = excluded.last_changed, "
                "last_checked = excluded.last_checked, last_outcome = 'new', "
                "checks = coalesce(trials.checks, 0) + 1, last_update = excluded.last_update",
                (NORMALIZER_VERSION,),
            )
            cur.execute("DELETE FROM baseline_rows")  # a savepoint's rows gone with it too
            with cur.copy("COPY log (at, nct, outcome, snapshot) FROM STDIN") as copy:
                for f, name in zip(found, names, strict=True):
                    copy.write_row((f.fetched_at, f.nct_id, "new", name))
