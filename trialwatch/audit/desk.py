"""An organisation's compliance desk: for each of its trials, the one results state a
spreadsheet sorts on (overdue, due, in QC review, returned, posted, not due) with its due date and
the rule behind it; the due calendar; and what changed since the organisation's last audit, each
transition with its reason in words.

Read from the public record only, as the signals are (``audit/rules.py`` says how a deadline and
a submission are read); the words "probably" and "by the public record" stand for what is not
public (IND/IDE status, extensions granted privately)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trialwatch.audit.rules import STATUS, applicability, basis, date_struct, submission_cycles
from trialwatch.audit.signals import Signal
from trialwatch.changes.dates import parse_partial, span_words
from trialwatch.changes.events.results import Deadline, deadline, ordinal
from trialwatch.changes.people import same_person
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import fold_key

SPONSORS = ("protocolSection", "sponsorCollaboratorsModule")
CALENDAR_DAYS = 90


class ResultsState(StrEnum):
    """Where a trial's results stand, one value a trial (sorted worst first)."""

    OVERDUE = "overdue"  # a probable ACT past its deadline and grace period, nothing submitted
    RETURNED = "returned"  # QC review returned the last submission; not yet submitted again
    DUE = "due"  # owed, with the deadline ahead (or within the grace period)
    IN_QC_REVIEW = "in_qc_review"  # submitted, waiting for the registry's QC review
    POSTED = "posted"  # results are on the record
    NOT_DUE = "not_due"  # nothing owed by the public record (not a probable ACT, no date…)


STATE_WORDS: dict[ResultsState, str] = {
    ResultsState.OVERDUE: "overdue",
    ResultsState.RETURNED: "returned by QC review",
    ResultsState.DUE: "due",
    ResultsState.IN_QC_REVIEW: "in QC review",
    ResultsState.POSTED: "posted",
    ResultsState.NOT_DUE: "not due",
}
ORDER = {s: i for i, s in enumerate(ResultsState)}
# The transparency signal each state stands for (a transition into one is a signal starting).
STATE_SIGNAL: dict[ResultsState, str] = {
    ResultsState.OVERDUE: "results_overdue",
    ResultsState.RETURNED: "results_returned",
    ResultsState.DUE: "results_due",
    ResultsState.IN_QC_REVIEW: "results_in_qc",
}

_WORD = re.compile(r"\w+")


def words(text: Any) -> list[str]:
    """The case-folded whole words of a name ("Acme Oncology, Inc." → acme, oncology, inc)."""
    return _WORD.findall(fold_key(text)) if isinstance(text, str) else []


def name_matches(wanted: str, field_value: Any) -> bool:
    """Every word of ``wanted`` is a whole word of the field, case-insensitive: "Acme Oncology"
    matches "Acme Oncology, Inc.", "Acme" does not match "Acmeco"."""
    want, have = words(wanted), set(words(field_value))
    return bool(want) and all(w in have for w in want)


