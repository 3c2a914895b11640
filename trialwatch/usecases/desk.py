"""trialwatch audit --sponsor: an organisation's compliance desk. Every trial of the organisation
the store holds (or, with --fetch, that a registry search by sponsor finds), where its results
stand, what falls due in the next 90 days, and what moved since the last audit of the
organisation: told once (the states are kept in the store, and each transition is filed as an
event row, ``signal_started`` or ``signal_ended``, in the same transaction)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from trialwatch.audit.desk import Obligation, Transition
    from trialwatch.audit.report import DeskReport

from trialwatch.config import Settings
from trialwatch.errors import FetchError, InputError, TrialwatchError
from trialwatch.record import utc_now
from trialwatch.store.open import open_store
from trialwatch.store.port import Store
from trialwatch.usecases import common

log = logging.getLogger("trialwatch")

# The registry's "Results Submitted" filter (results submitted, not yet posted), on /studies
# since 2026-01-22 (its release notes). Read where it answers; the records say the rest.
RESULTS_SUBMITTED = "ressub"
# The search areas an organisation is looked up in: its lead sponsor, and the organisation of
# a responsible investigator (both are fields of the record's sponsor module).
AREAS = ("LeadSponsorName", "ResponsiblePartyInvestigatorAffiliation")


def checked_names(sponsors: list[str]) -> list[str]:
    """The organisation's names, each with at least one word to match."""
    from trialwatch.audit.desk import words

    names = [" ".join(s.split()) for s in sponsors]
    empty = [repr(s) for s in sponsors if not words(s)]
    if empty:
        raise InputError(
            f"--sponsor {empty[0]} has no word to match; give the organisation's name as the "
            'registry writes it (e.g. --sponsor "University of Michigan")'
        )
    return list(dict.fromkeys(names))


def search_expression(names: list[str]) -> str:
    """``AREA[LeadSponsorName]"Bayer" OR AREA[ResponsiblePartyInvestigatorAffiliation]"Bayer"``
    for each name (quotes in a name dropped: they would end the phrase)."""
    clauses = []
    for name in names:
        phrase = name.replace('"', " ").strip()
        clauses += [f'AREA[{area}]"{phrase}"' for area in AREAS]
    return " OR ".join(clauses)


def desk_key(names: list[str]) -> str:
    """Where the store keeps what the organisation's last audit found."""
    from trialwatch.audit.desk import words

    return "desk:" + "|".join(sorted({" ".join(words(n)) for n in names}))


def _fetch(
    names: list[str], settings: Settings, http: httpx.Client | None, notes: list[str]
) -> tuple[list[str], set[str]]:
    """The trials a registry search by sponsor finds, checked into the store (what changed stays
    pending for ``check``), and those the registry lists as results submitted."""
    from trialwatch.search.members import listed_ids
    from trialwatch.usecases.check import run_check

    query = {"query.term": search_expression(names)}
    what = f"the search for {' or '.join(names)}"
    client = common.build_client(settings, http)
    try:
        ids = listed_ids(client, query, what)
        try:
            submitted = listed_ids(
                client, {**query, "aggFilters": RESULTS_SUBMITTED}, f"{what} (results submitted)"
            )
        except FetchError as exc:
            submitted = set()
            notes.append(
                f"the registry's Results Submitted filter could not be read ({exc}); "
                "submissions are read from the records alone"
            )
    finally:
        client.close()
    if ids:
        run, _, _ = run_check(
            sorted(ids), [], settings, explicit_ids=True, email=False, notify_on=False, http=http
        )
        for t in run.errors:
            notes.append(f"{t.nct_id} could not be fetched ({t.error}); its last snapshot is used")
    return sorted(ids), submitted


