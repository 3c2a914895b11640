"""Where an audit reads records from: the store's latest snapshots (and the one before, for
enrollment jumps) or JSON files holding one record, a snapshot, a list of records or a page of
search results. Never the network."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trialwatch.audit.report import AuditedTrial
from trialwatch.audit.signals import audit_record
from trialwatch.changes.baseline import title_of
from trialwatch.changes.sentences import get
from trialwatch.errors import CorruptSnapshotError, StoreError, TrialwatchError
from trialwatch.record import record_id
from trialwatch.store.port import Store
from trialwatch.store.snapshots import load_json, study_of


def audited(
    nct: str,
    record: dict[str, Any],
    today: dt.date,
    grace_days: int,
    previous: dict[str, Any] | None = None,
    source: str | None = None,
) -> AuditedTrial:
    status = get(record, "protocolSection", "statusModule", "overallStatus")
    return AuditedTrial(
        nct_id=nct,
        title=title_of(record),
        status=status if isinstance(status, str) else None,
        source=source,
        signals=audit_record(record, today, grace_days=grace_days, previous=previous),
    )


def from_store(store: Store, nct: str, today: dt.date, grace_days: int) -> AuditedTrial:
    """Audit a trial's latest snapshot; a missing or damaged one is that trial's error."""
    try:
        files = store.snapshots(nct)
        if not files:
            return AuditedTrial(
                nct, error=f"no snapshot in {store.label}; check it first (trialwatch check {nct})"
            )
        latest = store.read(files[-1])
        previous = None
        if len(files) > 1:
            try:
                previous = store.read(files[-2]).record
            except StoreError:
                previous = None  # only the enrollment jump needs it
    except TrialwatchError as exc:
        return AuditedTrial(nct, error=str(exc))
    return audited(nct, latest.record, today, grace_days, previous, latest.name)


def records_in_file(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Every study record in a JSON file, with where it came from."""
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        items: list[Any] = data["studies"]
    elif isinstance(data, list):
        items = data
    else:
        record, _, _ = study_of(data, str(path))
        yield record, path.name
        return
    for i, item in enumerate(items):
        if isinstance(item, dict) and record_id(item) is not None:
            yield item, f"{path.name}, record {i + 1}"
        else:
            raise CorruptSnapshotError(f"{path}: item {i + 1} is not a study record")