def organisations(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of the organisations a record answers to: its lead sponsor, and the
    organisation of its responsible party (an investigator's affiliation)."""
    found: list[tuple[str, str]] = []
    lead = get(record, *SPONSORS, "leadSponsor", "name")
    if isinstance(lead, str) and lead.strip():
        found.append(("lead sponsor", lead))
    party = get(record, *SPONSORS, "responsibleParty")
    if isinstance(party, dict):
        for key in ("investigatorAffiliation", "oldOrganization"):
            value = party.get(key)
            if isinstance(value, str) and value.strip():
                found.append(("responsible party's organisation", value))
    return found


def belongs(record: dict[str, Any], names: Iterable[str]) -> str | None:
    """Which of the record's organisations one of ``names`` matches ("lead sponsor: Bayer"),
    or None when the trial is not the organisation's."""
    wanted = list(names)
    for where, value in organisations(record):
        if any(name_matches(n, value) for n in wanted):
            return f"{where}: {value}"
    return None


def owners(record: dict[str, Any]) -> list[str]:
    """The people who answer for a record, as the registry writes their names: the responsible
    party (an investigator), then the overall officials."""
    out: list[str] = []
    party = get(record, *SPONSORS, "responsibleParty")
    if isinstance(party, dict):
        name = party.get("investigatorFullName") or party.get("oldNameTitle")
        if isinstance(name, str) and name.strip():
            out.append(name.strip())
    officials = get(record, "protocolSection", "contactsLocationsModule", "overallOfficials")
    for person in officials if isinstance(officials, list) else []:
        name = person.get("name") if isinstance(person, dict) else None
        if isinstance(name, str) and name.strip() and not any(same_person(name, o) for o in out):
            out.append(name.strip())
    return out


@dataclass(slots=True)
class Obligation:
    """One trial of an organisation against its results obligation."""

    state: ResultsState
    reason: str  # the state in words: "due 2026-03-01 (primary completion 2025-03-01 + 1 year)…"
    due: dt.date | None = None
    rule: str | None = None  # "primary completion 2025-03-01 (actual) + 1 year"
    submitted: str | None = None  # first submission (a day, as the record gives it)
    returned: str | None = None  # the last QC return, while it stands
    returns: int = 0  # how many times QC review returned a submission
    submissions: int = 0
    posted: str | None = None
    certified: bool = False  # a delay certification moved the deadline

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "due": self.due.isoformat() if self.due else None,
            "rule": self.rule,
            "submitted": self.submitted,
            "returned": self.returned,
            "returns": self.returns,
            "submissions": self.submissions,
            "posted": self.posted,
            "certified": self.certified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Obligation:
        due = data.get("due")
        return cls(
            ResultsState(data["state"]),
            str(data["reason"]),
            due=dt.date.fromisoformat(due) if isinstance(due, str) else None,
            rule=data.get("rule"),
            submitted=data.get("submitted"),
            returned=data.get("returned"),
            returns=int(data.get("returns") or 0),
            submissions=int(data.get("submissions") or 0),
            posted=data.get("posted"),
            certified=bool(data.get("certified")),
        )

    def memory(self) -> dict[str, Any]:
        """What the next audit compares against (kept in the store)."""
        return {
            "state": self.state.value,
            "due": self.due.isoformat() if self.due else None,
            "returns": self.returns,
            "submitted": self.submitted,
            "posted": self.posted,
            "rule": self.rule,
        }


def _due_words(due: Deadline) -> str:
    return f"due {due.due.isoformat()} ({basis(due)})"


def obligation(
    record: dict[str, Any], today: dt.date, grace_days: int, *, listed_submitted: bool = False
) -> Obligation:
    """Where a record's results stand on ``today``. ``listed_submitted``: the registry's own
    "Results Submitted" filter lists the trial (a submission the record may not show yet)."""
    due = deadline(record)
    rule = basis(due) if due is not None else None
    common: dict[str, Any] = {
        "due": due.due if due is not None else None,
        "rule": rule,
        "certified": bool(due and due.certified),
    }
    posted_struct = get(record, *STATUS, "resultsFirstPostDateStruct")
    posted = posted_struct.get("date") if isinstance(posted_struct, dict) else None
    first = get(record, *STATUS, "resultsFirstSubmitDate")
    cycles = submission_cycles(record)
    returns = sum(1 for c in cycles if c.returned)
    common.update(
        submissions=len(cycles),
        returns=returns,
        submitted=first if isinstance(first, str) else (cycles[0].released if cycles else None),
    )
    if isinstance(posted, str) and posted:
        return Obligation(ResultsState.POSTED, f"results posted {posted}", posted=posted, **common)
    last = cycles[-1] if cycles else None
    if last is not None and last.returned and not last.cancelled:
        return Obligation(
            ResultsState.RETURNED,
            f"returned by QC review on {last.returned} ({ordinal(returns)} round); "
            "not yet submitted again",
            returned=last.returned,
            **common,
        )
    if last is not None and not last.cancelled:
        since = last.released or "an unknown date"
        again = f" ({ordinal(len(cycles))} submission)" if len(cycles) > 1 else ""
        return Obligation(
            ResultsState.IN_QC_REVIEW, f"submitted {since}{again}, in QC review", **common
        )
    if last is None and isinstance(first, str):
        return Obligation(ResultsState.IN_QC_REVIEW, f"submitted {first}, in QC review", **common)
    if listed_submitted:
        return Obligation(
            ResultsState.IN_QC_REVIEW,
            "submitted, in QC review (the registry lists it under Results Submitted)",
            **common,
        )
    cancelled = f"; a submission was cancelled on {last.cancelled}" if last else ""
    if get(record, *STATUS, "resultsWaived") is True:
        return Obligation(ResultsState.NOT_DUE, "results waived", **common)
    act = applicability(record)
    if not act.probable:
        failed = ", ".join(act.failed())
        return Obligation(
            ResultsState.NOT_DUE, f"not a probable applicable clinical trial (fails: {failed})",
            **common,
        )  # fmt: skip
    if due is None:
        return Obligation(ResultsState.NOT_DUE, "no completion date to count from", **common)
    late_after = due.due + dt.timedelta(days=grace_days)
    if today > late_after:
        estimated = " (counted from an estimated date)" if due.estimated else ""
        return Obligation(
            ResultsState.OVERDUE,
            f"{_due_words(due)}, passed {span_words((today - due.due).days)} ago; no results "
            f"submitted{estimated}{cancelled}",
            **common,
        )
    if today > due.due:
        return Obligation(
            ResultsState.DUE,
            f"{_due_words(due)}, passed; overdue after {late_after.isoformat()}{cancelled}",
            **common,
        )
    return Obligation(ResultsState.DUE, f"{_due_words(due)}{cancelled}", **common)


def estimated_past(record: dict[str, Any], today: dt.date) -> list[str]:
    """The record's dates still marked estimated though already past: "primary completion
    2025-02"."""
    out = []
    for name, words_ in (
        ("startDateStruct", "start"),
        ("primaryCompletionDateStruct", "primary completion"),
        ("completionDateStruct", "completion"),
    ):
        found = date_struct(record, name)
        if found is not None and found[3] == "ESTIMATED" and found[1] < today:
            out.append(f"{words_} {found[2]}")
    return out


def verified(record: dict[str, Any], today: dt.date) -> tuple[str | None, int | None]:
    """The record's status-verified month and how many months ago it was."""
    text = get(record, *STATUS, "statusVerifiedDate")
    date = parse_partial(text) if isinstance(text, str) else None
    if date is None or date.month is None:
        return (text if isinstance(text, str) else None), None
    return text, (today.year - date.year) * 12 + today.month - date.month


# -- the calendar --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Week:
    starts: dt.date  # a Monday
    trials: tuple[tuple[str, dt.date], ...]  # (trial, due date), by date

    def to_json(self) -> dict[str, Any]:
        return {
            "week_of": self.starts.isoformat(),
            "trials": [{"nct_id": n, "due": d.isoformat()} for n, d in self.trials],
        }


def calendar(
    dues: Iterable[tuple[str, ResultsState, dt.date | None]],
    today: dt.date,
    days: int = CALENDAR_DAYS,
) -> list[Week]:
    """Results falling due from ``today`` to ``days`` ahead and not yet submitted, by week
    (Monday first); weeks with nothing due are left out."""
    end = today + dt.timedelta(days=days)
    weeks: dict[dt.date, list[tuple[str, dt.date]]] = {}
    for nct, state, due in dues:
        if state is not ResultsState.DUE or due is None or not today <= due <= end:
            continue
        monday = due - dt.timedelta(days=due.weekday())
        weeks.setdefault(monday, []).append((nct, due))
    return [Week(m, tuple(sorted(weeks[m], key=lambda t: (t[1], t[0])))) for m in sorted(weeks)]


# -- transitions since the last audit -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    nct_id: str
    before: ResultsState | None  # None: new to the organisation's list
    after: ResultsState | None  # None: no longer on it
    reason: str
    started: bool  # a signal starting (else one ending, or news with none)

    @property
    def signal(self) -> str | None:
        """The transparency signal that starts (or ends) with this transition."""
        if self.started and self.after is not None:
            return STATE_SIGNAL.get(self.after)
        return STATE_SIGNAL.get(self.before) if self.before is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "from": self.before.value if self.before else None,
            "to": self.after.value if self.after else None,
            "reason": self.reason,
            "event": "signal_started" if self.started else "signal_ended",
            "signal": self.signal,
        }


def _state(value: Any) -> ResultsState | None:
    try:
        return ResultsState(value)
    except ValueError:
        return None


def _reason(old: dict[str, Any], new: Obligation, grace_days: int) -> tuple[str, bool] | None:
    """The words for one trial's move from ``old`` (as last stored) to ``new``, and whether a
    signal starts with it; None when nothing worth telling moved."""
    before, after = _state(old.get("state")), new.state
    S = ResultsState
    if before is after:
        if after is S.RETURNED and new.returns > int(old.get("returns") or 0):
            return (
                f"returned by QC review again ({ordinal(new.returns)} round) on {new.returned}",
                True,
            )
        if after in (S.DUE, S.OVERDUE) and new.due and old.get("due") not in (None, str(new.due)):
            return f"due date moved from {old.get('due')} to {new.due} ({new.rule})", False
        return None
    due = new.due.isoformat() if new.due else "an unknown date"
    if after is S.OVERDUE:
        grace = f", {grace_days} days' grace ended" if grace_days else ""
        return f"newly overdue ({new.rule} passed on {due}{grace}; no results)", True
    if after is S.RETURNED:
        return f"returned by QC review ({ordinal(new.returns)} round) on {new.returned}", True
    was = f"no longer {STATE_WORDS[before]}: " if before in (S.OVERDUE, S.RETURNED, S.DUE) else ""
    if after is S.POSTED:
        return f"{was}results posted on {new.posted}", False
    if after is S.IN_QC_REVIEW:
        if before is S.RETURNED:
            return f"submitted again after QC review returned it ({new.reason})", True
        return f"{was}results {new.reason}", True
    if after is S.DUE:
        return f"now {new.reason}", True
    # NOT_DUE
    return f"{was}{new.reason}", False


def transitions(
    before: dict[str, dict[str, Any]],
    now: dict[str, Obligation],
    grace_days: int,
    left: dict[str, str] | None = None,
) -> list[Transition]:
    """What moved between the last audit's states (``before``, as stored) and ``now``: each
    trial's state change with its reason; trials new to the list, and those it no longer holds
    (``left``: why, when known)."""
    out: list[Transition] = []
    for nct in sorted(now):
        new = now[nct]
        old = before.get(nct)
        if old is None:
            bad = new.state in STATE_SIGNAL and new.state is not ResultsState.DUE
            out.append(
                Transition(
                    nct, None, new.state,
                    f"new to the organisation's list: {STATE_WORDS[new.state]} ({new.reason})",
                    bad,
                )
            )  # fmt: skip
            continue
        told = _reason(old, new, grace_days)
        if told is not None:
            out.append(Transition(nct, _state(old.get("state")), new.state, *told))
    for nct in sorted(set(before) - set(now)):
        why = (left or {}).get(nct, "no longer found under the organisation's names")
        out.append(Transition(nct, _state(before[nct].get("state")), None, why, False))
    return out


@dataclass(slots=True)
class DeskTrial:
    """One trial on the desk: its obligation and what else an office checks."""

    nct_id: str
    title: str | None
    status: str | None
    matched: str  # "lead sponsor: Bayer"
    obligation: Obligation
    owners: list[str] = field(default_factory=list)
    verified: str | None = None
    verified_months: int | None = None
    estimated_past: list[str] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    source: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeskTrial:
        """A trial as ``to_json`` wrote it (a page's cache)."""
        return cls(
            nct_id=str(data["nct_id"]),
            title=data.get("title"),
            status=data.get("status"),
            matched=str(data.get("matched") or ""),
            obligation=Obligation.from_json(data["results"]),
            owners=list(data.get("owners") or []),
            verified=data.get("verified"),
            verified_months=data.get("verified_months_ago"),
            estimated_past=list(data.get("estimated_dates_past") or []),
            signals=[Signal.from_json(s) for s in data.get("signals") or []],
            source=data.get("source"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "status": self.status,
            "matched": self.matched,
            "results": self.obligation.to_json(),
            "owners": list(self.owners),
            "verified": self.verified,
            "verified_months_ago": self.verified_months,
            "estimated_dates_past": list(self.estimated_past),
            "source": self.source,
            "signals": [s.to_json() for s in self.signals],
        }


def sort_key(t: DeskTrial) -> tuple[int, str, str]:
    """Worst first; within a state, the oldest deadline first."""
    due = t.obligation.due.isoformat() if t.obligation.due else "9999"
    return ORDER[t.obligation.state], due, t.nct_id
