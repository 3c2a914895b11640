"""The store a spec names: the factory, kept outside the port (store/port.py) so that the port
imports no adapter and no adapter imports back through it."""

from __future__ import annotations

from pathlib import Path

from trialwatch.store.port import Store


def is_database_url(spec: str | Path) -> bool:
    return str(spec).startswith(("postgresql://", "postgres://"))


def open_store(spec: str | Path, *, dry_run: bool = False) -> Store:
    """The store ``spec`` names: a PostgreSQL URL, ``memory:`` (nothing kept once the process
    ends), or a snapshot folder."""
    if str(spec) == "memory:":
        from trialwatch.store.memory import MemoryStore

        return MemoryStore()
    if is_database_url(spec):
        from trialwatch.store.postgres import PostgresStore

        return PostgresStore(str(spec), dry_run=dry_run)
    from trialwatch.store.folder import SnapshotStore

    return SnapshotStore(Path(spec))
