"""The work of a sync, as rows of ``sync_jobs`` in the store: one job per trial to compare
(its record staged with it when a page or the bulk file brought it; none when the worker has to
fetch it). Workers claim jobs with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
workers never take the same job; SQLite serialises its writers instead); a worker killed
mid-job loses its claim when the lease ends, and another takes the job over. A job is marked
done in the transaction that stores what its record changed, so a record is compared once.

States: ``todo`` → ``claimed`` → ``done``, or back to ``todo`` after a failure, and
``failed`` after MAX_ATTEMPTS."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from trialwatch.record import utc_now
from trialwatch.store.state import StateTables

MAX_ATTEMPTS = 5
LEASE_SECONDS = 600.0


@dataclass
class Job:
    nct: str
    reason: str  # "bulk file", "updated", "query", "sweep"
    record: str | None  # the record's JSON as the registry served it, or None: fetch it
    attempts: int


def enqueue(conn: Any, jobs: list[tuple[str, str, str | None]]) -> None:
    """Queue (nct, reason, record text) jobs inside the caller's transaction. A trial already
    queued is queued again with the newer record (a claim on it is dropped: its worker finds
    the job no longer its own and leaves it to the next)."""
    if not jobs:
        return
    now = utc_now()
    conn.executemany(
        "INSERT INTO sync_jobs (nct, reason, state, record, claimed_by, lease_until, attempts, "
        "last_error, queued_at) VALUES (?, ?, 'todo', ?, NULL, NULL, 0, NULL, ?) "
        "ON CONFLICT (nct) DO UPDATE SET reason = excluded.reason, state = 'todo', "
        "record = excluded.record, claimed_by = NULL, lease_until = NULL, attempts = 0, "
        "last_error = NULL, queued_at = excluded.queued_at",
        [(nct, reason, record, now) for nct, reason, record in sorted(jobs)],
    )


def waiting(db: StateTables) -> int:
    """Jobs a worker may claim now: waiting ones, and claimed ones whose lease ran out."""
    row = db.conn.execute(
        "SELECT count(*) FROM sync_jobs WHERE state = 'todo' OR (state = 'claimed' AND "
        "lease_until < ?)",
        (time.time(),),
    ).fetchone()
    return int(row[0]) if row else 0


def claim(db: StateTables, worker: str, n: int, lease: float = LEASE_SECONDS) -> list[Job]:
    """Up to ``n`` jobs for this worker: waiting ones, and claimed ones whose lease ran out."""
    now = time.time()
    lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    with db.transaction() as conn:
        rows = conn.execute(
            "UPDATE sync_jobs SET state = 'claimed', claimed_by = ?, lease_until = ?, "
            "attempts = attempts + 1 WHERE nct IN (SELECT nct FROM sync_jobs "
            "WHERE state = 'todo' OR (state = 'claimed' AND lease_until < ?) "
            f"ORDER BY nct LIMIT ?{lock}) RETURNING nct, reason, record, attempts",
            (worker, now + lease, now, n),
        ).fetchall()
    return sorted((Job(str(r[0]), str(r[1]), r[2], int(r[3])) for r in rows), key=lambda j: j.nct)


def still_mine(conn: Any, nct: str, worker: str) -> bool:
    """Inside the job's transaction: is the claim still this worker's (not taken over after
    its lease, nor queued again with a newer record)?"""
    row = conn.execute("SELECT state, claimed_by FROM sync_jobs WHERE nct = ?", (nct,)).fetchone()
    return row is not None and row[0] == "claimed" and row[1] == worker


def done(conn: Any, nct: str, worker: str) -> None:
    conn.execute(
        "UPDATE sync_jobs SET state = 'done', record = NULL, lease_until = NULL, "
        "last_error = NULL WHERE nct = ? AND claimed_by = ? AND state = 'claimed'",
        (nct, worker),
    )


def failed(db: StateTables, nct: str, worker: str, error: str) -> None:
    """A job that could not be done: back in the queue, or failed after MAX_ATTEMPTS."""
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sync_jobs SET state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'todo' END, "
            "claimed_by = NULL, lease_until = NULL, last_error = ? "
            "WHERE nct = ? AND claimed_by = ? AND state = 'claimed'",
            (MAX_ATTEMPTS, error, nct, worker),
        )


def release(db: StateTables, worker: str) -> None:
    """A worker stopping (interrupted) gives back what it claimed and did not do."""
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sync_jobs SET state = 'todo', claimed_by = NULL, lease_until = NULL, "
            "attempts = attempts - 1 WHERE claimed_by = ? AND state = 'claimed'",
            (worker,),
        )


def forget_done(conn: Any) -> None:
    """A new sync starts its counts afresh."""
    conn.execute("DELETE FROM sync_jobs WHERE state = 'done'")


@dataclass
class Progress:
    done: int = 0
    claimed: int = 0
    expired: int = 0  # claimed, but their lease ran out (a worker died): taken over next
    todo: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] | None = None  # (trial, last error) of failed jobs

    @property
    def total(self) -> int:
        return self.done + self.claimed + self.expired + self.todo + self.failed

    @property
    def left(self) -> int:
        return self.todo + self.claimed + self.expired


def progress(db: StateTables) -> Progress:
    now = time.time()
    out = Progress(errors=[])
    rows = db.conn.execute(
        "SELECT state, CASE WHEN state = 'claimed' AND lease_until < ? THEN 1 ELSE 0 END, "
        "count(*) FROM sync_jobs GROUP BY 1, 2",
        (now,),
    ).fetchall()
    for state, expired, count in rows:
        if state == "claimed" and expired:
            out.expired += int(count)
        elif state in ("done", "claimed", "todo", "failed"):
            setattr(out, str(state), getattr(out, str(state)) + int(count))
    out.errors = [
        (str(n), str(e or ""))
        for n, e in db.conn.execute(
            "SELECT nct, last_error FROM sync_jobs WHERE state = 'failed' ORDER BY nct LIMIT 20"
        ).fetchall()
    ]
    return out
