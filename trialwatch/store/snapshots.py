"""The snapshot store: one folder per trial, one file per observed version of its record.

Layout (documented in the README)::

    snapshots/
      NCT06224738/
        2026-11-25.json      the record as fetched, in {"fetched": …, "study": …}
        2026-11-25_2.json    a second version seen the same UTC day
      .trialwatch/           bookkeeping, out of git (see state.py and pending.py)

Only snapshots live in the trial folders, and a snapshot is written only when the record
changed: an unchanged check modifies no file that git tracks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from trialwatch.changes.normalize import (
    canonical_json,
    compact_json,
)
from trialwatch.errors import CorruptSnapshotError, StoreError, os_reason
from trialwatch.record import Fetched, record_id
from trialwatch.sanitize import RecordShapeError
from trialwatch.sanitize import loads as safe_loads
from trialwatch.store.port import (
    Snapshot,
)

log = logging.getLogger("trialwatch")

SNAPSHOT_FORMAT = 1


def study_of(data: Any, source: str) -> tuple[dict[str, Any], str | None, str | None]:
    """The study record inside any file trialwatch reads: a stored snapshot
    ``{fetched, study}``, a history version ``{studyVersion, study}``, ``{study}``, or a bare
    API record. Returns (record, fetched_at, url)."""
    if isinstance(data, dict) and isinstance(data.get("study"), dict):
        fetched = data.get("fetched")
        if not isinstance(fetched, dict):
            fetched = {}
        record = data["study"]
        at, url = fetched.get("at"), fetched.get("url")
    else:
        record, at, url = data, None, None
    if not isinstance(record, dict) or record_id(record) is None:
        raise CorruptSnapshotError(
            f"{source} is not a study record (no protocolSection.identificationModule.nctId)"
        )
    return record, at if isinstance(at, str) else None, url if isinstance(url, str) else None


def read_record_file(path: Path) -> Snapshot:
    record, at, url = study_of(load_json(path), str(path))
    nct = record_id(record) or path.parent.name
    return Snapshot(nct, path, record, at, url)


def load_json(path: Path) -> Any:
    """A JSON file trialwatch reads (a snapshot, a record, a download), parsed safely; a file
    that cannot be read or is not JSON is a StoreError that says so."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {os_reason(exc)}") from None
    try:
        return safe_loads(raw)
    except RecordShapeError as exc:
        raise CorruptSnapshotError(f"{path} is not a study record: {exc}") from None
    except ValueError as exc:
        raise CorruptSnapshotError(
            f"{path} is not valid JSON ({exc}); restore it (for example with git checkout) "
            "or move it aside, then check again"
        ) from None


def snapshot_body(fetched: Fetched, compact: bool = False) -> str:
    """A snapshot as stored: the record and where and when it was fetched. A folder's file is
    indented (git shows a change line by line); a database's row is the same JSON on one line
    (written three times faster)."""
    if compact and fetched.text is not None:  # the record's own text, not encoded again
        about = compact_json(_fetched_about(fetched)).rstrip()
        head = f'{{"fetched":{about},"format":{SNAPSHOT_FORMAT},"study":'
        return f"{head}{fetched.text.strip()}}}\n"
    return (compact_json if compact else canonical_json)(snapshot_payload(fetched))


def snapshot_payload(fetched: Fetched) -> dict[str, Any]:
    """A snapshot as JSON data (what snapshot_body writes)."""
    return {"fetched": _fetched_about(fetched), "format": SNAPSHOT_FORMAT, "study": fetched.record}


def _fetched_about(fetched: Fetched) -> dict[str, Any]:
    return {"at": fetched.fetched_at, "url": fetched.url, "requested_id": fetched.requested_id}
