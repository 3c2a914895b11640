"""The store's port: what the check pipeline, the reports and every command ask of a store,
whichever it is, in trialwatch's own types. Adapters: the folder + SQLite store (snapshots.py,
the embedded default) and PostgreSQL (postgres.py, for teams and the whole registry); the
factory that picks one is store/open.py, outside this module (no adapter is imported here).
The test suite in tests/ runs against each.

A snapshot is named by its file name (``2026-11-25.json``, ``2026-11-25_2.json``) in both;
``snapshots()`` gives addresses whose ``.name`` is that name and which ``read()`` takes."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Protocol, cast

from trialwatch.record import Fetched

if TYPE_CHECKING:
    from trialwatch.store.events import Row as EventRow
    from trialwatch.store.jobs import Job, Progress
    from trialwatch.store.ledger import SignalLedger
    from trialwatch.store.queries import QueryStore
    from trialwatch.store.state import StateTables
    from trialwatch.store.unit import SqlUnit
    from trialwatch.store.versions import VersionStore

# A snapshot's name: the day it was fetched, and a number for a second one that day.
SNAPSHOT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:_(\d+))?\.json$")


@dataclass
class Snapshot:
    nct_id: str
    path: PurePath  # a file of a folder store; NCT…/name in a database
    record: dict[str, Any]
    fetched_at: str | None
    url: str | None

    @property
    def name(self) -> str:
        return self.path.name


def snapshot_sort_key(name: str) -> tuple[str, int]:
    match = SNAPSHOT_NAME.match(name)
    if not match:
        return ("", 0)
    return (match.group(1), int(match.group(2) or 1))


@dataclass
class Trusted:
    """The latest snapshot of a trial as the state knows it, checked against the file."""

    name: str
    digest: str | None  # None until a comparison needed it (a baseline stores none)
    raw: str | None


# An output no run has delivered to for this long is no longer kept for (a channel removed).
OUTPUT_MEMORY_DAYS = 60


class PendingPort(Protocol):
    """Changes stored but not yet reported, per trial and output (see pending.py)."""

    damaged: list[str]

    def trials(self) -> set[str]: ...

    def get(self, nct: str) -> dict[str, Any] | None: ...

    def get_many(self, ncts: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What ``get`` answers for each of these trials, read at once (those with nothing
        pending left out): a run's delivery asks for a page of trials in one read."""
        ...

    def put(self, nct: str, run: str, outputs: dict[str, str], durable: bool = True) -> None: ...


class RunsPort(Protocol):
    """Which trialwatch runs are alive."""

    run_id: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def alive(self, run_id: str) -> bool: ...

    def tidy(self) -> None: ...


