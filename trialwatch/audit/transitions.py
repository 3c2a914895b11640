"""A transparency signal starting or stopping, said once as an event of ``check``: "Results
became probably overdue", "No longer: results probably overdue (results submitted 2026-03-02)"."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar, cast

from trialwatch.audit.rules import applicability, date_struct, results_submitted
from trialwatch.audit.signals import (
    SIGNAL_NAMES,
    Signal,
    audit_record,
    next_change,
    signal_names,
)
from trialwatch.changes.events.scene import RANK_RESULTS, RANK_STATUS
from trialwatch.changes.sentences import get
from trialwatch.changes.words import status_words
from trialwatch.model import Attribution, Event, EventType, SignalType

_RESULTS = {
    SignalType.RESULTS_OVERDUE,
    SignalType.RESULTS_DUE,
    SignalType.RESULTS_LATE,
    SignalType.RESULTS_IN_QC,
    SignalType.RESULTS_RETURNED,
    SignalType.RESULTS_CANCELLED,
    SignalType.LATE_CERTIFICATION,
    SignalType.FDAAA_VIOLATION,
}


def _type_of(key: str) -> SignalType | None:
    try:
        return SignalType(key.split(":", 1)[0])
    except ValueError:
        return None


def _rank(kind: SignalType) -> int:
    return (RANK_RESULTS if kind in _RESULTS else RANK_STATUS) + 5


def _why_ended(kind: SignalType, record: dict[str, Any], subject: str) -> str:
    """What in the record ended a signal, where it can be told."""
    status = get(record, "protocolSection", "statusModule", "overallStatus")
    if kind in (SignalType.RESULTS_OVERDUE, SignalType.RESULTS_DUE):
        submitted, _ = results_submitted(record)
        if submitted is not None:
            return f"results submitted {submitted.isoformat()}"
        act = applicability(record)
        if not act.probable:
            return "no longer a probable applicable clinical trial: " + ", ".join(
                f"not {name}" if not name.startswith("a ") else f"no {name[2:]}"
                for name in act.failed()
            )
        return "the deadline moved"
    if kind is SignalType.STATUS_STALE:
        return f"status now “{status_words(status)}”" if isinstance(status, str) else ""
    if kind is SignalType.ESTIMATED_DATE_PAST:
        name = {"start": "startDateStruct", "primary_completion": "primaryCompletionDateStruct"}
        found = date_struct(record, name.get(subject, "completionDateStruct"))
        if found is not None:
            return f"the date is now {found[2]} ({found[3].lower() or 'no type'})"
    if kind is SignalType.VERIFICATION_OVERDUE:
        # What ended it: a new verification, or a closed trial whose results are in (or that
        # no longer has to keep its record current).
        verified = get(record, "protocolSection", "statusModule", "statusVerifiedDate")
        said = f"verified {verified}" if isinstance(verified, str) else ""
        if isinstance(status, str) and status in ("COMPLETED", "TERMINATED", "WITHDRAWN"):
            submitted, _ = results_submitted(record)
            closed = f"the trial is now “{status_words(status)}”"
            if submitted is not None:
                closed += f" with results submitted {submitted.isoformat()}"
            return f"{closed}; last {said}" if said else closed
        return f"a new verification: {said}" if said else ""
    return ""


def signal_events(told: AbstractSet[str], now: list[Signal], record: dict[str, Any]) -> list[Event]:
    """Events for the signals that started since ``told`` and those that stopped."""
    events = []
    keys = {s.key for s in now}
    for s in now:
        if s.key in told:
            continue
        events.append(
            Event(
                type=EventType.SIGNAL_STARTED,
                headline=f"New signal: {s.headline}",
                rank=_rank(s.type),
                attribution=Attribution.UNKNOWN,
                clue="read from the public record (trialwatch audit explains each signal)",
                changes=(),
                details=s.evidence,
                covers=True,
                data={"signal": s.type.value, "key": s.key, "level": s.level.value, **s.dates},
            )
        )
    for key in sorted(told - keys):
        kind = _type_of(key)
        if kind is None:
            continue
        subject = key.split(":", 1)[1] if ":" in key else ""
        why = _why_ended(kind, record, subject)
        name = SIGNAL_NAMES[kind]
        if subject:
            name += f" ({subject.replace('_', ' ')})"
        events.append(
            Event(
                type=EventType.SIGNAL_ENDED,
                headline=f"No longer: {name}" + (f"; {why}" if why else ""),
                rank=_rank(kind) + 1,
                attribution=Attribution.UNKNOWN,
                clue="read from the public record",
                changes=(),
                data={"signal": kind.value, "key": key},
            )
        )
    return events


_V = TypeVar("_V")


class SignalWatch:
    """Within one check run: the signals in force for each record seen, and the events each
    output is owed, against what it was last told. Held for every trial of the run until its
    report is out, so kept small: one shared set for each set of signal keys (most trials have
    one of a few), the note of a new trial's signals as its text, no list for a trial owed
    nothing."""

    def __init__(
        self,
        told: dict[str, dict[str, frozenset[str]]],
        today: dt.date,
        grace_days: int,
        next_days: dict[str, str | None] | None = None,
    ) -> None:
        self.told = told  # output -> trial -> keys
        # Per trial, the next day the calendar could change its signals (as last stored), and
        # those this run worked out anew.
        self.next_days = next_days or {}
        self.new_next: dict[str, str | None] = {}
        self.today = today
        self.grace_days = grace_days
        self.now: dict[str, frozenset[str]] = {}
        self.owed: dict[str, dict[str, Sequence[Event]]] = {o: {} for o in told}
        self.first: dict[str, str] = {}  # in force when first seen: a note for new trials
        self._shared: dict[Any, Any] = {}

    def see(self, nct: str, record: dict[str, Any]) -> None:
        try:
            found = audit_record(record, self.today, grace_days=self.grace_days)
        except Exception:  # a signal is never worth a trial's report
            return
        now = self._share(frozenset(s.key for s in found))
        self.now[nct] = now
        with contextlib.suppress(Exception):
            day = next_change(record, self.today, self.grace_days)
            if self.next_days.get(nct, "?") != day:
                self.new_next[nct] = self._share(day)
        for output, told in self.told.items():
            before = told.get(nct)
            if before is None:
                # An output that never heard of this trial's signals (a new trial, or a store
                # from before signals) learns them quietly: audit lists what is in force.
                self.owed[output][nct] = ()
                if found and nct not in self.first:  # worded once, whatever the outputs
                    self.first[nct] = self._share(signal_names(found))
            elif before != now:
                self.owed[output][nct] = signal_events(before, found, record)

    def _share(self, value: _V) -> _V:
        """The one copy of an equal value this watch holds already (or this one, kept)."""
        return cast(_V, self._shared.setdefault(value, value))

    def due(self, nct: str) -> bool:
        """Whether a trial whose record was not fetched should be read from its snapshot: its
        signals were never worked out, an output has yet to hear what another heard (a mail that
        did not go out), or the calendar may have changed them since."""
        if nct not in self.next_days:
            return True
        heard = {frozenset(told.get(nct, ())) for told in self.told.values()}
        if len(heard) > 1:
            return True
        day = self.next_days[nct]
        return day is not None and day <= self.today.isoformat()

    def told_now(self, output: str, ncts: set[str]) -> list[tuple[str, frozenset[str]]]:
        """What ``output`` knows once the events of these trials are out (a trial it was owed
        nothing for knows it already)."""
        return [
            (n, self.now[n])
            for n, events in self.owed[output].items()
            if (n in ncts or not events) and n in self.now
        ]
