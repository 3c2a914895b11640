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
from pathlib import PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from trialwatch.changes.normalize import NORMALIZER_VERSION, canonical_json, compact_json
from trialwatch.errors import CorruptSnapshotError, StoreError
from trialwatch.record import Fetched
from trialwatch.registry.ids import is_nct_id
from trialwatch.sanitize import RecordShapeError
from trialwatch.sanitize import loads as safe_loads
from trialwatch.store.pending import marker_of, put_marker
from trialwatch.store.port import (
    Bookkeeping,
    Snapshot,
    Trusted,
    first_state,
    latest_fields,
    snapshot_sort_key,
)
from trialwatch.store.queries import QueryStore
from trialwatch.store.schema import RUN_LOCKS, TRIAL_LOCKS, migrate
from trialwatch.store.snapshots import snapshot_body, study_of
from trialwatch.store.state import StateTables
from trialwatch.store.versions import (
    VERSION_FORMAT,
    StoredVersion,
    VersionStore,
    version_payload,
)

if TYPE_CHECKING:
    import psycopg

    from trialwatch.registry.history import HistoryIndex, VersionInfo
    from trialwatch.search.query import Query

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
        try:
            with self._raw.transaction():
                if key is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (TRIAL_LOCKS, key))
                yield conn
        except self.errors as exc:
            raise StoreError(f"could not write the PostgreSQL store {self.path}: {exc}") from None

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


class PgPending:
    """Changes not yet reported (pending.py says what they mean), as rows."""

    def __init__(self, db: PgState) -> None:
        self.db = db
        self.damaged: list[str] = []

    def trials(self) -> set[str]:
        try:
            return {str(r[0]) for r in self.db.conn.execute("SELECT nct FROM pending")}
        except self.db.errors as exc:
            raise StoreError(f"cannot read the pending changes in {self.db.path}: {exc}") from None

    def get(self, nct: str) -> dict[str, Any] | None:
        try:
            row = self.db.conn.execute(
                "SELECT run, outputs FROM pending WHERE nct = ?", (nct,)
            ).fetchone()
        except self.db.errors as exc:
            raise StoreError(f"cannot read the pending changes in {self.db.path}: {exc}") from None
        if row is None:
            return None
        marker = marker_of(row)
        if marker is None:
            self.damaged.append(
                f"{nct}: its pending-change row was damaged; the latest change is reported "
                "again to be safe"
            )
            outputs = {"stdout": "?", "mail": "?"}
            self.put(nct, "", outputs)
            return {"run": "", "outputs": outputs}
        return marker

    def put(self, nct: str, run: str, outputs: dict[str, str], durable: bool = True) -> None:
        """Record what is pending (nothing: the row goes); durable when its transaction
        commits, whatever ``durable`` says."""
        with self.db.transaction() as conn:
            if not outputs:
                conn.execute("DELETE FROM pending WHERE nct = ?", (nct,))
                return
            put_marker(conn, "pending", nct, run, outputs)


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


