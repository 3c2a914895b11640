"""Read one record (and the one before it, for enrollment jumps) for the transparency signals
that apply on a given day. Each signal carries its evidence and the rule it applies, in words."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from trialwatch.audit.rules import (
    DESIGN,
    OVERSIGHT,
    STATUS,
    Applicability,
    applicability,
    basis,
    date_struct,
    results_submitted,
    submission_cycles,
    us_site,
)
from trialwatch.changes.dates import months_words, parse_partial, span_words
from trialwatch.changes.events.results import deadline, ordinal
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import one_line
from trialwatch.changes.words import status_words
from trialwatch.model import SignalType

GRACE_DAYS = 30
STANDING_NOTE = (
    "Signals are read from the public record only. A “probable” applicable clinical trial and "
    "“probably overdue” results are not legal determinations: IND/IDE status, extensions and "
    "waivers granted privately are not public."
)
OPEN = {
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ACTIVE_NOT_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "SUSPENDED",
}
SHOWN_UNKNOWN = {"RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING"}
HUGE_ENROLLMENT = 1_000_000
JUMP = 100


SIGNAL_NAMES: dict[SignalType, str] = {
    SignalType.RESULTS_OVERDUE: "results probably overdue",
    SignalType.RESULTS_DUE: "results probably due",
    SignalType.RESULTS_LATE: "results submitted late",
    SignalType.STATUS_STALE: "status not updated after completion",
    SignalType.ESTIMATED_DATE_PAST: "estimated date in the past",
    SignalType.VERIFICATION_OVERDUE: "verification overdue",
    SignalType.RESULTS_IN_QC: "results in QC review",
    SignalType.RESULTS_RETURNED: "results returned by QC review",
    SignalType.RESULTS_CANCELLED: "results submission cancelled",
    SignalType.LATE_CERTIFICATION: "late delay certification",
    SignalType.FDAAA_VIOLATION: "FDAAA 801 violation posted",
    SignalType.IMPLAUSIBLE_ENROLLMENT: "implausible enrollment",
}


class Level(StrEnum):
    ALERT = "alert"  # an obligation probably missed
    WARNING = "warning"  # the record is probably out of date or stuck
    NOTE = "note"  # worth knowing: a step under way, a past lapse


@dataclass(frozen=True, slots=True)
class Signal:
    type: SignalType
    level: Level
    headline: str
    evidence: tuple[str, ...]
    rule: str
    subject: str = ""  # which date, for signals that can apply more than once
    dates: dict[str, str | None] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What stays the same while the signal goes on applying."""
        return f"{self.type.value}:{self.subject}" if self.subject else self.type.value

    @property
    def name(self) -> str:
        return SIGNAL_NAMES[self.type]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signal:
        """A signal as ``to_json`` wrote it (a page's cache)."""
        return cls(
            SignalType(data["type"]),
            Level(data["level"]),
            str(data["headline"]),
            tuple(str(e) for e in data.get("evidence", [])),
            str(data.get("rule", "")),
            subject=str(data["key"]).split(":", 1)[1] if ":" in str(data["key"]) else "",
            dates=dict(data.get("dates") or {}),
            inputs=dict(data.get("inputs") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "key": self.key,
            "level": self.level.value,
            "name": self.name,
            "headline": self.headline,
            "evidence": list(self.evidence),
            "rule": self.rule,
            "dates": dict(self.dates),
            "inputs": dict(self.inputs),
        }


def _ago(today: dt.date, day: dt.date) -> str:
    return span_words((today - day).days)


def _dated(text: str, kind: str) -> str:
    return f"{text} ({kind.lower()})" if kind else text


def audit_record(
    record: dict[str, Any],
    today: dt.date,
    *,
    grace_days: int = GRACE_DAYS,
    previous: dict[str, Any] | None = None,
) -> list[Signal]:
    """Every signal that applies to ``record`` on ``today``; ``previous`` is the record before
    it (for an enrollment jump). A record too odd to read for one signal still gets the others."""
    found: list[Signal] = []
    for reader in (_results, _qc, _stale, _estimated, _verification, _certification, _violation):
        try:
            found.extend(reader(record, today, grace_days))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            continue
    if any(s.type is SignalType.STATUS_STALE for s in found):
        # The stale status already says the (estimated) completion date passed.
        found = [s for s in found if s.key != "estimated_date_past:completion"]
    with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError, IndexError):
        found.extend(_enrollment(record, previous))
    return found


