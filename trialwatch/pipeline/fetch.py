"""Fetch: trials one request each, or a watch list in batches of ids, each record handed to
the Observer as it arrives; whether a run over the watch list is needed at all (the registry's
data timestamp), and what the run saw, for the next one."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from trialwatch.errors import (
    FetchError,
    NotInRegistryError,
    NotStoredError,
    RunDeadlineError,
    StoreError,
)
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.pipeline.compare import CheckOptions, Observer
from trialwatch.pipeline.deliver import error_report
from trialwatch.record import Fetched, record_aliases, utc_now
from trialwatch.store.port import Store

if TYPE_CHECKING:
    from trialwatch.registry.client import RegistryClient

log = logging.getLogger("trialwatch")

# Trials in a row whose fetch failed after all retries before the rest of a run is skipped.
GIVE_UP_AFTER = 3


def check_each(
    nct_ids: Iterable[str],
    client: RegistryClient,
    store: Store,
    options: CheckOptions,
    observer: Observer | None = None,
) -> RunReport:
    """Check trials one request each (``GET /studies/{id}``)."""
    run = RunReport(generated_at=utc_now())
    run.trials.extend(options.extra_errors)
    failing: FetchError | None = None
    in_a_row = 0
    with store.locked():
        observer = observer or Observer(store, options)
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
                if isinstance(exc, RunDeadlineError):
                    failing = exc
                elif in_a_row >= GIVE_UP_AFTER:
                    # The registry is failing (retries already spent): do not spend them again
                    # on every remaining trial.
                    failing = FetchError(
                        f"not checked: the registry failed {in_a_row} times in a row (last: {exc})"
                    )
            else:
                in_a_row = 0
                run.trials.append(observer.observe(fetched))
            if options.progress:
                options.progress(nct)
    return run


def ids_digest_of(nct_ids: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("|".join(sorted(nct_ids)).encode()).hexdigest()


def check_batched(
    nct_ids: Sequence[str],
    client: RegistryClient,
    store: Store,
    options: CheckOptions,
    *,
    batch_size: int = 500,
    force: bool = False,
    watch_list: bool = True,
    observer: Observer | None = None,
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
        observer = observer or Observer(store, options)
        ids_digest = ids_digest_of(nct_ids)
        stamp = None
        if watch_list:
            stamp = skipped(run, store, client, observer, ids_digest, force)
            if run.skipped:
                return run
        wanted = {n: n for n in nct_ids}  # each id to the list's own string of it
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
            observer.preload(batch)
            take = functools.partial(_take, observer, options, wanted, batch, seen)
            try:
                for records in client.batch_pages(batch):
                    cut = observe_page(store, records, take, run.trials)
                    if cut is not None:
                        raise cut
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
                    if isinstance(exc, RunDeadlineError):
                        failing = exc
                else:
                    run.trials.append(observer.observe(fetched))
                if options.progress:
                    options.progress(nct)
        complete = fetch_errors == 0 and not any(t.error for t in run.trials)
        if watch_list:
            # Every whole record was fetched: this was a full check (two-phase runs count the
            # days to the next one from it).
            full = {"last_full_check": utc_now()} if complete else {}
            record_run(store, client, complete, stamp, ids_digest, len(nct_ids), **full)
    return run


def observe_page(
    store: Store,
    records: Iterable[Fetched],
    take: Callable[[Fetched], TrialReport | None],
    reports: list[TrialReport],
) -> FetchError | None:
    """Observe one page's records (``take``: a record's report, None to pass it by) into
    ``reports``, in one batch of the store: a page's baselines cost one commit, not one each.
    A page cut short (its JSON truncated) keeps what was read before the cut: the batch
    commits, and the FetchError is returned. When the batch's end fails (its commit, or a
    baseline's file put in place after it), each new or changed trial whose snapshot is not
    now the stored latest is reported as an error, saying so: its news is the next run's."""
    start = len(reports)
    cut: FetchError | None = None
    entered = False
    try:
        with store.batch():
            entered = True
            try:
                for fetched in records:
                    report = take(fetched)
                    if report is not None:
                        reports.append(report)
            except FetchError as exc:
                cut = exc
    except StoreError as exc:
        if not entered:
            raise
        reasons = exc.reasons if isinstance(exc, NotStoredError) else {}
        for report in reports[start:]:
            if report.outcome in (Outcome.NEW, Outcome.CHANGED) and not _stored(store, report):
                report.outcome = Outcome.ERROR
                report.changes, report.events, report.baseline = (), (), None
                report.error = f"not stored: {reasons.get(report.nct_id, exc)}"
    return cut


