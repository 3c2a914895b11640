"""The core of ``trialwatch check``: fetch each trial, compare with its latest snapshot, store a
new snapshot when the record changed, and build the run's report. No printing here."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from trialwatch.changes.baseline import baseline, title_of
from trialwatch.changes.differ import Comparison, compare
from trialwatch.changes.normalize import digest
from trialwatch.changes.sentences import get
from trialwatch.errors import (
    FetchError,
    NotInRegistryError,
    RunDeadlineError,
    StoreError,
    TrialwatchError,
)
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.record import Fetched, last_update, record_aliases, utc_now
from trialwatch.sanitize import RecordShapeError, check_depth
from trialwatch.store import Snapshot
from trialwatch.store.base import Store
from trialwatch.store.snapshots import snapshot_sort_key

if TYPE_CHECKING:
    from trialwatch.registry.client import RegistryClient

log = logging.getLogger("trialwatch")

# Trials in a row whose fetch failed after all retries before the rest of a run is skipped.
GIVE_UP_AFTER = 3


@dataclass
class CheckOptions:
    ignore: Sequence[str] = ()
    show_admin: bool = False
    progress: Callable[[str], None] | None = None
    extra_errors: list[TrialReport] = field(default_factory=list)
    # The outputs this run delivers ("stdout", and "mail" when mail is on): a change stays
    # pending for each of them until that output has it.
    outputs: tuple[str, ...] = ("stdout",)
    # Outputs this run does not deliver that a change is kept for all the same: those the
    # config sets up (mail, channels) and those a run delivered to lately, so a change a hand
    # run finds between two cron runs with --email is still mailed.
    keep_for: tuple[str, ...] = ()
    # Say what each ignore rule hid in each change (check --explain-ignore).
    explain_ignore: bool = False
    # Said of a trial seen for the first time (its registry history, when backfilled first).
    first_notes: dict[str, list[str]] = field(default_factory=dict)
    # Given every record this run reads (the transparency signals are read from it).
    on_record: Callable[[str, dict[str, Any]], None] | None = None


class Observer:
    """Compares fetched records with the store, within one run. Never raises for one trial's
    trouble: that becomes the trial's error report and the store keeps its last good snapshot.

    A change it reports is claimed for this run in the trial's pending file; once the report is
    out, :func:`delivered` marks it reported."""

    def __init__(self, store: Store, options: CheckOptions) -> None:
        self.store = store
        self.options = options
        # Trials with a change still to show on stdout (a run died first): checked in full, and
        # they keep a watch-list run from being skipped. A change pending only for mail needs
        # no fetch: the digest is built from the snapshots.
        self.pending_at_start = {
            nct
            for nct in store.pending.trials()
            if "stdout" in (store.pending.get(nct) or {"outputs": {}})["outputs"]
        }
        self._rows: dict[str, dict[str, Any]] = {}

    def preload(self, nct_ids: Sequence[str]) -> None:
        """Read the state of many trials at once (one query a page, not one a trial)."""
        self._rows.update(self.store.rows(list(nct_ids)))

    def observe(self, fetched: Fetched) -> TrialReport:
        nct = fetched.nct_id
        report = TrialReport(nct_id=nct, outcome=Outcome.UNCHANGED)
        if fetched.alias_of:
            report.alias_of = fetched.requested_id
            report.notes.append(f"{fetched.requested_id} is now {nct} (the registry redirected it)")
        try:
            row = self._rows.pop(nct, None)
            if row is None:
                row = self.store.state(nct)
            if nct not in self.pending_at_start and fetched.fingerprint is not None:
                trusted = self.store.trusted(nct, row)
                if trusted is not None and trusted.raw == fetched.fingerprint:
                    # Byte for byte the record last stored: nothing to normalise or write.
                    report.title = row.get("title") or title_of(fetched.record)
                    report.previous_snapshot = trusted.name
                    self._seen(fetched, report)
                    return report
            report.title = title_of(fetched.record)
            self._compare(fetched, report)
        except StoreError as exc:
            report.outcome = Outcome.ERROR
            report.error = str(exc)
        except RecordShapeError as exc:
            report.outcome = Outcome.ERROR
            report.error = f"the registry served {exc}; nothing was stored"
        except RecursionError:
            report.outcome = Outcome.ERROR
            report.error = "the record is nested too deeply to compare; its last snapshot is kept"
        except Exception as exc:  # a bug met on one record must not cost the others' reports
            log.debug("internal error on %s", nct, exc_info=True)
            report.outcome = Outcome.ERROR
            report.error = (
                f"internal error while comparing this record ({type(exc).__name__}: {exc}); "
                "its last snapshot is kept and the other trials are reported. Please report it"
            )
        if report.outcome is Outcome.ERROR:
            report.changes, report.baseline = [], None
            with contextlib.suppress(StoreError):
                self.store.note_check(nct, fetched.fetched_at, "error", report.error)
        else:
            try:
                self._seen(fetched, report)
            except Exception:  # the signals of an odd record are never worth its report
                log.debug("could not read the signals of %s", nct, exc_info=True)
        return report

    def _file_events(
        self, conn: Any, previous: PurePath, stored: str, fetched: Fetched
    ) -> StoredChange | None:
        """File the rows of the step just stored, and return it (the report of the change
        reuses its comparison); a record too odd to read files none (its report still says
        what it can)."""
        try:
            old = self.store.read(previous)
        except StoreError:
            return None
        try:
            found = file_step(
                conn, fetched.nct_id, fetched.fetched_at, old.record, fetched.record, old.name,
                stored, self.options.ignore,
            )  # fmt: skip
        except (RecursionError, RecordShapeError):
            log.debug("no event rows for %s", fetched.nct_id, exc_info=True)
            return None
        return StoredChange(old, found)

    def _file_orphans(
        self, conn: Any, nct: str, row: dict[str, Any], files: Sequence[PurePath]
    ) -> None:
        """Snapshots after the one the state knows were stored by a run killed before its
        state was written (a folder store writes the file first, inside the transaction):
        their steps' rows are filed now, so a killed run's change is still filed once."""
        known = row.get("latest")
        names = [p.name for p in files]
        if not isinstance(known, str) or known not in names or names[-1] == known:
            return
        steps = names[names.index(known) :]
        for before, after in itertools.pairwise(steps):
            old, new = store_read(self.store, files, before), store_read(self.store, files, after)
            if old is None or new is None:
                continue
            seen = new.fetched_at or f"{after[:10]}T00:00:00Z"
            try:
                file_step(
                    conn, nct, seen, old.record, new.record, before, after, self.options.ignore
                )
            except (RecursionError, RecordShapeError):
                log.debug("no event rows for %s", nct, exc_info=True)
            self.store.db.log_line(conn, seen, nct, "changed", after)

    def _seen(self, fetched: Fetched, report: TrialReport) -> None:
        """A record read without trouble: its check (and last-update date) recorded, and the
        record handed to whoever reads every record (the transparency signals)."""
        record = fetched.record
        self.store.note_check(
            fetched.nct_id,
            fetched.fetched_at,
            report.outcome.value,
            last_update=last_update(record),
        )
        if self.options.on_record is not None:
            self.options.on_record(fetched.nct_id, record)

    def _compare(self, fetched: Fetched, report: TrialReport) -> None:
        store, nct, me = self.store, fetched.nct_id, self.store.run_id
        status = get(fetched.record, "protocolSection", "statusModule", "overallStatus")
        status_text = status if isinstance(status, str) else None
        check_depth(fetched.record)
        with store.db.transaction(key=nct) as conn:  # other runs wait for this trial
            marker = store.pending.get(nct)
            if marker and marker["run"] != me and store.runs.alive(marker["run"]):
                report.notes.append(
                    "another trialwatch run running now is reporting this trial's latest change"
                )
                return
            row = store.db.row(nct)
            files = store.snapshots(nct)
            self._file_orphans(conn, nct, row, files)
            step: StoredChange | None = None
            outputs: dict[str, str] = dict(marker["outputs"]) if marker else {}
            if not files:
                # A baseline is told on stdout; a sync (no stdout) only stores it.
                outputs = {"stdout": ""} if "stdout" in self.options.outputs else {}
                store.pending.put(nct, me, outputs)  # before the snapshot: never unreported
                path = store.save(fetched)
                store.remember(
                    conn,
                    nct,
                    latest=path.name,
                    record_digest=digest(fetched.record),
                    raw=fetched.fingerprint,
                    status=status_text,
                    title=report.title,
                    changed_at=fetched.fetched_at,
                )
                store.db.log_line(conn, fetched.fetched_at, nct, "new", path.name)
                latest_name = path.name
            else:
                trusted = store.trusted(nct, row)
                latest_name = files[-1].name
                current = trusted.digest if trusted else digest(store.read(files[-1]).record)
                same_bytes = (
                    trusted is not None
                    and fetched.fingerprint is not None
                    and trusted.raw == fetched.fingerprint
                )
                new_digest = current if same_bytes else digest(fetched.record)
                if new_digest != current:
                    for output in (*self.options.outputs, *self.options.keep_for):
                        outputs.setdefault(output, latest_name)
                    store.pending.put(nct, me, outputs)  # before the snapshot
                    latest_name = store.save(fetched).name
                    store.db.log_line(conn, fetched.fetched_at, nct, "changed", latest_name)
                    step = self._file_events(conn, files[-1], latest_name, fetched)
                if new_digest != current or not same_bytes:
                    store.remember(
                        conn,
                        nct,
                        latest=latest_name,
                        record_digest=new_digest,
                        raw=fetched.fingerprint,
                        status=status_text,
                        title=report.title,
                        changed_at=fetched.fetched_at if new_digest != current else None,
                    )
            base = outputs.get("stdout")
            if base is None or base == latest_name:
                if base is not None:  # nothing left to show: a run stopped before storing
                    del outputs["stdout"]
                    store.pending.put(nct, me, outputs)
                report.previous_snapshot = latest_name
                stored_only(report, not files, step, latest_name, self.options.show_admin)
                return
            if marker is None or marker["run"] != me:
                store.pending.put(nct, me, outputs)  # this run reports it now
        describe(store, nct, base, latest_name, fetched.record, report, self.options, step)


def stored_only(
    report: TrialReport, first: bool, step: StoredChange | None, latest: str, show_admin: bool
) -> None:
    """What a run without stdout (a sync) stored, said in the report without reporting it:
    a baseline is new, a stored step what it changed (its rows are filed already)."""
    if first:
        report.outcome = Outcome.NEW
        report.snapshot = latest
        report.previous_snapshot = None
    elif step is not None:
        fill(report, step.found, show_admin)
        report.snapshot, report.previous_snapshot = latest, step.previous.name


def store_read(store: Store, files: Sequence[PurePath], name: str) -> Snapshot | None:
    """One of a trial's snapshots by name, or None when it cannot be read."""
    for ref in files:
        if ref.name == name:
            try:
                return store.read(ref)
            except StoreError:
                return None
    return None


