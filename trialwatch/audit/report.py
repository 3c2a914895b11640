"""What one audit found, for every renderer: per trial, the signals that apply on a day."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trialwatch.audit.desk import (
    CALENDAR_DAYS,
    DeskTrial,
    ResultsState,
    Transition,
    Week,
)
from trialwatch.audit.signals import STANDING_NOTE, Level, Signal

SCHEMA = "trialwatch.audit/1"


@dataclass(slots=True)
class AuditedTrial:
    nct_id: str
    title: str | None = None
    status: str | None = None
    label: str | None = None
    source: str | None = None  # the snapshot or file the signals were read from
    signals: list[Signal] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "status": self.status,
            "label": self.label,
            "source": self.source,
            "error": self.error,
            "signals": [s.to_json() for s in self.signals],
        }


@dataclass(slots=True)
class AuditReport:
    generated_at: str
    today: str
    grace_days: int
    trials: list[AuditedTrial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[AuditedTrial]:
        return [t for t in self.trials if t.error]

    def signals(self) -> list[Signal]:
        return [s for t in self.trials for s in t.signals]

    def counts(self) -> dict[Level, int]:
        found = self.signals()
        return {level: sum(1 for s in found if s.level is level) for level in Level}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at,
            "today": self.today,
            "grace_days": self.grace_days,
            "note": STANDING_NOTE,
            "notes": list(self.notes),
            "counts": {k.value: v for k, v in self.counts().items()},
            "trials": [t.to_json() for t in self.trials],
        }


@dataclass(slots=True)
class DeskReport:
    """An organisation's audit (``audit --sponsor``): the audit's signals per trial, and for
    the desk each trial's results state, the due calendar and the transitions since the last
    audit of the organisation. Its JSON is the audit's (``trialwatch.audit/1``) with keys added."""

    audit: AuditReport
    sponsors: list[str]
    trials: list[DeskTrial] = field(default_factory=list)
    calendar: list[Week] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    since: str | None = None  # the day of the audit the transitions are counted from
    first: bool = False  # no audit of the organisation before this one

    def states(self) -> dict[ResultsState, int]:
        return {s: sum(1 for t in self.trials if t.obligation.state is s) for s in ResultsState}

    def trial(self, nct: str) -> DeskTrial | None:
        return next((t for t in self.trials if t.nct_id == nct), None)

    def to_json(self) -> dict[str, Any]:
        data = self.audit.to_json()
        data["trials"] = [{**t.to_json(), "label": None, "error": None} for t in self.trials] + [
            t.to_json() for t in self.audit.errors
        ]
        data["organisation"] = {
            "names": list(self.sponsors),
            "results_states": {k.value: v for k, v in self.states().items()},
            "calendar_days": CALENDAR_DAYS,
            "calendar": [w.to_json() for w in self.calendar],
            "transitions_since": self.since,
            "first_audit": self.first,
            "transitions": [t.to_json() for t in self.transitions],
        }
        return data
