"""The folder adapter (adapter.py): the embedded default store — snapshot files git can track,
the state in SQLite, pending changes (pending.py) and a dry run's throwaway copy (preview.py)."""

from trialwatch.store.folder.adapter import SnapshotStore

__all__ = ["SnapshotStore"]