@dataclass
class StoredChange:
    """A change just stored: the snapshot before it and what changed since (compared once,
    for the rows and for the report)."""

    previous: Snapshot
    found: Comparison


def file_step(
    conn: Any,
    nct: str,
    seen: str,
    old: dict[str, Any],
    new: dict[str, Any],
    old_name: str | None,
    new_name: str,
    ignore: Sequence[str] = (),
) -> Comparison:
    """File what changed in one stored step as rows (store/events.py), in ``conn``'s
    transaction; returns the comparison."""
    from trialwatch.store import events

    found = compare(nct, old, new, ignore)
    made_on = get(new, "protocolSection", "statusModule", "lastUpdateSubmitDate")
    rows = events.rows_of(
        nct, seen, made_on if isinstance(made_on, str) else None, old_name, new_name,
        found.changes, found.events,
    )  # fmt: skip
    events.insert(conn, rows)
    return found


def read_snapshots(
    store: Store,
    nct_ids: Iterable[str],
    wanted: Callable[[str], bool],
    on_record: Callable[[str, dict[str, Any]], None],
) -> dict[str, str | None]:
    """Hand the latest stored record of each wanted trial to ``on_record`` (a trial whose
    snapshot cannot be read is left out); returns their titles."""
    titles: dict[str, str | None] = {}
    for nct in nct_ids:
        if not wanted(nct):
            continue
        try:
            snap = store.latest(nct)
        except StoreError:
            continue
        if snap is not None:
            on_record(nct, snap.record)
            titles[nct] = title_of(snap.record)
    return titles


