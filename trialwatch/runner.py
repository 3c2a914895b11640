"""The core of ``trialwatch check``: fetch each trial, compare with its latest snapshot, store a
new snapshot when the record changed, and build the run's report. No printing here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from trialwatch.client import Fetched, RegistryClient, utc_now
from trialwatch.differ import diff_records
from trialwatch.errors import FetchError, StoreError, TrialwatchError
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.normalize import digest
from trialwatch.store import SnapshotStore
from trialwatch.summary import baseline, title_of

log = logging.getLogger("trialwatch")


@dataclass
class CheckOptions:
    ignore: Sequence[str] = ()
    show_admin: bool = False
    progress: Callable[[str], None] | None = None
    extra_errors: list[TrialReport] = field(default_factory=list)


def observe(store: SnapshotStore, fetched: Fetched, options: CheckOptions) -> TrialReport:
    """Compare a fetched record with the store and record it. Never raises for one trial's
    trouble: that becomes an error report and the store keeps its last good snapshot."""
    nct = fetched.nct_id
    report = TrialReport(nct_id=nct, outcome=Outcome.UNCHANGED, title=title_of(fetched.record))
    if fetched.alias_of:
        report.alias_of = fetched.requested_id
        report.notes.append(f"{fetched.requested_id} is now {nct} (the registry redirected it)")
    try:
        new_digest = digest(fetched.record)
        stored_digest = store.latest_digest(nct)
        if stored_digest is not None and stored_digest == new_digest:
            latest_name = store.snapshots(nct)[-1].name
            report.previous_snapshot = latest_name
            store.record_check(
                nct, fetched.fetched_at, "unchanged", record_digest=new_digest, latest=latest_name
            )
            return report
        previous = store.latest(nct)
        if previous is None:
            path = store.save(fetched)
            report.outcome = Outcome.NEW
            report.snapshot = path.name
            report.baseline = baseline(fetched.record)
            store.record_check(
                nct,
                fetched.fetched_at,
                "new",
                record_digest=new_digest,
                latest=path.name,
                changed=True,
            )
            return report
        report.previous_snapshot = previous.name
        changes, context = diff_records(nct, previous.record, fetched.record, options.ignore)
        report.context = context
        report.changes = changes if options.show_admin else [c for c in changes if c.material]
        if digest(previous.record) == new_digest:
            # Same content; only the stored state was stale (a crash, or an older trialwatch).
            store.record_check(
                nct, fetched.fetched_at, "unchanged", record_digest=new_digest, latest=previous.name
            )
            report.changes = []
            return report
        path = store.save(fetched)
        report.snapshot = path.name
        material = [c for c in changes if c.material]
        report.outcome = Outcome.CHANGED if material else Outcome.UNCHANGED
        store.record_check(
            nct,
            fetched.fetched_at,
            report.outcome.value,
            record_digest=new_digest,
            latest=path.name,
            changed=bool(material),
        )
    except StoreError as exc:
        report.outcome = Outcome.ERROR
        report.error = str(exc)
    return report


def error_report(nct_id: str, exc: TrialwatchError, store: SnapshotStore | None) -> TrialReport:
    report = TrialReport(nct_id=nct_id, outcome=Outcome.ERROR, error=str(exc))
    if store is not None:
        try:
            store.trial_dir(nct_id)
            if store.snapshots(nct_id):
                store.record_check(nct_id, utc_now(), "error", error=str(exc))
                report.notes.append("not checked this time; its last snapshot is kept")
        except StoreError:
            pass
    return report


def check_each(
    nct_ids: Iterable[str],
    client: RegistryClient,
    store: SnapshotStore,
    options: CheckOptions,
) -> RunReport:
    """Check trials one request each (``GET /studies/{id}``)."""
    run = RunReport(generated_at=utc_now())
    run.trials.extend(options.extra_errors)
    with store.locked():
        for nct in nct_ids:
            if options.progress:
                options.progress(nct)
            try:
                fetched = client.fetch_study(nct)
            except FetchError as exc:
                run.trials.append(error_report(nct, exc, store))
                continue
            run.trials.append(observe(store, fetched, options))
    return run