def next_change(record: dict[str, Any], today: dt.date, grace_days: int = GRACE_DAYS) -> str | None:
    """The first day after ``today`` on which the calendar alone could change this record's
    signals (a date passing, a deadline or grace period ending, a verification turning 12 or
    24 months old), as ISO text; None when no such day is ahead."""
    days: list[dt.date] = []
    for name in ("startDateStruct", "primaryCompletionDateStruct", "completionDateStruct"):
        found = date_struct(record, name)
        if found is not None:
            days.append(found[1] + dt.timedelta(days=1))
    due = deadline(record)
    if due is not None:
        days += [due.due + dt.timedelta(days=1), due.due + dt.timedelta(days=grace_days + 1)]
    verified = parse_partial(get(record, *STATUS, "statusVerifiedDate"))
    if verified is not None and verified.month is not None:
        for months in (13, 25):
            total = verified.year * 12 + verified.month - 1 + months
            days.append(dt.date(total // 12, total % 12 + 1, 1))
    ahead = [d for d in days if d > today]
    return min(ahead).isoformat() if ahead else None


def _act_evidence(act: Applicability, record: dict[str, Any]) -> list[str]:
    lines = [f"probable applicable clinical trial: {', '.join(n for n, _ in act.tests)}"]
    if any("United States" in name for name, _ in act.tests):
        return lines  # the location was one of the tests
    lines.append(
        "a site in the United States or a US territory"
        if us_site(record)
        else "no site in the United States listed (the trial may still run under an IND or IDE)"
    )
    return lines


def _results(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    if get(record, *STATUS, "resultsWaived") is True:
        return []
    act = applicability(record)
    due = deadline(record)
    if not act.probable or due is None:
        return []
    submitted, cancelled = results_submitted(record)
    late_after = due.due + dt.timedelta(days=grace)
    rule = (
        "42 CFR 11.44: results within 1 year of primary completion (3 years after a delay "
        f"certification); the FDAAA TrialsTracker's probable-ACT test; {grace}-day grace period"
    )
    dates: dict[str, str | None] = {
        "due": due.due.isoformat(),
        "completion": due.completion.isoformat(),
    }
    inputs = {"basis": basis(due), "certified": due.certified, "grace_days": grace}
    evidence = [f"due {due.due.isoformat()}: {basis(due)}", *_act_evidence(act, record)]
    if submitted is not None:
        dates["submitted"] = submitted.isoformat()
        if submitted <= late_after:
            return []
        late = (submitted - due.due).days
        return [
            Signal(
                SignalType.RESULTS_LATE,
                Level.NOTE,
                f"Results submitted {span_words(late)} after the deadline, by the public record "
                f"(submitted {submitted.isoformat()}, due {due.due.isoformat()})",
                tuple(evidence),
                rule,
                dates=dates,
                inputs=inputs,
            )
        ]
    if today <= due.due:
        return []
    if cancelled:
        evidence.append(f"a results submission was cancelled by the sponsor on {cancelled}")
        dates["cancelled"] = cancelled
    if today <= late_after:
        return [
            Signal(
                SignalType.RESULTS_DUE,
                Level.WARNING,
                f"Results probably due: the deadline was {due.due.isoformat()} and none are "
                f"submitted; overdue after {late_after.isoformat()}",
                tuple(evidence),
                rule,
                dates=dates,
                inputs=inputs,
            )
        ]
    if due.estimated:
        evidence.append("the deadline comes from an estimated date: the record may be out of date")
    return [
        Signal(
            SignalType.RESULTS_OVERDUE,
            Level.ALERT,
            f"Results probably overdue: due {due.due.isoformat()}, {_ago(today, due.due)} ago, "
            "and none submitted by the public record"
            + (" (the deadline comes from an estimated date)" if due.estimated else ""),
            tuple(evidence),
            rule,
            dates=dates,
            inputs={**inputs, "days_late": (today - due.due).days},
        )
    ]


def _qc(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    if get(record, *STATUS, "resultsFirstPostDateStruct"):
        return []  # posted: the review is over
    cycles = submission_cycles(record)
    if not cycles:
        return []
    last = cycles[-1]
    returns = sum(1 for c in cycles if c.returned)
    rule = "the registry's QC review of submitted results (submission tracking)"
    history = [
        f"{ordinal(i)} submission {c.released or 'on an unknown date'}"
        + (f", returned by QC review {c.returned}" if c.returned else "")
        + (f", cancelled by the sponsor {c.cancelled}" if c.cancelled else "")
        for i, c in enumerate(cycles, 1)
    ]
    data = {"submissions": len(cycles), "returned": returns}
    if last.cancelled:
        return [
            Signal(
                SignalType.RESULTS_CANCELLED,
                Level.WARNING,
                f"Results submission cancelled by the sponsor on {last.cancelled}; none since",
                tuple(history),
                rule,
                dates={"cancelled": last.cancelled},
                inputs=data,
            )
        ]
    if last.returned:
        times = "once" if returns == 1 else f"{returns} times"
        return [
            Signal(
                SignalType.RESULTS_RETURNED,
                Level.WARNING,
                f"Results returned by QC review {times}, last on {last.returned}; "
                "not yet submitted again",
                tuple(history),
                rule,
                dates={"returned": last.returned},
                inputs=data,
            )
        ]
    since = parse_partial(last.released)
    waiting = ""
    if since is not None and since.day is not None:
        waiting = f", {_ago(today, dt.date(since.year, since.month or 1, since.day))} ago"
    before = f" (returned {returns} times before)" if returns > 1 else ""
    before = " (returned once before)" if returns == 1 else before
    return [
        Signal(
            SignalType.RESULTS_IN_QC,
            Level.NOTE,
            f"Results submitted {last.released or 'on an unknown date'}{waiting}, waiting for "
            f"QC review{before}",
            tuple(history),
            rule,
            dates={"submitted": last.released},
            inputs=data,
        )
    ]


def _status(record: dict[str, Any]) -> str:
    code = get(record, *STATUS, "overallStatus")
    return code if isinstance(code, str) else ""


def _stale(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    status = _status(record)
    if status not in OPEN:
        return []
    completion = date_struct(record, "completionDateStruct")
    primary = date_struct(record, "primaryCompletionDateStruct")
    if completion is None or completion[1] >= today:
        return []
    if primary is not None and primary[1] >= today:
        return []
    _, end, text, kind = completion
    return [
        Signal(
            SignalType.STATUS_STALE,
            Level.WARNING,
            f"Status still “{status_words(status)}” though the completion date "
            f"{_dated(text, kind)} passed {_ago(today, end)} ago",
            (f"completion date {_dated(text, kind)}", f"status: {status_words(status)}"),
            "the status should be updated within 30 days of a change (42 CFR 11.64); the "
            "FDAAA TrialsTracker's date-and-status discrepancy test",
            dates={"completion": text},
            inputs={"status": status},
        )
    ]


_DATES = (
    ("startDateStruct", "start", "has the trial started?"),
    ("primaryCompletionDateStruct", "primary_completion", "not updated after primary completion?"),
    ("completionDateStruct", "completion", "not updated after completion?"),
)


def _estimated(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    found = []
    for name, subject, question in _DATES:
        date = date_struct(record, name)
        if date is None or date[3] != "ESTIMATED" or date[1] >= today:
            continue
        words = subject.replace("_", " ")
        found.append(
            Signal(
                SignalType.ESTIMATED_DATE_PAST,
                Level.WARNING,
                f"The estimated {words} date {date[2]} is {_ago(today, date[1])} in the past: "
                f"{question}",
                (f"{words} date {date[2]}, marked estimated",),
                "an estimated date should become the actual one once it happens (42 CFR 11.64)",
                subject=subject,
                dates={subject: date[2]},
            )
        )
    return found


def _months(verified: str, today: dt.date) -> int | None:
    date = parse_partial(verified)
    if date is None or date.month is None:
        return None
    return (today.year - date.year) * 12 + today.month - date.month


def _verification(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    verified = get(record, *STATUS, "statusVerifiedDate")
    months = _months(verified, today) if isinstance(verified, str) else None
    if months is None or months <= 12:
        return []
    status = _status(record)
    last_known = get(record, *STATUS, "lastKnownStatus")
    if status == "UNKNOWN":
        was = f" (last known: {status_words(last_known)})" if last_known else ""
        headline = f"Not verified since {verified}; the registry shows the status as Unknown{was}"
        level = Level.WARNING
    elif status in OPEN:
        headline = f"Not verified since {verified}, {months_words(months)} ago"
        level = Level.WARNING
        if months > 24 and status in SHOWN_UNKNOWN:
            headline += "; the registry will show the status as Unknown"
            level = Level.ALERT
    else:
        submitted, _ = results_submitted(record)
        if submitted is not None or not applicability(record).probable:
            return []  # a closed trial with results, or not required to keep updating
        headline = (
            f"Not verified since {verified}, {months_words(months)} ago, while results are still "
            "awaited"
        )
        level = Level.WARNING
    return [
        Signal(
            SignalType.VERIFICATION_OVERDUE,
            level,
            headline,
            (f"record last verified {verified}", f"status: {status_words(status)}"),
            "a record is to be verified at least every 12 months (42 CFR 11.64); an open "
            "status not verified for 2 years is shown as Unknown by the registry",
            dates={"verified": verified if isinstance(verified, str) else None},
            inputs={"months": months, "status": status},
        )
    ]


def _certification(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    filed = parse_partial(get(record, *STATUS, "dispFirstSubmitDate"))
    due = deadline(record)
    if filed is None or due is None or filed.day is None:
        return []
    filed_day = dt.date(filed.year, filed.month or 1, filed.day)
    standard = replace(due, certified=False)  # the 1-year deadline it had to beat
    if filed_day <= standard.due:
        return []
    return [
        Signal(
            SignalType.LATE_CERTIFICATION,
            Level.WARNING,
            f"Delay certification filed {filed.text}, "
            f"{span_words((filed_day - standard.due).days)} after the 1-year results deadline "
            f"{standard.due.isoformat()}",
            (
                f"certification filed {filed.text}",
                f"deadline {standard.due.isoformat()}: {basis(standard)}",
            ),
            "a certification to delay results must be filed before the 1-year deadline "
            "(42 CFR 11.44(b), (c)); the FDAAA TrialsTracker's late-certificate test",
            dates={"filed": filed.text, "due": standard.due.isoformat()},
        )
    ]


def _violation(record: dict[str, Any], today: dt.date, grace: int) -> list[Signal]:
    events = get(record, "annotationSection", "annotationModule", "violationAnnotation")
    events = events.get("violationEvents") if isinstance(events, dict) else None
    items = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    flagged = get(record, *OVERSIGHT, "fdaaa801Violation") is True
    if not items and not flagged:
        return []
    items.sort(key=lambda e: str(e.get("postedDate") or e.get("issuedDate") or ""))
    evidence = tuple(
        one_line(
            f"{_violation_words(e.get('type'))} posted "
            f"{e.get('postedDate') or 'on an unknown date'}"
            + (f": {e['description']}" if e.get("description") else ""),
            300,
        )
        for e in items
    )
    rule = "FDAAA 801 (42 U.S.C. 282(j)): violations the FDA identifies are posted on the record"
    first = next((e for e in items if "CORRECTION" not in str(e.get("type"))), None)
    newest = items[-1] if items else None
    posted = str(first.get("postedDate")) if first else None
    if newest is not None and "CORRECTION" in str(newest.get("type")):
        return [
            Signal(
                SignalType.FDAAA_VIOLATION,
                Level.NOTE,
                f"An FDAAA 801 violation was posted {posted or 'on this record'} and its "
                f"correction confirmed {newest.get('postedDate') or ''}".rstrip(),
                evidence,
                rule,
                dates={"posted": posted, "corrected": newest.get("postedDate")},
                inputs={"corrected": True},
            )
        ]
    return [
        Signal(
            SignalType.FDAAA_VIOLATION,
            Level.ALERT,
            f"An FDAAA 801 violation is posted on the record{f' ({posted})' if posted else ''}, "
            "with no correction posted",
            evidence or ("the record is flagged with an FDAAA 801 violation",),
            rule,
            dates={"posted": posted},
            inputs={"corrected": False},
        )
    ]


_VIOLATION_WORDS = {
    "VIOLATION_IDENTIFIED": "violation identified",
    "CORRECTION_CONFIRMED": "correction confirmed",
    "PENALTY_IMPOSED": "penalty imposed",
    "ISSUES_IN_LETTER_ADDRESSED_CONFIRMED": "issues in the letter addressed",
}


def _violation_words(code: Any) -> str:
    if isinstance(code, str) and code in _VIOLATION_WORDS:
        return _VIOLATION_WORDS[code]
    return str(code or "event").replace("_", " ").lower()


def _count(record: dict[str, Any] | None) -> int | None:
    if record is None:
        return None
    count = get(record, *DESIGN, "enrollmentInfo", "count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _enrollment(record: dict[str, Any], previous: dict[str, Any] | None) -> list[Signal]:
    count, before = _count(record), _count(previous)
    interventional = get(record, *DESIGN, "studyType") == "INTERVENTIONAL"
    rule = (
        "a plausibility check, not a registry rule: 1,000,000 or more participants in an "
        "interventional trial, or a 100-fold jump between two records"
    )
    if count is None:
        return []
    if interventional and count >= HUGE_ENROLLMENT:
        return [
            Signal(
                SignalType.IMPLAUSIBLE_ENROLLMENT,
                Level.WARNING,
                f"Enrollment of {count:,} is implausible for an interventional trial: a typo?",
                (f"enrollment {count:,}",),
                rule,
                inputs={"count": count, "previous": before},
            )
        ]
    if before is not None and before > 0 and count >= JUMP * before:
        return [
            Signal(
                SignalType.IMPLAUSIBLE_ENROLLMENT,
                Level.WARNING,
                f"Enrollment jumped from {before:,} to {count:,} ({count // before}-fold): a typo?",
                (f"enrollment {before:,} before, {count:,} now",),
                rule,
                inputs={"count": count, "previous": before},
            )
        ]
    return []


def signal_list(signals: list[Signal]) -> list[str]:
    """Each signal's name once, with what it is about: "estimated date in the past (start,
    primary completion)", never the same name twice."""
    about: dict[str, list[str]] = {}
    for s in signals:
        subjects = about.setdefault(s.name, [])
        if s.subject and s.subject.replace("_", " ") not in subjects:
            subjects.append(s.subject.replace("_", " "))
    return [f"{n} ({', '.join(sub)})" if sub else n for n, sub in about.items()]


def signal_names(signals: list[Signal]) -> str:
    """Signals in a sentence: "estimated date in the past (start, primary completion);
    verification overdue"."""
    return "; ".join(signal_list(signals))
