"""What one audit found, for every renderer: per trial, the signals that apply on a day."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