def run_desk(
    sponsors: list[str],
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    fetch: bool = False,
    http: httpx.Client | None = None,
) -> DeskReport:
    """The organisation's desk on ``as_of`` (default today), remembered in the store."""
    from trialwatch.audit.desk import (
        DeskTrial,
        belongs,
        calendar,
        estimated_past,
        obligation,
        owners,
        sort_key,
        verified,
    )
    from trialwatch.audit.report import AuditedTrial, AuditReport, DeskReport
    from trialwatch.audit.signals import audit_record
    from trialwatch.changes.baseline import title_of
    from trialwatch.changes.sentences import get

    names = checked_names(sponsors)
    day = as_of or common.today()
    grace = int(settings["grace_days"])
    audit = AuditReport(generated_at=utc_now(), today=day.isoformat(), grace_days=grace)
    report = DeskReport(audit, names)
    fetched: list[str] = []
    submitted: set[str] = set()
    if fetch:
        fetched, submitted = _fetch(names, settings, http, audit.notes)
    store = open_store(settings.store)
    try:
        stored = _remembered(store, desk_key(names))
        left: dict[str, str] = {}
        wanted = set(fetched) | set(stored.get("states", {}))
        for nct in store.trials():
            try:
                latest = store.latest(nct)
            except TrialwatchError as exc:
                if nct in wanted or not fetch:
                    audit.trials.append(AuditedTrial(nct, error=f"not read: {exc}"))
                continue
            if latest is None:
                continue
            record = latest.record
            matched = belongs(record, names)
            if matched is None:
                if nct in stored.get("states", {}):
                    lead = get(record, "protocolSection", "sponsorCollaboratorsModule",
                               "leadSponsor", "name")  # fmt: skip
                    left[nct] = f"no longer the organisation's: the lead sponsor is now {lead}"
                continue
            signals = audit_record(record, day, grace_days=grace)
            status = get(record, "protocolSection", "statusModule", "overallStatus")
            when, months = verified(record, day)
            report.trials.append(
                DeskTrial(
                    nct_id=nct,
                    title=title_of(record),
                    status=status if isinstance(status, str) else None,
                    matched=matched,
                    obligation=obligation(record, day, grace, listed_submitted=nct in submitted),
                    owners=owners(record),
                    verified=when,
                    verified_months=months,
                    estimated_past=estimated_past(record, day),
                    signals=signals,
                    source=latest.name,
                )
            )
        report.trials.sort(key=sort_key)
        for t in report.trials:
            audit.trials.append(
                AuditedTrial(t.nct_id, t.title, t.status, None, t.source, t.signals)
            )
        report.calendar = calendar(
            ((t.nct_id, t.obligation.state, t.obligation.due) for t in report.trials), day
        )
        _tell(store, report, stored, day, grace, left)
    finally:
        store.close()
    if not report.trials and not audit.errors:
        audit.notes.append(
            f"no trial of {' or '.join(names)} in {store.label}"
            + ("" if fetch else "; --fetch searches the registry for them")
        )
    return report


def _remembered(store: Store, key: str) -> dict[str, Any]:
    value = store.meta(key)
    return value if isinstance(value, dict) else {}


def _tell(
    store: Store,
    report: DeskReport,
    stored: dict[str, Any],
    day: dt.date,
    grace: int,
    left: dict[str, str],
) -> None:
    """Work out the transitions since the last audit of an earlier day, file those not filed
    yet as events, and keep today's states: a second audit the same day shows the same
    transitions and files none twice."""
    from trialwatch.audit.desk import transitions

    now = {t.nct_id: t.obligation for t in report.trials}
    today = day.isoformat()
    same_day = stored.get("day") == today
    baseline = stored.get("before") if same_day else (stored or None)
    if isinstance(baseline, dict) and isinstance(baseline.get("states"), dict):
        report.since = str(baseline.get("day"))
        report.transitions = transitions(baseline["states"], now, grace, left)
    else:
        report.first = True
        baseline = None
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


def owners_table(settings: Settings) -> dict[str, list[str]]:
    """The config's ``[owners]``, checked with the mail settings before an audit that mails
    them (so that a setup error costs no transition)."""
    from trialwatch.config import owner_table
    from trialwatch.notify.mail import mail_settings

    table = owner_table(settings["owners"], "owners")
    if not table:
        raise InputError(
            "--mail-owners needs an [owners] table in the config: the names the registry gives "
            'a trial\'s responsible party or officials, to addresses ("Jane Doe, MD" = '
            '"jane.doe@example.org")'
        )
    first = next(iter(table.values()))[0]
    mail_settings({**settings["email"], "to": [first]})
    return table


def mail_owners(
    report: DeskReport, settings: Settings, table: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Mail each person of ``table`` the organisation's trials they answer for
    (audit/owners.py says when): (what was sent, what failed), in words."""
    from trialwatch.audit import owners

    return owners.mail_owners(report, table, settings["email"])