def describe(
    store: Store,
    nct: str,
    base: str,
    latest_name: str,
    record: dict[str, Any],
    report: TrialReport,
    options: CheckOptions,
    step: StoredChange | None = None,
) -> None:
    """Fill report with what changed from snapshot ``base`` (the last one reported; "" when
    none was) to the latest, whose record is ``record``. ``step``: the change this run just
    stored, already compared, used when it starts from ``base``."""
    report.snapshot = latest_name
    previous = None
    if base:
        if base == "?":  # a damaged pending file: the newest snapshot but one, to be safe
            names = [p.name for p in store.snapshots(nct)]
            base = names[-2] if len(names) > 1 else ""
        if step is not None and step.previous.name == base:
            previous = step.previous
        else:
            previous = store.snapshot_named(nct, base) if base else None
        if previous is None and base:
            previous = _instead_of_missing(store, nct, base, latest_name, report)
    if previous is None:
        report.outcome = Outcome.NEW
        report.baseline = baseline(record)
        report.notes.extend(options.first_notes.get(nct, []))
        if report.warning:  # a change whose start is gone: still a change, shown as it is now
            report.outcome = Outcome.CHANGED
        return
    report.previous_snapshot = previous.name
    if step is not None and previous is step.previous:
        found = step.found
    else:
        found = compare(nct, previous.record, record, options.ignore)
    fill(report, found, options.show_admin)
    if options.explain_ignore:
        from trialwatch.changes.differ import explain_rules

        report.ignored = explain_rules(nct, previous.record, record, options.ignore)


