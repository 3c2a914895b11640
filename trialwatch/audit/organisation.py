"""An organisation's desk read from a store: every trial of it the store holds, where its results
stand, the calendar, and what moved since the organisation's last audit. An audit remembers
(``record``): today's states are kept in the store and each transition is filed once as an
event row (``signal_started`` or ``signal_ended``) in the same transaction. A page that only
shows the desk (the site) records nothing: it shows the transitions the last audit told."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from trialwatch.audit.desk import (
    DeskTrial,
    Obligation,
    Transition,
    belongs,
    calendar,
    estimated_past,
    obligation,
    owners,
    sort_key,
    transitions,
    verified,
    words,
)
from trialwatch.audit.report import AuditedTrial, AuditReport, DeskReport
from trialwatch.audit.signals import audit_record
from trialwatch.changes.baseline import title_of
from trialwatch.changes.sentences import get
from trialwatch.errors import TrialwatchError
from trialwatch.record import utc_now
from trialwatch.store.port import Store


def desk_key(names: list[str]) -> str:
    """Where the store keeps what the organisation's last audit found."""
    return "desk:" + "|".join(sorted({" ".join(words(n)) for n in names}))


def desk_report(
    store: Store,
    names: list[str],
    day: dt.date,
    grace: int,
    *,
    submitted: set[str] | None = None,
    fetched: set[str] | None = None,
    strict: bool = True,
    trials: Iterable[str] | None = None,
    record: bool = True,
    reuse: Mapping[str, DeskTrial] | None = None,
    latest_names: Mapping[str, str | None] | None = None,
) -> DeskReport:
    """The desk of the organisation ``names`` on ``day``. ``submitted``: trials the registry's
    Results Submitted filter lists; ``fetched``: those a registry search found (a snapshot of
    another trial that cannot be read is then no error of this desk, unless ``strict``);
    ``trials``: the trials to look at (default: every one the store holds). ``reuse``: trials
    worked out on this same day, taken as they are when ``latest_names`` (each trial's latest
    snapshot name) says their snapshot did not move."""
    audit = AuditReport(generated_at=utc_now(), today=day.isoformat(), grace_days=grace)
    report = DeskReport(audit, names)
    stored = store.meta(desk_key(names))
    stored = stored if isinstance(stored, dict) else {}
    states = stored.get("states")
    known: dict[str, Any] = states if isinstance(states, dict) else {}
    wanted = set(fetched or ()) | set(known)
    left: dict[str, str] = {}
    for nct in store.trials() if trials is None else trials:
        kept = (reuse or {}).get(nct)
        if kept is not None and latest_names is not None and kept.source == latest_names.get(nct):
            report.trials.append(kept)
            continue
        try:
            latest = store.latest(nct)
        except TrialwatchError as exc:
            if nct in wanted or strict:
                audit.trials.append(AuditedTrial(nct, error=f"not read: {exc}"))
            continue
        if latest is None:
            continue
        rec = latest.record
        matched = belongs(rec, names)
        if matched is None:
            if nct in known:
                lead = get(rec, "protocolSection", "sponsorCollaboratorsModule", "leadSponsor",
                           "name")  # fmt: skip
                left[nct] = f"no longer the organisation's: the lead sponsor is now {lead}"
            continue
        status = get(rec, "protocolSection", "statusModule", "overallStatus")
        when, months = verified(rec, day)
        report.trials.append(
            DeskTrial(
                nct_id=nct,
                title=title_of(rec),
                status=status if isinstance(status, str) else None,
                matched=matched,
                obligation=obligation(rec, day, grace, listed_submitted=nct in (submitted or ())),
                owners=owners(rec),
                verified=when,
                verified_months=months,
                estimated_past=estimated_past(rec, day),
                signals=audit_record(rec, day, grace_days=grace),
                source=latest.name,
            )
        )
    report.trials.sort(key=sort_key)
    for t in report.trials:
        audit.trials.append(AuditedTrial(t.nct_id, t.title, t.status, None, t.source, t.signals))
    report.calendar = calendar(
        ((t.nct_id, t.obligation.state, t.obligation.due) for t in report.trials), day
    )
    _tell(store, report, stored, day, grace, left, record)
    return report


def _tell(
    store: Store,
    report: DeskReport,
    stored: dict[str, Any],
    day: dt.date,
    grace: int,
    left: dict[str, str],
    record: bool,
) -> None:
    """Work out the transitions since the last audit of an earlier day; when recording, file
    those not filed yet as events and keep today's states (a second audit the same day shows
    the same transitions and files none twice)."""
    now = {t.nct_id: t.obligation for t in report.trials}
    today = day.isoformat()
    same_day = stored.get("day") == today
    if not record:  # show what the last audit told, as it told it
        same_day = True
    baseline = stored.get("before") if same_day else (stored or None)
    if isinstance(baseline, dict) and isinstance(baseline.get("states"), dict):
        report.since = str(baseline.get("day"))
        report.transitions = transitions(baseline["states"], now, grace, left)
    else:
        report.first = True
        baseline = None
    if not record or (not now and not stored):
        return  # nothing to remember yet: a first audit that found no trial stays the first
    if same_day and baseline is not None:
        new = transitions(stored.get("states") or {}, now, grace, left)
    else:
        new = report.transitions
    keep = {
        "day": today,
        "names": report.sponsors,
        "states": {n: o.memory() for n, o in now.items()},
        "before": baseline,
    }
    rows = [_row(t, report, now) for t in new]
    with store.unit(key=desk_key(report.sponsors)) as unit:
        if rows:
            unit.file_events(rows)
        unit.set_meta(desk_key(report.sponsors), keep)


def _row(t: Transition, report: DeskReport, now: dict[str, Obligation]) -> Any:
    from trialwatch.changes.events.scene import RANK_RESULTS
    from trialwatch.store import events

    trial = report.trial(t.nct_id)
    headline = t.reason[:1].upper() + t.reason[1:]
    kind = "signal_started" if t.started else "signal_ended"
    found = now.get(t.nct_id)
    body = {
        "type": kind,
        "headline": headline,
        "signal": t.signal,
        "organisation": report.sponsors,
        "from": t.before.value if t.before else None,
        "to": t.after.value if t.after else None,
        "results": found.to_json() if found else None,
        "audited_on": report.audit.today,
    }
    return events.Row(
        t.nct_id, utc_now(), None, None, (trial.source or "") if trial else "",
        "event", kind, "results", headline, RANK_RESULTS + 5, body,
    )  # fmt: skip
