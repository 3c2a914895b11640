"""Where everything is kept: the port (port.py), the factory (open.py), and the adapters
(folder/, postgres/, memory/). Nothing is imported here up front: importing the port, or the
snapshot format, costs no adapter (start-up matters to a command run from cron)."""

from __future__ import annotations

from typing import Any

__all__ = ["Snapshot", "SnapshotStore", "read_record_file"]


def __getattr__(name: str) -> Any:
    if name == "SnapshotStore":
        from trialwatch.store.folder import SnapshotStore

        return SnapshotStore
    if name == "Snapshot":
        from trialwatch.store.port import Snapshot

        return Snapshot
    if name == "read_record_file":
        from trialwatch.store.snapshots import read_record_file

        return read_record_file
    raise AttributeError(f"module 'trialwatch.store' has no attribute {name!r}")
