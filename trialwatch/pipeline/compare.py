"""Compare: a fetched record against the store, within one run. What changed is stored (a new
snapshot, the change left pending for each output, its event rows: one transaction), and put
in words for the report. The same for every trigger: ids, a watch list, a search, a sync."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from trialwatch.changes.baseline import baseline, title_of
from trialwatch.changes.differ import Comparison, compare, fill
from trialwatch.changes.normalize import digest
from trialwatch.changes.sentences import get
from trialwatch.errors import StoreError
from trialwatch.model import Outcome, TrialReport
from trialwatch.record import Fetched, ensure_shallow, last_update
from trialwatch.sanitize import RecordShapeError
from trialwatch.store.port import Snapshot, Store, snapshot_sort_key
from trialwatch.store.unit import SqlUnit as Unit

log = logging.getLogger("trialwatch")


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
        """Read the state of many trials at once (one query a page, not one a trial); a trial
        the store does not know is known to have none (no query of its own either)."""
        found = self.store.rows(list(nct_ids))
        self._rows.update({nct: found.get(nct, {}) for nct in nct_ids})

    def observe(self, fetched: Fetched) -> TrialReport:
        nct = fetched.nct_id
        report = TrialReport(nct_id=nct, outcome=Outcome.UNCHANGED)
        if fetched.alias_of:
            report.alias_of = fetched.requested_id
            report.note(f"{fetched.requested_id} is now {nct} (the registry redirected it)")
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
            report.changes, report.baseline = (), None
            with contextlib.suppress(StoreError):
                self.store.note_check(nct, fetched.fetched_at, "error", report.error)
        else:
            try:
                self._seen(fetched, report)
            except Exception:  # the signals of an odd record are never worth its report
                log.debug("could not read the signals of %s", nct, exc_info=True)
        return report

    def _file_events(
        self,
        unit: Unit,
        previous: PurePath,
        stored: str,
        fetched: Fetched,
        read: Snapshot | None = None,
    ) -> StoredChange | None:
        """File the rows of the step just stored, and return it (the report of the change
        reuses its comparison); a record too odd to read files none (its report still says
        what it can). ``read``: the previous snapshot, when the caller has read it."""
        try:
            old = read if read is not None else self.store.read(previous)
        except StoreError:
            return None
        try:
            found = file_step(
                unit, fetched.nct_id, fetched.fetched_at, old.record, fetched.record, old.name,
                stored, self.options.ignore,
            )  # fmt: skip
        except (RecursionError, RecordShapeError):
            log.debug("no event rows for %s", fetched.nct_id, exc_info=True)
            return None
        return StoredChange(old, found)

    def _file_orphans(
        self, unit: Unit, nct: str, row: dict[str, Any], files: Sequence[PurePath]
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
                    unit, nct, seen, old.record, new.record, before, after, self.options.ignore
                )
            except (RecursionError, RecordShapeError):
                log.debug("no event rows for %s", nct, exc_info=True)
            unit.log(seen, nct, "changed", after)

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
        with store.unit(key=nct) as unit:  # other runs wait for this trial
            marker = store.pending.get(nct)
            if marker and marker["run"] != me and store.runs.alive(marker["run"]):
                report.note(
                    "another trialwatch run running now is reporting this trial's latest change"
                )
                return
            row = store.row(nct)
            files = store.snapshots(nct)
            self._file_orphans(unit, nct, row, files)
            step: StoredChange | None = None
            claimed = False  # this run's name is on the trial's pending change
            outputs: dict[str, str] = dict(marker["outputs"]) if marker else {}
            if not files:
                # A baseline is told on stdout; a sync (no stdout) only stores it.
                outputs = {"stdout": ""} if "stdout" in self.options.outputs else {}
                # The snapshot (refused here for a record nested too deeply) and its untold
                # news commit together, so it is never unreported; its file is put in place
                # after the commit. A baseline's files are made durable once, at the end of
                # the run (a power cut may cost the news of a baseline, never a change); a
                # change's are durable at once.
                path = store.save(fetched, durable=False)
                store.pending.put(nct, me, outputs, durable=False)
                claimed = True
                unit.remember(
                    nct,
                    latest=path.name,
                    # No digest yet: the next check knows an unchanged record by its bytes,
                    # and the first that needs the digest makes it.
                    record_digest=None if fetched.fingerprint else digest(fetched.record),
                    raw=fetched.fingerprint,
                    status=status_text,
                    title=report.title,
                    changed_at=fetched.fetched_at,
                )
                unit.log(fetched.fetched_at, nct, "new", path.name)
                latest_name = path.name
            else:
                trusted = store.trusted(nct, row)
                latest_name = files[-1].name
                last: Snapshot | None = None  # read once, for its digest and its rows
                if trusted and trusted.digest:
                    current = trusted.digest
                else:
                    last = store.read(files[-1])
                    current = digest(last.record)
                same_bytes = (
                    trusted is not None
                    and fetched.fingerprint is not None
                    and trusted.raw == fetched.fingerprint
                )
                new_digest = current if same_bytes else digest(fetched.record)
                if new_digest != current:
                    ensure_shallow(fetched)  # before its change is claimed
                    for output in (*self.options.outputs, *self.options.keep_for):
                        outputs.setdefault(output, latest_name)
                    store.pending.put(nct, me, outputs)  # before the snapshot
                    claimed = True
                    latest_name = store.save(fetched).name
                    unit.log(fetched.fetched_at, nct, "changed", latest_name)
                    step = self._file_events(unit, files[-1], latest_name, fetched, last)
                if new_digest != current or not same_bytes:
                    unit.remember(
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
            if not claimed and (marker is None or marker["run"] != me):
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
    unit: Unit,
    nct: str,
    seen: str,
    old: dict[str, Any],
    new: dict[str, Any],
    old_name: str | None,
    new_name: str,
    ignore: Sequence[str] = (),
) -> Comparison:
    """File what changed in one stored step as rows, in ``unit``; returns the comparison."""
    from trialwatch.store import events

    found = compare(nct, old, new, ignore)
    made_on = get(new, "protocolSection", "statusModule", "lastUpdateSubmitDate")
    rows = events.rows_of(
        nct, seen, made_on if isinstance(made_on, str) else None, old_name, new_name,
        found.changes, found.events,
    )  # fmt: skip
    unit.file_events(rows)
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
        report.baseline = baseline(record, report.title)
        report.note(*options.first_notes.get(nct, []))
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
