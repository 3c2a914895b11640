"""The core of ``trialwatch check``: fetch each trial, compare with its latest snapshot, store a
new snapshot when the record changed, and build the run's report. No printing here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trialwatch.client import Fetched, RegistryClient, utc_now
from trialwatch.differ import diff_records
from trialwatch.errors import FetchError, NotInRegistryError, StoreError, TrialwatchError
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.normalize import digest, raw_hash
from trialwatch.phrasing import get
from trialwatch.store import SnapshotStore
from trialwatch.summary import baseline, title_of

log = logging.getLogger("trialwatch")

# Trials in a row whose fetch failed after all retries before the rest of a run is skipped.
GIVE_UP_AFTER = 3


@dataclass
class CheckOptions:
    ignore: Sequence[str] = ()
    show_admin: bool = False
    progress: Callable[[str], None] | None = None
    extra_errors: list[TrialReport] = field(default_factory=list)
    # Called with each changed trial (and the run's time) once its snapshot is stored: the mail
    # outbox records it there, so a crash later in the run cannot lose it.
    on_change: Callable[[TrialReport, str], None] | None = None


def observe(store: SnapshotStore, fetched: Fetched, options: CheckOptions) -> TrialReport:
    """Compare a fetched record with the store and record it. Never raises for one trial's
    trouble: that becomes an error report and the store keeps its last good snapshot."""
    nct = fetched.nct_id
    report = TrialReport(nct_id=nct, outcome=Outcome.UNCHANGED, title=title_of(fetched.record))
    status = get(fetched.record, "protocolSection", "statusModule", "overallStatus")
    status_text = status if isinstance(status, str) else None
    if fetched.alias_of:
        report.alias_of = fetched.requested_id
        report.notes.append(f"{fetched.requested_id} is now {nct} (the registry redirected it)")
    try:
        new_raw = raw_hash(fetched.record)
        stored = store.latest_digest(nct)
        if stored is not None and stored[1] == new_raw:
            new_digest = stored[0]  # byte-for-byte the same content: no need to normalise
        else:
            new_digest = digest(fetched.record)

        def remember(outcome: Outcome, latest: str, changed: bool = False) -> None:
            try:
                store.record_check(
                    nct,
                    fetched.fetched_at,
                    outcome.value,
                    record_digest=new_digest,
                    raw=new_raw,
                    latest=latest,
                    changed=changed,
                    status=status_text,
                    title=report.title,
                )
            except StoreError as exc:
                # The snapshot (if any) is stored and the report stands; the run is still in
                # trouble. The check is not recorded, so the next run reports it once more.
                report.warning = str(exc)

        if stored is not None and stored[0] == new_digest:
            report.previous_snapshot = stored[2]
            remember(Outcome.UNCHANGED, report.previous_snapshot)
            return report
        # Compare with the last snapshot a check was recorded against: when a run crashed after
        # storing a snapshot but before recording (and reporting) it, that change is reported now.
        previous = store.reported(nct)
        if previous is None:
            path = store.save(fetched)
            report.outcome = Outcome.NEW
            report.snapshot = path.name
            report.baseline = baseline(fetched.record)
            remember(Outcome.NEW, path.name, changed=True)
            return report
        report.previous_snapshot = previous.name
        if digest(previous.record) == new_digest:
            # Same content; only the stored state was stale (a crash, or an older trialwatch).
            remember(Outcome.UNCHANGED, previous.name)
            return report
        changes, context = diff_records(nct, previous.record, fetched.record, options.ignore)
        report.context = context
        material = [c for c in changes if c.material]
        report.changes = changes if options.show_admin else material
        path = _stored_already(store, nct, previous.name, new_digest) or store.save(fetched)
        report.snapshot = path.name
        report.outcome = Outcome.CHANGED if material else Outcome.UNCHANGED
        remember(report.outcome, path.name, changed=bool(material))
    except StoreError as exc:
        report.outcome = Outcome.ERROR
        report.error = str(exc)
    return report


def _stored_already(store: SnapshotStore, nct: str, reported: str, new_digest: str) -> Path | None:
    """The newest snapshot, when a crashed run stored this very record after ``reported``."""
    newest = store.snapshots(nct)[-1]
    if newest.name == reported:
        return None
    try:
        return newest if digest(store.read(newest).record) == new_digest else None
    except StoreError:
        return None


def _observed(
    store: SnapshotStore, fetched: Fetched, options: CheckOptions, run: RunReport
) -> TrialReport:
    report = observe(store, fetched, options)
    if report.outcome is Outcome.CHANGED and options.on_change is not None:
        options.on_change(report, run.generated_at)
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
    failing: FetchError | None = None
    in_a_row = 0
    with store.locked():
        for nct in nct_ids:
            if failing is not None:
                run.trials.append(error_report(nct, failing, store))
                continue
            try:
                fetched = client.fetch_study(nct)
            except NotInRegistryError as exc:
                run.trials.append(error_report(nct, exc, store))
                in_a_row = 0
            except FetchError as exc:
                run.trials.append(error_report(nct, exc, store))
                in_a_row += 1
                if in_a_row >= GIVE_UP_AFTER:
                    # The registry is failing (retries already spent): do not spend them again
                    # on every remaining trial.
                    failing = FetchError(
                        f"not checked: the registry failed {in_a_row} times in a row (last: {exc})"
                    )
            else:
                in_a_row = 0
                run.trials.append(_observed(store, fetched, options, run))
            if options.progress:
                options.progress(nct)
    return run


def _ids_digest(nct_ids: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("|".join(sorted(nct_ids)).encode()).hexdigest()


def check_batched(
    nct_ids: Sequence[str],
    client: RegistryClient,
    store: SnapshotStore,
    options: CheckOptions,
    *,
    batch_size: int = 500,
    force: bool = False,
    watch_list: bool = True,
) -> RunReport:
    """Check a watch list in batches (``GET /studies?filter.ids=…``, at most ``batch_size`` ids
    a request), processing each page as it arrives. Ids a batch did not return are fetched one
    by one, to tell "not in the registry" (404) from an alias (301).

    For a watch list, asks ``/version`` first: when the registry's data timestamp equals that of
    the last complete run over the same list, nothing is fetched (unless ``force``). Ids given on
    the command line (``watch_list=False``) are always fetched, and leave no run state."""
    run = RunReport(generated_at=utc_now())
    run.trials.extend(options.extra_errors)
    with store.locked():
        stamp = client.data_timestamp() if watch_list else None
        run.data_timestamp = stamp
        ids_digest = _ids_digest(nct_ids)
        last = store.run_state()
        if (
            not force
            and stamp is not None
            and last.get("complete") is True
            and last.get("data_timestamp") == stamp
            and last.get("ids") == ids_digest
        ):
            run.skipped = True
            run.notes.append(
                f"registry data unchanged since the last complete run (data as of {stamp}); "
                "nothing fetched. Use --force to check anyway"
            )
            return run
        wanted = set(nct_ids)
        fetch_errors = 0
        failing: FetchError | None = None
        for start in range(0, len(nct_ids), batch_size):
            batch = list(nct_ids[start : start + batch_size])
            if failing is not None:
                for nct in batch:
                    run.trials.append(error_report(nct, failing, store))
                fetch_errors += len(batch)
                continue
            seen: set[str] = set()
            try:
                for fetched in client.fetch_batch(batch):
                    requested = _requested(fetched, wanted, batch)
                    if requested is None or requested in seen:
                        continue  # not one of ours (or twice): ignore
                    seen.add(requested)
                    if requested != fetched.nct_id:
                        fetched.requested_id = requested
                        fetched.alias_of = fetched.nct_id
                    run.trials.append(_observed(store, fetched, options, run))
                    if options.progress:
                        options.progress(requested)
            except FetchError as exc:
                log.warning("a batch of %d ids failed: %s", len(batch), exc)
                failing = exc  # the registry is failing: the rest are not checked this run
                for nct in batch:
                    if nct not in seen:
                        run.trials.append(error_report(nct, exc, store))
                        fetch_errors += 1
                continue
            for nct in batch:
                if nct in seen:
                    continue
                try:
                    fetched = client.fetch_study(nct)
                except FetchError as exc:
                    run.trials.append(error_report(nct, exc, store))
                    fetch_errors += 1
                else:
                    run.trials.append(_observed(store, fetched, options, run))
                if options.progress:
                    options.progress(nct)
        complete = fetch_errors == 0 and not any(t.error for t in run.trials)
        if not watch_list:
            return run
        store.save_run_state(
            {
                "complete": complete,
                "data_timestamp": stamp,
                "finished_at": utc_now(),
                "ids": ids_digest,
                "trials": len(nct_ids),
            }
        )
    return run


def _requested(fetched: Fetched, wanted: set[str], batch: list[str]) -> str | None:
    """Which requested id a returned study answers: its own, or one of its old aliases."""
    if fetched.nct_id in wanted:
        return fetched.nct_id
    from trialwatch.client import record_aliases

    for alias in record_aliases(fetched.record):
        if alias in batch:
            return alias
    return None
