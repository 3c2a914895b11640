"""The PostgreSQL store's tables, versioned: each release that changes them adds a step to
MIGRATIONS, and the first connection of a newer trialwatch runs the steps a database lacks (under
an advisory lock, so two starting runs never migrate at once; each step in one transaction).
A database written by a newer trialwatch than this one is refused, not damaged.

The tables hold what the folder store keeps in files and in state.db, under the same names and
columns: SQL written for one runs on the other (see the README's "For teams and the whole
registry" for queries)."""

from __future__ import annotations

from typing import Any

from trialwatch.errors import StoreError

# Advisory lock namespaces (the first of pg_advisory_lock's two keys).
MIGRATION_LOCK = 0x7477_0001
RUN_LOCKS = 0x7477_0002
TRIAL_LOCKS = 0x7477_0003

MIGRATIONS: list[list[str]] = [
    # 1 (trialwatch 0.6): the store
    [
        """CREATE TABLE trials (
            nct TEXT PRIMARY KEY, latest TEXT, digest TEXT, raw TEXT, normalizer INTEGER,
            file_size BIGINT, file_mtime BIGINT, file_sha256 TEXT, dir_mtime BIGINT,
            last_checked TEXT, last_changed TEXT, last_error TEXT, last_outcome TEXT,
            status TEXT, title TEXT, checks INTEGER, last_update TEXT)""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        """CREATE TABLE log (
            rowid BIGSERIAL PRIMARY KEY, at TEXT, nct TEXT, outcome TEXT, snapshot TEXT)""",
        "CREATE INDEX log_trial ON log (nct)",
        """CREATE TABLE snapshots (
            nct TEXT, name TEXT, fetched_at TEXT, body TEXT NOT NULL, PRIMARY KEY (nct, name))""",
        "CREATE TABLE pending (nct TEXT PRIMARY KEY, run TEXT, outputs TEXT NOT NULL)",
        """CREATE TABLE registry_versions (
            nct TEXT, version INTEGER, body TEXT NOT NULL, PRIMARY KEY (nct, version))""",
        "CREATE TABLE registry_index (nct TEXT PRIMARY KEY, body TEXT NOT NULL)",
        "CREATE TABLE query_members (query TEXT PRIMARY KEY, body TEXT NOT NULL)",
        """CREATE TABLE query_log (
            rowid BIGSERIAL PRIMARY KEY, query TEXT, at TEXT, nct TEXT, change TEXT,
            batch BIGINT)""",
        """CREATE TABLE events (
            rowid BIGSERIAL PRIMARY KEY, nct TEXT, seen TEXT, made_on TEXT,
            old_snapshot TEXT, new_snapshot TEXT, kind TEXT, type TEXT, category TEXT,
            headline TEXT, rank INTEGER, body TEXT)""",
        "CREATE INDEX events_seen ON events (seen)",
        "CREATE INDEX events_trial ON events (nct, seen)",
    ],
    # 2 (trialwatch 0.6): registry-wide sync, its work queue and the shared request pace
    [
        """CREATE TABLE sync_jobs (
            nct TEXT PRIMARY KEY, reason TEXT NOT NULL, state TEXT NOT NULL,
            record TEXT, claimed_by TEXT, lease_until DOUBLE PRECISION,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, queued_at TEXT)""",
        "CREATE INDEX sync_jobs_todo ON sync_jobs (state, lease_until)",
        "CREATE TABLE pacer (host TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(raw: Any, label: str) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had."""
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s, 0)", (MIGRATION_LOCK,))
        raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = raw.execute("SELECT max(version) FROM schema_version").fetchone()
        have = int(row[0]) if row and row[0] is not None else 0
        if have > SCHEMA_VERSION:
            raise StoreError(
                f"the PostgreSQL store {label} was written by a newer trialwatch (schema "
                f"{have}, this one knows {SCHEMA_VERSION}); upgrade trialwatch to use it"
            )
        for number in range(have + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                raw.execute(statement)
            raw.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
    return have