class Store(Protocol):
    """One store: snapshots, run state, pending changes, registry versions, search members,
    signals and event rows."""

    label: str  # how messages name it: a folder, or a database URL without its password
    # What sets this adapter apart, declared rather than discovered: "files" (snapshots are
    # files a person can read and git can track), "persistent" (kept after the process ends),
    # "shared" (many machines may use it at once).
    capabilities: frozenset[str]

    @property
    def folder(self) -> Path | None:
        """The snapshot folder of a folder store; None for a database."""

    @property
    def pending(self) -> PendingPort: ...

    @property
    def runs(self) -> RunsPort: ...

    @property
    def run_id(self) -> str: ...

    @property
    def notes(self) -> list[str]: ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...

    def trials(self) -> list[str]: ...

    def snapshots(self, nct_id: str) -> Sequence[PurePath]: ...

    def latest(self, nct_id: str) -> Snapshot | None: ...

    def read(self, ref: PurePath) -> Snapshot: ...

    def snapshot_named(self, nct_id: str, name: str) -> Snapshot | None: ...

    def state(self, nct_id: str) -> dict[str, Any]: ...

    def rows(self, nct_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def trusted(self, nct_id: str, row: dict[str, Any]) -> Trusted | None: ...

    def save(self, fetched: Fetched, durable: bool = True) -> PurePath:
        """Store a new version of a record under a new name. A record nested deeper than
        sanitize.MAX_DEPTH is refused (RecordShapeError) and nothing is written."""

    def sync_files(self) -> None:
        """Make what was saved without ``durable`` durable (a no-op for a database)."""

    def note_check(
        self,
        nct_id: str,
        when: str,
        outcome: str,
        error: str | None = None,
        last_update: str | None = None,
    ) -> None: ...

    def flush_checks(self) -> None: ...

    def run_state(self) -> dict[str, Any]: ...

    def save_run_state(self, state: dict[str, Any]) -> None: ...

    def outputs_in_use(self, days: float = OUTPUT_MEMORY_DAYS) -> list[str]: ...

    def note_delivery(self, output: str) -> None: ...

    def versions(self) -> VersionStore: ...

    def queries(self) -> QueryStore: ...

    # -- units of work, and what is read outside them ----------------------------------------

    def unit(self, key: str | None = None) -> contextlib.AbstractContextManager[SqlUnit]:
        """One unit of work: its writes commit together, or none does. ``key`` names what it
        reads and then writes (a trial): other runs' units on the same key wait for it."""

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Units opened inside commit together at its end, where a store gains by it (one
        transaction, not one a unit); a unit that fails is still undone alone, and what waits
        for a commit (a baseline's file) waits for the batch's. A store whose units each lock
        a trial (PostgreSQL) commits each unit on its own: a batch there holds no lock."""

    def row(self, nct_id: str) -> dict[str, Any]:
        """A trial's state row (empty when the store knows nothing of it)."""

    def meta(self, key: str) -> Any:
        """A value the store keeps under ``key`` (None when none)."""

    def close(self) -> None:
        """Let go of what the store holds open (connections)."""

    # -- every change as rows, and the signals told ------------------------------------------

    def query_events(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        types: list[str] | None = None,
        categories: list[str] | None = None,
        trials: list[str] | None = None,
        seen_since: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[EventRow]:
        """Event rows that match (store/events.py says how each filter reads); with ``after``
        (a cursor: a row's position), the rows stored after it, in the order stored."""

    def signals(self) -> SignalLedger:
        """Which transparency signals each output was last told, per trial."""

    def wait_for_events(self, seconds: float) -> bool:
        """Return once rows may have been stored, at the latest after ``seconds``: True when
        the store said so (PostgreSQL's notifications), False when the time ran out."""

    # -- the sync queue and the request pace ---------------------------------------------------

    def claim_jobs(self, worker: str, n: int, lease: float) -> list[Job]: ...

    def jobs_waiting(self) -> int: ...

    def job_failed(self, nct_id: str, worker: str, error: str) -> None: ...

    def release_jobs(self, worker: str) -> None: ...

    def job_progress(self) -> Progress: ...

    def take_slot(self, host: str, interval: float) -> tuple[float, float]:
        """The next free moment to ask ``host`` (shared by every worker of the store), moved on
        by ``interval``: (that moment, now) by the store's clock."""


class SqlBacked(Protocol):
    """What a unit of work asks of an adapter whose state lives in SQL tables."""

    @property
    def db(self) -> StateTables: ...

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
    ) -> None: ...

    def baselines(self, conn: Any, found: Sequence[Fetched]) -> None:
        """Each record as its trial's first snapshot, with its state row (``first_state``),
        the check that found it (``first_check``) and its log line, in the caller's unit."""


class Bookkeeping:
    """What both stores keep the same way, in the state's tables: the checks of a run (written
    with each batch and at its end), the last run's state, and which outputs runs deliver
    to."""

    db: StateTables
    _checks: list[tuple[str, str, str, str | None, str | None]]

    def note_check(
        self,
        nct_id: str,
        when: str,
        outcome: str,
        error: str | None = None,
        last_update: str | None = None,
    ) -> None:
        """Remember that a check happened (and the record's last-update date, when read);
        written with the batch or at the run's end (flush_checks)."""
        self._checks.append((nct_id, when, outcome, error, last_update))

    def flush_checks(self) -> None:
        checks, self._checks = self._checks, []
        self.db.record_checks(checks)

    def run_state(self) -> dict[str, Any]:
        """What the last run over the watch list saw."""
        data = self.db.meta("run")
        return data if isinstance(data, dict) else {}

    def save_run_state(self, state: dict[str, Any]) -> None:
        self.db.set_meta("run", state)

    def outputs_in_use(self, days: float = OUTPUT_MEMORY_DAYS) -> list[str]:
        """Outputs (mail, channels) a run delivered to in the last ``days`` days."""
        data = self.db.meta("outputs")
        if not isinstance(data, dict):
            return []
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
        return sorted(o for o, at in data.items() if isinstance(at, str) and at >= cutoff)

    def note_delivery(self, output: str) -> None:
        """Remember that ``output`` was delivered to now (runs without it keep changes for it)."""
        with self.db.transaction(key="outputs") as conn:
            data = self.db.meta("outputs")
            data = data if isinstance(data, dict) else {}
            data[output] = dt.datetime.now(dt.UTC).isoformat()
            self.db.set_meta("outputs", data, conn)

    # -- units of work, and what is read outside them ----------------------------------------

    @contextlib.contextmanager
    def unit(self, key: str | None = None) -> Iterator[SqlUnit]:
        from trialwatch.store.unit import SqlUnit

        with self.db.transaction(key=key) as conn:
            # Every adapter built on Bookkeeping keeps its state in SQL tables (SqlBacked).
            yield SqlUnit(cast("SqlBacked", self), conn)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        # One SQLite transaction: its write lock keeps other runs out until the end, so no
        # unit inside waits on another run's (no lock taken in two orders). The checks noted
        # so far go with it: a long list's run holds none of them until its end.
        with self.db.transaction():
            yield
            self.flush_checks()

    def row(self, nct_id: str) -> dict[str, Any]:
        return self.db.row(nct_id)

    def meta(self, key: str) -> Any:
        return self.db.meta(key)

    def close(self) -> None:
        self.db.close()

    def query_events(self, **filters: Any) -> list[EventRow]:
        from trialwatch.store import events

        return list(events.query(self.db.conn, events.Filter(**filters)))

    def signals(self) -> SignalLedger:
        from trialwatch.store.ledger import SignalLedger

        return SignalLedger(self.db)

    def wait_for_events(self, seconds: float) -> bool:
        """A store with no notifications: the follower looks again after ``seconds``."""
        time.sleep(seconds)
        return False

    # -- the sync queue and the request pace ---------------------------------------------------

    def claim_jobs(self, worker: str, n: int, lease: float) -> list[Job]:
        from trialwatch.store import jobs

        return jobs.claim(self.db, worker, n, lease)

    def jobs_waiting(self) -> int:
        from trialwatch.store import jobs

        return jobs.waiting(self.db)

    def job_failed(self, nct_id: str, worker: str, error: str) -> None:
        from trialwatch.store import jobs

        jobs.failed(self.db, nct_id, worker, error)

    def release_jobs(self, worker: str) -> None:
        from trialwatch.store import jobs

        jobs.release(self.db, worker)

    def job_progress(self) -> Progress:
        from trialwatch.store import jobs

        return jobs.progress(self.db)

    def take_slot(self, host: str, interval: float) -> tuple[float, float]:
        from trialwatch.store.pace import take_slot

        return take_slot(self.db, host, interval)


def latest_fields(
    latest: str,
    record_digest: str | None,
    raw: str | None,
    status: str | None,
    title: str | None,
    changed_at: str | None,
) -> dict[str, Any]:
    """The state's columns that say which snapshot is a trial's latest (``remember``); the
    status, title and change time only when given."""
    from trialwatch.changes.normalize import NORMALIZER_VERSION

    fields: dict[str, Any] = {
        "latest": latest,
        "digest": record_digest,
        "raw": raw,
        "normalizer": NORMALIZER_VERSION,
    }
    from trialwatch.sanitize import one_line

    for column, value in (("status", status), ("title", title), ("last_changed", changed_at)):
        if value is not None:
            # Registry text reaches no column unsanitised (a U+0000 stops PostgreSQL).
            fields[column] = one_line(value) if column != "last_changed" else value
    return fields


def first_state(fetched: Fetched) -> dict[str, Any]:
    """What the state keeps of a trial from its first snapshot (status, title, when)."""
    from trialwatch.changes.baseline import title_of
    from trialwatch.changes.sentences import get
    from trialwatch.sanitize import one_line

    status = get(fetched.record, "protocolSection", "statusModule", "overallStatus")
    return {
        "status": one_line(status) if isinstance(status, str) else None,
        "title": title_of(fetched.record),
        "changed_at": fetched.fetched_at,
    }


def first_check(fetched: Fetched) -> dict[str, Any]:
    """The check that stored a baseline, as the state keeps a check (``flush_checks``): a
    baseline written by ``baselines`` needs no ``note_check``."""
    from trialwatch.record import last_update

    return {
        "last_checked": fetched.fetched_at,
        "last_outcome": "new",
        "checks": 1,
        "last_update": last_update(fetched.record),
    }