def _instead_of_missing(
    store: Store, nct: str, base: str, latest_name: str, report: TrialReport
) -> Snapshot | None:
    """The last reported snapshot is gone (deleted by hand, a restore from a backup): the
    newest one before the latest that is still there, said as such. None when there is none:
    the record is shown as it is now, and the report says why."""
    older = [p.name for p in store.snapshots(nct) if p.name != latest_name]
    older = [n for n in older if snapshot_sort_key(n) < snapshot_sort_key(latest_name)]
    gone = (
        f"its last reported snapshot {base} is missing from the store (deleted, or the store "
        "was restored from a backup)"
    )
    if older:
        report.warning = f"{gone}; compared with {older[-1]}, the newest one still there"
        return store.snapshot_named(nct, older[-1])
    report.warning = (
        f"{gone}, and no earlier snapshot is stored: what changed cannot be shown, so the "
        "record is shown as it is now; restore the snapshot to see the change"
    )
    return None


def fill(report: TrialReport, found: Comparison, show_admin: bool) -> None:
    """Put what a comparison found into a trial's report: the events a reader should see
    (registry bookkeeping only with ``show_admin``), every material change, and the
    bookkeeping changes an event explains (a results QC step is only in bookkeeping fields)."""
    events = [e for e in found.events if show_admin or not e.silent]
    explained = {i for e in events for i in e.changes}
    report.events = events
    report.changes = [c for c in found.changes if show_admin or c.material or c.id in explained]
    report.context = found.context
    loud = any(c.material for c in found.changes) or any(not e.silent for e in events)
    report.outcome = Outcome.CHANGED if loud else Outcome.UNCHANGED


