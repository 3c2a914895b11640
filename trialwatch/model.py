"""trialwatch's own change model. Every renderer and the JSON schema are built from these records,
never from the diff library's output."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Category(StrEnum):
    STATUS = "status"
    DATES = "dates"
    ENROLLMENT = "enrollment"
    ELIGIBILITY = "eligibility"
    LOCATIONS = "locations"
    ARMS_INTERVENTIONS = "arms_interventions"
    OUTCOMES = "outcomes"
    SPONSORS_CONTACTS = "sponsors_contacts"
    DESIGN = "design"
    IDENTIFICATION = "identification"
    DESCRIPTION = "description"
    REFERENCES = "references"
    RESULTS = "results"
    DOCUMENTS = "documents"
    OTHER = "other"


CATEGORY_TITLES: dict[Category, str] = {
    Category.STATUS: "Status",
    Category.DATES: "Dates",
    Category.ENROLLMENT: "Enrollment",
    Category.ELIGIBILITY: "Eligibility",
    Category.LOCATIONS: "Locations",
    Category.ARMS_INTERVENTIONS: "Arms & interventions",
    Category.OUTCOMES: "Outcomes",
    Category.SPONSORS_CONTACTS: "Sponsors & contacts",
    Category.DESIGN: "Design",
    Category.IDENTIFICATION: "Identification",
    Category.DESCRIPTION: "Description",
    Category.REFERENCES: "References",
    Category.RESULTS: "Results",
    Category.DOCUMENTS: "Documents",
    Category.OTHER: "Other",
}


class Outcome(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    ERROR = "error"


@dataclass(frozen=True)
class Change:
    """One thing that changed in one trial, said as a sentence."""

    nct_id: str
    path: str
    label: str
    kind: Kind
    old: Any
    new: Any
    sentence: str
    category: Category
    material: bool = True
    details: tuple[str, ...] = ()
    headline: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "label": self.label,
            "kind": self.kind.value,
            "old": self.old,
            "new": self.new,
            "sentence": self.sentence,
            "category": self.category.value,
            "material": self.material,
            "headline": self.headline,
            "details": list(self.details),
        }

    @classmethod
    def from_json(cls, nct_id: str, data: dict[str, Any]) -> Change:
        return cls(
            nct_id=nct_id,
            path=str(data["path"]),
            label=str(data["label"]),
            kind=Kind(data["kind"]),
            old=data.get("old"),
            new=data.get("new"),
            sentence=str(data["sentence"]),
            category=Category(data["category"]),
            material=bool(data.get("material", True)),
            details=tuple(str(d) for d in data.get("details", [])),
            headline=bool(data.get("headline", False)),
        )


@dataclass(frozen=True)
class DateValue:
    date: str | None
    type: str | None


@dataclass
class Baseline:
    """What a person wants to see the first time a trial is recorded."""

    title: str | None
    status: str | None
    phases: list[str]
    start: DateValue | None
    primary_completion: DateValue | None
    completion: DateValue | None
    enrollment: int | None
    enrollment_type: str | None
    lead_sponsor: str | None
    last_update_posted: str | None

    def to_json(self) -> dict[str, Any]:
        def date(d: DateValue | None) -> dict[str, Any] | None:
            return None if d is None else {"date": d.date, "type": d.type}

        return {
            "title": self.title,
            "status": self.status,
            "phases": self.phases,
            "start": date(self.start),
            "primary_completion": date(self.primary_completion),
            "completion": date(self.completion),
            "enrollment": self.enrollment,
            "enrollment_type": self.enrollment_type,
            "lead_sponsor": self.lead_sponsor,
            "last_update_posted": self.last_update_posted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        def date(d: Any) -> DateValue | None:
            return DateValue(d.get("date"), d.get("type")) if isinstance(d, dict) else None

        return cls(
            title=data.get("title"),
            status=data.get("status"),
            phases=list(data.get("phases") or []),
            start=date(data.get("start")),
            primary_completion=date(data.get("primary_completion")),
            completion=date(data.get("completion")),
            enrollment=data.get("enrollment"),
            enrollment_type=data.get("enrollment_type"),
            lead_sponsor=data.get("lead_sponsor"),
            last_update_posted=data.get("last_update_posted"),
        )


@dataclass
class TrialReport:
    """The outcome of checking (or diffing) one trial."""

    nct_id: str
    outcome: Outcome
    title: str | None = None
    changes: list[Change] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    baseline: Baseline | None = None
    error: str | None = None
    snapshot: str | None = None
    previous_snapshot: str | None = None
    alias_of: str | None = None
    notes: list[str] = field(default_factory=list)
    warning: str | None = None  # trouble that did not stop this trial's report (exit code 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "outcome": self.outcome.value,
            "title": self.title,
            "snapshot": self.snapshot,
            "previous_snapshot": self.previous_snapshot,
            "alias_of": self.alias_of,
            "error": self.error,
            "notes": list(self.notes),
            "warning": self.warning,
            "context": list(self.context),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "changes": [c.to_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialReport:
        nct = str(data["nct_id"])
        baseline = data.get("baseline")
        return cls(
            nct_id=nct,
            outcome=Outcome(data["outcome"]),
            title=data.get("title"),
            changes=[Change.from_json(nct, c) for c in data.get("changes", [])],
            context=list(data.get("context", [])),
            baseline=Baseline.from_json(baseline) if isinstance(baseline, dict) else None,
            error=data.get("error"),
            snapshot=data.get("snapshot"),
            previous_snapshot=data.get("previous_snapshot"),
            alias_of=data.get("alias_of"),
            notes=list(data.get("notes", [])),
            warning=data.get("warning"),
        )


@dataclass
class RunReport:
    """Everything one run found: what renderers and notifiers receive."""

    generated_at: str
    trials: list[TrialReport] = field(default_factory=list)
    data_timestamp: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: bool = False

    def by_outcome(self, outcome: Outcome) -> list[TrialReport]:
        return [t for t in self.trials if t.outcome is outcome]

    @property
    def warnings(self) -> list[TrialReport]:
        return [t for t in self.trials if t.warning]

    @property
    def errors(self) -> list[TrialReport]:
        return self.by_outcome(Outcome.ERROR)

    @property
    def changed(self) -> list[TrialReport]:
        return self.by_outcome(Outcome.CHANGED)