class PgVersionStore(VersionStore):
    """The registry's versions of each trial, as rows (versions.py says what they hold)."""

    def __init__(self, store: PostgresStore) -> None:
        self.pg = store
        self.db = store.db

    def numbers(self, nct_id: str) -> set[int]:
        rows = self.db.conn.execute(
            "SELECT version FROM registry_versions WHERE nct = ?", (nct_id,)
        ).fetchall()
        return {int(r[0]) for r in rows}

    def save(
        self,
        nct_id: str,
        info: VersionInfo,
        study: dict[str, Any],
        url: str,
        fetched_at: str,
    ) -> PurePath:
        payload = version_payload(info, study, url, fetched_at)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO registry_versions (nct, version, body) VALUES (?, ?, ?) "
                "ON CONFLICT (nct, version) DO NOTHING",  # versions never change
                (nct_id, info.version, compact_json(payload)),
            )
        return self.ref(nct_id, info.version)

    def ref(self, nct_id: str, number: int) -> PurePath:
        return PurePosixPath(nct_id, "registry", f"v{number:04d}.json")

    def save_index(self, nct_id: str, index: HistoryIndex, fetched_at: str) -> None:
        body = canonical_json(
            {"format": VERSION_FORMAT, "fetched_at": fetched_at, "history": index.raw}
        )
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO registry_index (nct, body) VALUES (?, ?) "
                "ON CONFLICT (nct) DO UPDATE SET body = excluded.body",
                (nct_id, body),
            )

    def index(self, nct_id: str) -> HistoryIndex | None:
        from trialwatch.registry.history import HistoryUnavailable, parse_index

        row = self.db.conn.execute(
            "SELECT body FROM registry_index WHERE nct = ?", (nct_id,)
        ).fetchone()
        if row is None:
            return None
        try:
            data = safe_loads(row[0])
            return parse_index(data.get("history") if isinstance(data, dict) else None, nct_id)
        except (ValueError, RecordShapeError, HistoryUnavailable):
            return None

    def read(self, nct_id: str, number: int) -> StoredVersion:
        row = self.db.conn.execute(
            "SELECT body FROM registry_versions WHERE nct = ? AND version = ?", (nct_id, number)
        ).fetchone()
        where = f"{nct_id} version {number} in {self.db.path}"
        if row is None:
            raise CorruptSnapshotError(f"{where} is not stored; run backfill again")
        return self.parse(row[0], number, self.ref(nct_id, number), where)

    def key_parts(self, nct_id: str) -> list[str]:
        rows = self.db.conn.execute(
            "SELECT version, length(body) FROM registry_versions WHERE nct = ? ORDER BY version",
            (nct_id,),
        ).fetchall()
        return [f"v{v}:{n}" for v, n in rows]


class PgQueryStore(QueryStore):
    """Each search watch's members as one row (queries.py)."""

    def __init__(self, db: PgState) -> None:
        self.db = db

    def members(self, query_id: str) -> set[str] | None:
        row = self.db.conn.execute(
            "SELECT body FROM query_members WHERE query = ?", (query_id,)
        ).fetchone()
        if row is None:
            return None
        return self.parse_members(row[0], f"the members of search {query_id} in {self.db.path}")

    def write(self, query: Query, body: bytes) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO query_members (query, body) VALUES (?, ?) "
                "ON CONFLICT (query) DO UPDATE SET body = excluded.body",
                (query.id, body.decode("utf-8")),
            )