def pending_reports(store: Store, output: str, options: CheckOptions) -> list[TrialReport]:
    """Reports of every change still pending for ``output`` (this run's, and those of runs that
    died before delivering them): one report per stored step since the last snapshot that
    output reported, so a digest that missed several runs still shows each change. Changes
    another live run is reporting are left to it."""
    reports: list[TrialReport] = []
    for nct in sorted(store.pending.trials()):
        marker = store.pending.get(nct)
        if marker is None or output not in marker["outputs"]:
            continue
        if marker["run"] != store.run_id:
            if store.runs.alive(marker["run"]):
                continue
            store.pending.put(nct, store.run_id, marker["outputs"])  # adopted by this run
        try:
            names = [p.name for p in store.snapshots(nct)]
            base = marker["outputs"][output]
            if base == "?":
                base = names[-2] if len(names) > 1 else ""
            if base in names:
                steps = names[names.index(base) :]
            elif base:  # gone from the store: describe() says so and compares with what is there
                after = [n for n in names if snapshot_sort_key(n) > snapshot_sort_key(base)]
                steps = [base, *after] if after else []
            else:
                steps = names[-2:]
            if len(steps) < 2:  # nothing left to deliver: a run stopped before storing
                outputs = dict(marker["outputs"])
                del outputs[output]
                store.pending.put(nct, store.run_id, outputs)
            for previous, current in itertools.pairwise(steps):
                snap = store.snapshot_named(nct, current)
                if snap is None:
                    continue
                report = TrialReport(nct, Outcome.UNCHANGED, title=title_of(snap.record))
                try:
                    describe(store, nct, previous, current, snap.record, report, options)
                except StoreError:
                    raise
                except Exception as exc:  # one unreadable step never holds back the digest
                    log.debug("internal error describing %s", nct, exc_info=True)
                    undescribed(report, current, previous, exc)
                reports.append(report)
        except StoreError as exc:
            reports.append(TrialReport(nct_id=nct, outcome=Outcome.ERROR, error=str(exc)))
    return reports


def undescribed(report: TrialReport, current: str, previous: str, exc: Exception) -> None:
    """A stored change trialwatch failed to put in words: reported as a change all the same
    (so it is delivered once, not retried for ever), with what to do."""
    report.outcome = Outcome.CHANGED
    report.snapshot = current
    report.previous_snapshot = previous or None
    report.changes, report.events, report.baseline = [], [], None
    report.notes.append(
        f"the record changed, but trialwatch could not describe the change "
        f"({type(exc).__name__}: {exc}); see it with trialwatch diff on the snapshots "
        f"{previous or '(none)'} and {current}, and please report it"
    )


def delivered(store: Store, output: str, reports: Iterable[TrialReport]) -> None:
    """Mark what these reports showed (up to their snapshot) as reported on ``output``. A
    change stored since stays pending."""
    for t in reports:
        if t.snapshot is None or t.outcome is Outcome.ERROR:
            continue
        marker = store.pending.get(t.nct_id)
        if marker is None or marker["run"] != store.run_id or output not in marker["outputs"]:
            continue
        outputs = dict(marker["outputs"])
        names = [p.name for p in store.snapshots(t.nct_id)]
        if names and names[-1] == t.snapshot:
            del outputs[output]
        else:
            outputs[output] = t.snapshot
        store.pending.put(t.nct_id, store.run_id, outputs)


def error_report(nct_id: str, exc: TrialwatchError, store: Store | None) -> TrialReport:
    report = TrialReport(nct_id=nct_id, outcome=Outcome.ERROR, error=str(exc))
    if store is not None:
        try:
            if store.snapshots(nct_id):
                store.note_check(nct_id, utc_now(), "error", str(exc))
                report.notes.append("not checked this time; its last snapshot is kept")
        except StoreError:
            pass
    return report


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
            observer.preload(batch)
            try:
                for fetched in client.fetch_batch(batch):
                    requested = _requested(fetched, wanted, batch)
                    if requested is None or requested in seen:
                        continue  # not one of ours (or twice): ignore
                    seen.add(requested)
                    if requested != fetched.nct_id:
                        fetched.requested_id = requested
                        fetched.alias_of = fetched.nct_id
                    run.trials.append(observer.observe(fetched))
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


def _requested(fetched: Fetched, wanted: set[str], batch: list[str]) -> str | None:
    """Which requested id a returned study answers: its own, or one of its old aliases."""
    if fetched.nct_id in wanted:
        return fetched.nct_id
    for alias in record_aliases(fetched.record):
        if alias in batch:
            return alias
    return None
