"""Everything on disk: snapshots (one file per observed version of a record), the store's own
bookkeeping, and atomic file writes."""

from trialwatch.store.folder import SnapshotStore
from trialwatch.store.port import Snapshot
from trialwatch.store.snapshots import read_record_file

__all__ = ["Snapshot", "SnapshotStore", "read_record_file"]
