"""Deliver: the reports of the changes still pending for an output (this run's, and those a
killed run left), each output's digest of them sent (outputs/: mail, each channel, or a dry
run's preview), and the marks that an output has them. A change stays pending for an output
until that output has it."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from trialwatch.changes.baseline import title_of
from trialwatch.errors import StoreError, TrialwatchError
from trialwatch.model import Outcome, QueryReport, RunReport, TrialReport
from trialwatch.outputs.base import Output
from trialwatch.pipeline.compare import CheckOptions, describe
from trialwatch.record import utc_now
from trialwatch.store.port import Store, snapshot_sort_key

log = logging.getLogger("trialwatch")


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
    report.changes, report.events, report.baseline = (), (), None
    report.note(
        f"the record changed, but trialwatch could not describe the change "
        f"({type(exc).__name__}: {exc}); see it with trialwatch diff on the snapshots "
        f"{previous or '(none)'} and {current}, and please report it"
    )


# Trials marked delivered in one batch: one commit for a page of a long list's news.
DELIVERED_BATCH = 500


def delivered(store: Store, output: str, reports: Iterable[TrialReport]) -> None:
    """Mark what these reports showed (up to their snapshot) as reported on ``output``. A
    change stored since stays pending. DELIVERED_BATCH trials to a batch of the store (one
    commit), their markers read at once."""
    shown = [t for t in reports if t.snapshot is not None and t.outcome is not Outcome.ERROR]
    for start in range(0, len(shown), DELIVERED_BATCH):
        page = shown[start : start + DELIVERED_BATCH]
        with store.batch():
            markers = store.pending.get_many([t.nct_id for t in page])
            for t in page:
                _delivered(store, output, t, markers)


def _delivered(
    store: Store, output: str, t: TrialReport, markers: dict[str, dict[str, Any]]
) -> None:
    """Mark one report's change delivered; ``markers`` (the page's, as read) follows what is
    put, so a trial's next report (a digest's next step) reads its marker as it is now."""
    marker = markers.get(t.nct_id)
    if marker is None or marker["run"] != store.run_id or output not in marker["outputs"]:
        return
    outputs = dict(marker["outputs"])
    names = [p.name for p in store.snapshots(t.nct_id)]
    if names and names[-1] == t.snapshot:
        del outputs[output]
    else:
        outputs[output] = t.snapshot
    store.pending.put(t.nct_id, store.run_id, outputs)
    if outputs:
        markers[t.nct_id] = {"run": store.run_id, "outputs": outputs}
    else:
        del markers[t.nct_id]


def error_report(nct_id: str, exc: TrialwatchError, store: Store | None) -> TrialReport:
    report = TrialReport(nct_id=nct_id, outcome=Outcome.ERROR, error=str(exc))
    if store is not None:
        try:
            if store.snapshots(nct_id):
                store.note_check(nct_id, utc_now(), "error", str(exc))
                report.note("not checked this time; its last snapshot is kept")
        except StoreError:
            pass
    return report


class Around(Protocol):
    """What a run does beside each output's delivery: ``before`` readies the digest's trials
    (the signals owed to this output) and returns the searches' news for it; ``after`` records
    what the output now knows."""

    def before(self, output: str, trials: list[TrialReport]) -> list[QueryReport]: ...

    def after(self, output: str, trials: list[TrialReport]) -> None: ...


def deliver_outputs(
    store: Store,
    outputs: list[Output],
    options: CheckOptions,
    report: RunReport,
    labels: dict[str, str],
    around: Around,
) -> list[str]:
    """Each output's digest of what it has not had yet, sent; what was sent marked delivered.
    An output that fails keeps its changes pending for the next run. Returns the problems."""
    problems: list[str] = []
    on_stdout = {t.nct_id: t.warning for t in report.trials}
    for output in outputs:
        trials = pending_reports(store, output.name, options)
        for t in trials:
            t.label = labels.get(t.nct_id)
            if t.warning and on_stdout.get(t.nct_id) != t.warning:
                # Trouble only the digest met (a snapshot it starts from is gone): said here
                # too, and the run ends in trouble, as it would for stdout.
                problems.append(f"{t.nct_id}: {t.warning} (in the {output.name} digest)")
        news = around.before(output.name, trials)
        try:
            done = output.send(report, trials, news)
        except TrialwatchError as exc:
            kept = "the changes are kept and will be in the next run's digest"
            problems.append(f"{exc}; {kept}")
            continue
        delivered(store, output.name, trials)
        try:
            store.note_delivery(output.name)
        except TrialwatchError as exc:
            log.warning("could not record the delivery to %s (%s)", output.name, exc)
        around.after(output.name, trials)
        if done:
            report.notes.append(done)
    return problems