def _stored(store: Store, report: TrialReport) -> bool:
    """Whether a report's snapshot is its trial's stored latest, in the state and as a file."""
    try:
        names = [p.name for p in store.snapshots(report.nct_id)]
        return report.snapshot in names and store.row(report.nct_id).get("latest") == (
            report.snapshot
        )
    except StoreError:
        return False


def skipped(
    run: RunReport,
    store: Store,
    client: RegistryClient,
    observer: Observer,
    ids_digest: str,
    force: bool,
) -> str | None:
    """Ask the registry's data timestamp, and mark ``run`` skipped (saying why) when nothing
    needs fetching: the same timestamp as the last complete run over the same list, and no
    change a killed run left unreported. Returns the timestamp."""
    stamp = client.data_timestamp()
    run.data_timestamp = stamp
    last = store.run_state()
    size = last.get("bytes_per_record")
    if client.bytes_per_record is None and isinstance(size, int) and size > 0:
        client.bytes_per_record = size  # right-sized pages from the first request
    if (
        not force
        and stamp is not None
        and last.get("complete") is True
        and last.get("data_timestamp") == stamp
        and last.get("ids") == ids_digest
        and not observer.pending_at_start
    ):
        run.skipped = True
        run.notes.append(
            f"registry data unchanged since the last complete run (data as of {stamp}); "
            "nothing fetched. Use --force to check anyway"
        )
    return stamp


def record_run(
    store: Store,
    client: RegistryClient,
    complete: bool,
    stamp: str | None,
    ids_digest: str,
    trials: int,
    **extra: Any,
) -> None:
    """What this run over the watch list saw, for the next run to decide whether to skip."""
    state = {
        "complete": complete,
        "data_timestamp": stamp,
        "finished_at": utc_now(),
        "ids": ids_digest,
        "trials": trials,
        "bytes_per_record": client.bytes_per_record,
        **extra,
    }
    try:
        store.save_run_state(state)
    except StoreError as exc:
        # The changes are reported all the same; only the next run cannot skip.
        log.warning("could not record the run's state (%s); the next run checks again", exc)


def _take(
    observer: Observer,
    options: CheckOptions,
    wanted: dict[str, str],
    batch: list[str],
    seen: set[str],
    fetched: Fetched,
) -> TrialReport | None:
    """A record of a batch's page observed: its report, or None for one not asked for (or
    answered twice)."""
    requested = _requested(fetched, wanted, batch)
    if requested is None or requested in seen:
        return None
    seen.add(requested)
    if requested == fetched.nct_id:
        # The list's own string: one copy of the id in every report, row and set of the run.
        fetched.nct_id = fetched.requested_id = wanted[requested]
    else:
        fetched.requested_id = requested
        fetched.alias_of = fetched.nct_id
    report = observer.observe(fetched)
    if options.progress:
        options.progress(requested)
    return report


def _requested(fetched: Fetched, wanted: dict[str, str], batch: list[str]) -> str | None:
    """Which requested id a returned study answers: its own, or one of its old aliases."""
    if fetched.nct_id in wanted:
        return fetched.nct_id
    for alias in record_aliases(fetched.record):
        if alias in batch:
            return alias
    return None
