"""A trial's stored versions, oldest first: how its status, dates and enrollment moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialwatch.changes.baseline import baseline
from trialwatch.changes.differ import compare
from trialwatch.changes.sentences import kind_word
from trialwatch.store import SnapshotStore


@dataclass
class Version:
    snapshot: str
    fetched_at: str | None
    last_update_posted: str | None
    status: str | None
    start: str | None
    primary_completion: str | None
    completion: str | None
    enrollment: str | None
    changes: list[str]  # headline sentences against the version before

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _date(value: Any) -> str | None:
    if value is None or not value.date:
        return None
    return f"{value.date} ({kind_word(value.type)})" if value.type else str(value.date)


def history(store: SnapshotStore, nct_id: str) -> list[Version]:
    """Every stored version of a trial, each with what changed from the one before."""
    out: list[Version] = []
    previous: dict[str, Any] | None = None
    for path in store.snapshots(nct_id):
        snap = store.read(path)
        b = baseline(snap.record)
        changes: list[str] = []
        if previous is not None:
            found = compare(nct_id, previous, snap.record)
            material = [c for c in found.changes if c.material]
            changes = [e.headline for e in found.events if not e.silent] or [
                c.sentence for c in material
            ][:3]
        enrollment = None
        if b.enrollment is not None:
            kind = f" ({kind_word(b.enrollment_type)})" if b.enrollment_type else ""
            enrollment = f"{b.enrollment}{kind}"
        out.append(
            Version(
                snapshot=path.name,
                fetched_at=snap.fetched_at,
                last_update_posted=b.last_update_posted,
                status=b.status,
                start=_date(b.start),
                primary_completion=_date(b.primary_completion),
                completion=_date(b.completion),
                enrollment=enrollment,
                changes=changes,
            )
        )
        previous = snap.record
    return out
