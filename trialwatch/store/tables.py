"""The parts of a store whose everything is rows: snapshots, pending changes, registry versions
and search members in tables beside the state's, in SQL both engines run. The PostgreSQL adapter
(store/postgres/) and the in-memory one (store/memory/) are this, each with its own connection,
its own way to know which runs are alive, and its own bulk load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from trialwatch.changes.normalize import NORMALIZER_VERSION, canonical_json, compact_json
from trialwatch.errors import CorruptSnapshotError, StoreError
from trialwatch.ids import is_nct_id
from trialwatch.record import Fetched, ensure_shallow
from trialwatch.sanitize import RecordShapeError
from trialwatch.sanitize import loads as safe_loads
from trialwatch.store.markers import marker_of, markers_of_many, put_marker
from trialwatch.store.port import (
    Bookkeeping,
    Snapshot,
    Trusted,
    latest_fields,
    snapshot_sort_key,
)
from trialwatch.store.queries import QueryStore
from trialwatch.store.snapshots import snapshot_body, study_of
from trialwatch.store.state import StateTables
from trialwatch.store.versions import (
    VERSION_FORMAT,
    StoredVersion,
    VersionStore,
    version_payload,
)

if TYPE_CHECKING:
    from trialwatch.registry.history import HistoryIndex, VersionInfo
    from trialwatch.search.query import Query


class TablePending:
    """Changes not yet reported (pending.py says what they mean), as rows."""

    def __init__(self, db: StateTables) -> None:
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

    def get_many(self, ncts: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            for nct, marker in markers_of_many(self._query, "pending", ncts):
                # A damaged row is read again by get, which says so and mends it.
                read = marker if marker is not None else self.get(nct)
                if read is not None:
                    found[nct] = read
        except self.db.errors as exc:
            raise StoreError(f"cannot read the pending changes in {self.db.path}: {exc}") from None
        return found

    def _query(self, sql: str, args: Sequence[str]) -> list[Any]:
        return list(self.db.conn.execute(sql, args).fetchall())

    def put(self, nct: str, run: str, outputs: dict[str, str], durable: bool = True) -> None:
        """Record what is pending (nothing: the row goes); durable when its transaction
        commits, whatever ``durable`` says."""
        with self.db.write() as conn:
            if not outputs:
                conn.execute("DELETE FROM pending WHERE nct = ?", (nct,))
                return
            put_marker(conn, "pending", nct, run, outputs)


class TableVersionStore(VersionStore):
    """The registry's versions of each trial, as rows (versions.py says what they hold)."""

    def __init__(self, store: TablesStore) -> None:
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


class TableQueryStore(QueryStore):
    """Each search watch's members as one row (queries.py)."""

    def __init__(self, db: StateTables) -> None:
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


class TablesStore(Bookkeeping):
    """A store kept in tables: what the PostgreSQL and in-memory adapters share."""

    db: StateTables
    label: str
    pending: TablePending
    runs: Any  # the adapter's own: which runs are alive

    @property
    def run_id(self) -> str:
        return str(self.runs.run_id)

    @property
    def notes(self) -> list[str]:
        return [*self.db.notes, *self.pending.damaged]

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
        ensure_shallow(fetched)
        body = snapshot_body(fetched, compact=True)
        day = fetched.fetched_at[:10]
        with self.db.write() as conn:
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
        return TableVersionStore(self)

    def queries(self) -> QueryStore:
        return TableQueryStore(self.db)