class PostgresStore(Bookkeeping):
    """The store in one PostgreSQL database."""

    def __init__(self, url: str, *, dry_run: bool = False) -> None:
        self.url = url
        self.label = redacted(url)
        self.folder = None
        self.db: PgState = PgState(url, self.label)
        self.pending = PgPending(self.db)
        self.runs = PgRuns(url, self.label)
        self.dry_run = dry_run
        self._depth = 0
        self._checks: list[tuple[str, str, str, str | None, str | None]] = []

    @property
    def run_id(self) -> str:
        return self.runs.run_id

    @property
    def notes(self) -> list[str]:
        return [*self.db.notes, *self.pending.damaged]

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

    # -- snapshots --------------------------------------------------------------------------

    def _check_id(self, nct_id: str) -> None:
        if not is_nct_id(nct_id):
            raise StoreError(f"refusing to use {nct_id!r} as a trial id")

    def trials(self) -> list[str]:
        rows = self.db.conn.execute("SELECT DISTINCT nct FROM snapshots ORDER BY nct").fetchall()
        return [str(r[0]) for r in rows]

    def snapshots(self, nct_id: str) -> list[PurePath]:
        self._check_id(nct_id)
        rows = self.db.conn.execute("SELECT name FROM snapshots WHERE nct = ?", (nct_id,))
        names = sorted((str(r[0]) for r in rows), key=snapshot_sort_key)
        return [PurePosixPath(nct_id, n) for n in names]

    def read(self, ref: PurePath) -> Snapshot:
        nct, name = ref.parent.name, ref.name
        row = self.db.conn.execute(
            "SELECT body FROM snapshots WHERE nct = ? AND name = ?", (nct, name)
        ).fetchone()
        where = f"snapshot {nct}/{name} in {self.label}"
        if row is None:
            raise StoreError(f"{where} is not stored")
        try:
            data = safe_loads(row[0])
        except (ValueError, RecordShapeError) as exc:
            raise CorruptSnapshotError(f"{where} is not a study record: {exc}") from None
        record, at, url = study_of(data, where)
        return Snapshot(nct, PurePosixPath(nct, name), record, at, url)

    def latest(self, nct_id: str) -> Snapshot | None:
        refs = self.snapshots(nct_id)
        return self.read(refs[-1]) if refs else None

    def snapshot_named(self, nct_id: str, name: str) -> Snapshot | None:
        self._check_id(nct_id)
        try:
            return self.read(PurePosixPath(nct_id, name))
        except CorruptSnapshotError:
            raise
        except StoreError:
            return None

    def state(self, nct_id: str) -> dict[str, Any]:
        return self.db.row(nct_id)

    def rows(self, nct_ids: list[str]) -> dict[str, dict[str, Any]]:
        return self.db.rows(nct_ids)

    def trusted(self, nct_id: str, row: dict[str, Any]) -> Trusted | None:
        """The state's digests of the latest snapshot: written in the snapshot's own
        transaction, so always the ones of the latest row."""
        name, record_digest = row.get("latest"), row.get("digest")
        if not isinstance(name, str) or not isinstance(record_digest, str | None):
            return None
        if row.get("normalizer") != NORMALIZER_VERSION:
            return None
        raw = row.get("raw")
        if record_digest is None and not isinstance(raw, str):
            return None
        return Trusted(name, record_digest, raw if isinstance(raw, str) else None)

    def save(self, fetched: Fetched, durable: bool = True) -> PurePath:
        """Store a new version of a record under a new name (never replacing one)."""
        nct = fetched.nct_id
        self._check_id(nct)
        body = snapshot_body(fetched, compact=True)
        day = fetched.fetched_at[:10]
        with self.db.transaction() as conn:
            taken = {
                str(r[0])
                for r in conn.execute(
                    "SELECT name FROM snapshots WHERE nct = ? AND name LIKE ?", (nct, f"{day}%")
                )
            }
            n = 1
            while (name := f"{day}.json" if n == 1 else f"{day}_{n}.json") in taken:
                n += 1
            conn.execute(
                "INSERT INTO snapshots (nct, name, fetched_at, body) VALUES (?, ?, ?, ?)",
                (nct, name, fetched.fetched_at, body),
            )
        return PurePosixPath(nct, name)

    def baselines(self, conn: Any, found: Sequence[Fetched]) -> None:
        """First snapshots (see base.Store), a batch at once: the snapshots by COPY, the
        state rows and their log in one statement each."""
        if not found:
            return
        rows = []
        for f in found:
            self._check_id(f.nct_id)
            rows.append(
                (
                    f.nct_id,
                    f"{f.fetched_at[:10]}.json",
                    f.fetched_at,
                    snapshot_body(f, compact=True),
                )
            )
        with conn.raw.cursor() as cur:
            with cur.copy("COPY snapshots (nct, name, fetched_at, body) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            states = [(f, first_state(f)) for f in found]
            cur.executemany(
                "INSERT INTO trials (nct, latest, digest, raw, normalizer, status, title, "
                "last_changed, checks) VALUES (%s, %s, NULL, %s, %s, %s, %s, %s, 0) "
                "ON CONFLICT (nct) DO UPDATE SET latest = excluded.latest, digest = NULL, "
                "raw = excluded.raw, normalizer = excluded.normalizer, status = excluded.status, "
                "title = excluded.title, last_changed = excluded.last_changed",
                [
                    (f.nct_id, row[1], f.fingerprint, NORMALIZER_VERSION, s["status"],
                     s["title"], s["changed_at"])
                    for (f, s), row in zip(states, rows, strict=True)
                ],
            )  # fmt: skip
            cur.executemany(
                "INSERT INTO log (at, nct, outcome, snapshot) VALUES (%s, %s, 'new', %s)",
                [(f.fetched_at, f.nct_id, row[1]) for f, row in zip(found, rows, strict=True)],
            )

    def sync_files(self) -> None:
        """Rows are durable when their transaction commits."""

    def remember(
        self,
        conn: Any,
        nct_id: str,
        *,
        latest: str,
        record_digest: str | None,
        raw: str | None,
        status: str | None = None,
        title: str | None = None,
        changed_at: str | None = None,
    ) -> None:
        fields = latest_fields(latest, record_digest, raw, status, title, changed_at)
        self.db.put(conn, nct_id, fields)

    def versions(self) -> VersionStore:
        return PgVersionStore(self)

    def queries(self) -> QueryStore:
        return PgQueryStore(self.db)
