"""A unit of work on a store: what it writes commits together, or none of it does. Callers say
what to write in trialwatch's own words (a log line, a state row, event rows, sync jobs); the
adapter behind it speaks its SQL. No caller holds a connection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from trialwatch.record import Fetched
from trialwatch.store import events, jobs

if TYPE_CHECKING:
    from trialwatch.store.port import SqlBacked


class SqlUnit:
    """The unit of work of a store whose state lives in SQL tables (the folder's SQLite, and
    PostgreSQL): one transaction."""

    def __init__(self, store: SqlBacked, conn: Any) -> None:
        self._store = store
        self._conn = conn

    # -- the state of each trial -------------------------------------------------------------

    def log(self, at: str, nct: str, outcome: str, snapshot: str) -> None:
        """A line of the trial's log: what a run found and the snapshot it stored."""
        self._store.db.log_line(self._conn, at, nct, outcome, snapshot)

    def remember(
        self,
        nct: str,
        *,
        latest: str,
        record_digest: str | None,
        raw: str | None,
        status: str | None = None,
        title: str | None = None,
        changed_at: str | None = None,
    ) -> None:
        """Which snapshot is the trial's latest, what it holds, and when it last changed."""
        self._store.remember(
            self._conn,
            nct,
            latest=latest,
            record_digest=record_digest,
            raw=raw,
            status=status,
            title=title,
            changed_at=changed_at,
        )

    def put_state(self, nct: str, fields: dict[str, Any]) -> None:
        self._store.db.put(self._conn, nct, fields)

    def meta(self, key: str) -> Any:
        """A value the store keeps under ``key``, read in this unit (None when none)."""
        return self._store.db.meta(key, self._conn)

    def set_meta(self, key: str, value: Any) -> None:
        self._store.db.set_meta(key, value, self._conn)

    def baselines(self, found: Sequence[Fetched]) -> None:
        """Each record as its trial's first snapshot (a sync's bootstrap)."""
        self._store.baselines(self._conn, found)

    # -- every change as rows ------------------------------------------------------------------

    def file_events(self, rows: Iterable[events.Row]) -> None:
        events.insert(self._conn, rows)

    def forget_events(self, nct: str) -> None:
        events.forget(self._conn, nct)

    # -- the sync queue --------------------------------------------------------------------------

    def enqueue(self, found: list[tuple[str, str, str | None]]) -> None:
        """(trial, reason, record text) jobs; a trial queued already is queued again."""
        jobs.enqueue(self._conn, found)

    def still_mine(self, nct: str, worker: str) -> bool:
        """Is the trial's job still this worker's (not taken over, nor queued anew)?"""
        return jobs.still_mine(self._conn, nct, worker)

    def job_done(self, nct: str, worker: str) -> None:
        jobs.done(self._conn, nct, worker)

    def forget_done_jobs(self) -> None:
        jobs.forget_done(self._conn)
