"""The PostgreSQL store's tables, versioned: each release that changes them adds a step to
MIGRATIONS, and the first connection of a newer trialwatch runs the steps a database lacks (under
an advisory lock, so two starting runs never migrate at once; each step in one transaction).
A database written by a newer trialwatch than this one is refused, not damaged.

The tables hold what the folder store keeps in files and in state.db, under the same names and
columns: SQL written for one runs on the other (see the README's "For teams and the whole
registry" for queries)."""

from __future__ import annotations

import re
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
    # 3 (trialwatch 0.7): every event row's position (the cursor of events --after), given in
    # the order rows were stored; the indexes each filter of trialwatch events is answered from
    [
        "ALTER TABLE events ADD COLUMN pos BIGINT",
        "UPDATE events SET pos = rowid",
        "CREATE UNIQUE INDEX events_pos ON events (pos)",
        "CREATE INDEX events_type ON events (type, seen)",
        "CREATE INDEX events_category ON events (category, seen)",
        "CREATE INDEX events_day ON events ((coalesce(made_on, substr(seen, 1, 10))))",
        "INSERT INTO meta (key, value) SELECT 'events_position', coalesce(max(pos), 0)::text "
        "FROM events ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


# Every table the migrations make: a database that holds one of them before trialwatch made
# any is another application's, and is never written.
TABLES = tuple(
    dict.fromkeys(
        re.match(r"\s*CREATE TABLE (\w+)", statement).group(1)  # type: ignore[union-attr]
        for step in MIGRATIONS
        for statement in step
        if statement.lstrip().startswith("CREATE TABLE")
    )
)
# PostgreSQL's error codes for a role that may not create tables where it connects.
_NO_RIGHTS = {"42501": "permission denied", "3F000": "no schema to create them in"}


def migrate(raw: Any, label: str) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had."""
    try:
        return _migrate(raw, label)
    except StoreError:
        raise
    except Exception as exc:
        code = getattr(exc, "sqlstate", None)
        if code not in _NO_RIGHTS:
            raise
        raise StoreError(
            f"the PostgreSQL role cannot create trialwatch's tables in {label} "
            f"({_NO_RIGHTS[code]}: {str(exc).strip().splitlines()[0]}); GRANT CREATE ON SCHEMA "
            "public TO the role (or the schema its search_path names), or use a database it owns"
        ) from None


def _migrate(raw: Any, label: str) -> int:
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s, 0)", (MIGRATION_LOCK,))
        if not _exists(raw, "schema_version"):
            # A database trialwatch never used: none of its tables may be there already.
            taken = [t for t in TABLES if _exists(raw, t)]
            if taken:
                raise StoreError(
                    f"the PostgreSQL database {label} is not trialwatch's: it already holds "
                    f"tables of another application ({', '.join(taken)}), which trialwatch "
                    "leaves alone; point the store at an empty database (createdb trialwatch), "
                    "or at a schema of its own (?options=-csearch_path%3Dtrialwatch)"
                )
            raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        try:
            row = raw.execute("SELECT max(version) FROM schema_version").fetchone()
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != "42703":  # no column "version"
                raise
            raise StoreError(
                f"the PostgreSQL database {label} is not trialwatch's: its schema_version table "
                "belongs to another application; point the store at an empty database"
            ) from None
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


def _exists(raw: Any, table: str) -> bool:
    """Whether the connection's search path finds a table of that name."""
    row = raw.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])
