"""trialwatch's own change model. Every renderer and the JSON schema are built from these records,
never from the diff library's output."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
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
    id: str = ""  # "c1", "c2"… unique within the trial's report; events refer to changes by it
    pointer: str = ""  # RFC 6901 pointer into the new record (the old one for a removal)
    item: str | None = None  # the identity of the list item the change is in (a site, an outcome)
    words: tuple[str | None, str | None] | None = None  # old and new enum codes, in words
    computed: dict[str, Any] = field(default_factory=dict)  # slip, percentages, flags

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "pointer": self.pointer,
            "item": self.item,
            "label": self.label,
            "kind": self.kind.value,
            "old": self.old,
            "new": self.new,
            "words": None if self.words is None else {"old": self.words[0], "new": self.words[1]},
            "sentence": self.sentence,
            "category": self.category.value,
            "material": self.material,
            "headline": self.headline,
            "details": list(self.details),
            "computed": dict(self.computed),
        }

    @classmethod
    def from_json(cls, nct_id: str, data: dict[str, Any]) -> Change:
        words = data.get("words")
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
            id=str(data.get("id") or ""),
            pointer=str(data.get("pointer") or ""),
            item=data.get("item"),
            words=(words.get("old"), words.get("new")) if isinstance(words, dict) else None,
            computed=dict(data.get("computed") or {}),
        )


class Attribution(StrEnum):
    """Who made a change: the sponsor (a new submission), the registry (its own processes:
    QC review, PubMed linking, the two-year UNKNOWN rule), or no way to tell."""

    SPONSOR = "sponsor"
    REGISTRY = "registry"
    UNKNOWN = "unknown"


class EventType(StrEnum):
    """The small fixed vocabulary of what a reader watches for."""

    STATUS_CHANGED = "status_changed"
    STATUS_REGRESSION = "status_regression"
    STATUS_UNKNOWN = "status_unknown"
    RESULTS_SUBMITTED = "results_submitted"
    RESULTS_RETURNED = "results_returned"
    RESULTS_CANCELLED = "results_cancelled"
    RESULTS_RESUBMITTED = "results_resubmitted"
    RESULTS_DELAY_CERTIFIED = "results_delay_certified"
    RESULTS_POSTED = "results_posted"
    RESULTS_WITHDRAWN = "results_withdrawn"
    RESULTS_VS_REGISTRATION = "results_vs_registration"  # since 0.5
    RESULT_CORRECTED = "result_corrected"  # since 0.5
    OUTCOME_ADDED = "outcome_added"
    OUTCOME_REMOVED = "outcome_removed"
    OUTCOME_REPLACED = "outcome_replaced"
    OUTCOME_MOVED = "outcome_moved"
    OUTCOME_TIME_FRAME = "outcome_time_frame"
    OUTCOME_REWORDED = "outcome_reworded"
    OUTCOME_DESCRIPTION = "outcome_description"
    OUTCOME_COSMETIC = "outcome_cosmetic"
    DATE_MOVED = "date_moved"
    DATE_BECAME_ACTUAL = "date_became_actual"
    DATE_AFTER_THE_FACT = "date_after_the_fact"
    ACTUAL_DATE_EDITED = "actual_date_edited"
    DATE_REVERTED_TO_ESTIMATED = "date_reverted_to_estimated"
    ENROLLMENT_CHANGED = "enrollment_changed"
    ENROLLMENT_AFTER_CLOSE = "enrollment_after_close"
    ELIGIBILITY_LOOSENED = "eligibility_loosened"
    ELIGIBILITY_TIGHTENED = "eligibility_tightened"
    SITES_CHANGED = "sites_changed"
    SITE_RENAMED = "site_renamed"
    PUBLICATION_LINKED = "publication_linked"
    SPONSOR_CHANGED = "sponsor_changed"  # since 0.5
    ARM_DROPPED = "arm_dropped"  # since 0.5
    ARMS_MERGED = "arms_merged"  # since 0.5
    ARM_RELABELLED = "arm_relabelled"  # since 0.5
    INTERVENTION_RENAMED = "intervention_renamed"  # since 0.5
    COLLABORATORS_CHANGED = "collaborators_changed"  # since 0.5
    FIRST_POSTED_ACTUAL = "first_posted_actual"
    GROUPED_EDIT = "grouped_edit"
    SIGNAL_STARTED = "signal_started"
    SIGNAL_ENDED = "signal_ended"
    LEFT_REGISTRY = "left_registry"  # since 0.6: a sync's sweep no longer finds the trial
    DESIGN_CHANGED = "design_changed"  # since 0.7: masking, allocation, phase, purpose…
    SAFETY_REVISED = "safety_revised"  # since 0.7: deaths or serious events rose after posting


class SignalType(StrEnum):
    """Transparency signals: where a trial stands against its obligations (``audit``)."""

    RESULTS_OVERDUE = "results_overdue"
    RESULTS_DUE = "results_due"
    RESULTS_LATE = "results_late"
    STATUS_STALE = "status_stale"
    ESTIMATED_DATE_PAST = "estimated_date_past"
    VERIFICATION_OVERDUE = "verification_overdue"
    RESULTS_IN_QC = "results_in_qc"
    RESULTS_RETURNED = "results_returned"
    RESULTS_CANCELLED = "results_cancelled"
    LATE_CERTIFICATION = "late_certification"
    FDAAA_VIOLATION = "fdaaa_violation"
    IMPLAUSIBLE_ENROLLMENT = "implausible_enrollment"


# What --fail-on accepts besides categories: a search watch gaining ("new") or losing ("left")
# a trial, and a signal starting to apply.
FAIL_ON_QUERIES = frozenset({"new", "left"})
FAIL_ON_SIGNALS: dict[str, frozenset[SignalType]] = {
    "overdue": frozenset({SignalType.RESULTS_OVERDUE}),
    **{s.value: frozenset({s}) for s in SignalType},
}
# Every name --fail-on (and fail_on) accepts.
FAIL_ON_NAMES = frozenset({c.value for c in Category} | set(FAIL_ON_SIGNALS) | FAIL_ON_QUERIES)


def signal_fail_on_names(signal: object) -> set[str]:
    """The --fail-on (and ``only``) names that a signal's value answers to: its own, and
    "overdue" for results overdue."""
    return {n for n, kinds in FAIL_ON_SIGNALS.items() if any(k.value == signal for k in kinds)}


@dataclass(frozen=True, slots=True)
class Event:
    """What a reader watches for, above the field changes it explains."""

    type: EventType
    headline: str
    rank: int  # reader importance: lower first (status, results, primary outcomes, dates…)
    attribution: Attribution
    clue: str  # why the attribution: "the sponsor submitted an update on 2024-03-01"
    changes: tuple[str, ...]  # ids of the changes it explains
    flags: tuple[str, ...] = ()  # after_the_fact, regression, likely_administrative…
    details: tuple[str, ...] = ()
    covers: bool = True  # the headline says all its changes say: not repeated in the details
    silent: bool = False  # registry bookkeeping: shown only with --show-admin
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "headline": self.headline,
            "rank": self.rank,
            "attribution": self.attribution.value,
            "clue": self.clue,
            "changes": list(self.changes),
            "flags": list(self.flags),
            "details": list(self.details),
            "covers": self.covers,
            "silent": self.silent,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            type=EventType(data["type"]),
            headline=str(data["headline"]),
            rank=int(data.get("rank", 900)),
            attribution=Attribution(data.get("attribution", "unknown")),
            clue=str(data.get("clue", "")),
            changes=tuple(str(c) for c in data.get("changes", [])),
            flags=tuple(str(f) for f in data.get("flags", [])),
            details=tuple(str(d) for d in data.get("details", [])),
            covers=bool(data.get("covers", True)),
            silent=bool(data.get("silent", False)),
            data=dict(data.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class DateValue:
    date: str | None
    type: str | None


@dataclass(slots=True)
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


@dataclass(slots=True)
class TrialReport:
    """The outcome of checking (or diffing) one trial."""

    # The sequences are given anew, never changed in place (note() adds a note): a report
    # with none of a kind shares one empty tuple, and a run over a long list holds a report
    # a trial until it prints them.
    nct_id: str
    outcome: Outcome
    title: str | None = None
    changes: Sequence[Change] = ()
    events: Sequence[Event] = ()
    context: Sequence[str] = ()
    baseline: Baseline | None = None
    error: str | None = None
    snapshot: str | None = None
    previous_snapshot: str | None = None
    alias_of: str | None = None
    notes: Sequence[str] = ()
    warning: str | None = None  # trouble that did not stop this trial's report (exit code 2)
    label: str | None = None  # the user's own name for a watched trial
    # What each ignore rule hid in this change (check --explain-ignore; not in the JSON report).
    ignored: Sequence[str] = ()

    def note(self, *texts: str) -> None:
        """Add notes to the report."""
        if texts:
            self.notes = [*self.notes, *texts]

    def to_json(self) -> dict[str, Any]:
        data = {
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
            "events": [e.to_json() for e in self.events],
            "changes": [c.to_json() for c in self.changes],
        }
        if self.label:  # a watched trial's own name: only when it has one
            data["label"] = self.label
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialReport:
        nct = str(data["nct_id"])
        baseline = data.get("baseline")
        return cls(
            nct_id=nct,
            outcome=Outcome(data["outcome"]),
            title=data.get("title"),
            # An empty one is the shared empty tuple, as in a report made by a run.
            changes=[Change.from_json(nct, c) for c in data.get("changes", [])] or (),
            events=[Event.from_json(e) for e in data.get("events", []) if isinstance(e, dict)]
            or (),
            context=list(data.get("context", [])) or (),
            baseline=Baseline.from_json(baseline) if isinstance(baseline, dict) else None,
            error=data.get("error"),
            snapshot=data.get("snapshot"),
            previous_snapshot=data.get("previous_snapshot"),
            alias_of=data.get("alias_of"),
            notes=list(data.get("notes", [])) or (),
            warning=data.get("warning"),
            label=data.get("label"),
        )


@dataclass(frozen=True, slots=True)
class Match:
    """A trial a search watch gained or lost, in one line."""

    nct_id: str
    title: str | None = None
    phases: tuple[str, ...] = ()
    status: str | None = None
    sponsor: str | None = None
    first_posted: str | None = None
    why: str | None = None  # for a departure: what changed in its record, or that it is gone

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "phases": list(self.phases),
            "status": self.status,
            "lead_sponsor": self.sponsor,
            "first_posted": self.first_posted,
            "why": self.why,
        }


# A search's parameters as a reader says them (a search without a label is named by them).
_SEARCH_WORDS = {
    "query.cond": "condition",
    "query.term": "terms",
    "query.intr": "intervention",
    "query.titles": "title",
    "query.outc": "outcome",
    "query.spons": "sponsor",
    "query.lead": "lead sponsor",
    "query.locn": "location",
    "query.id": "study id",
    "query.patient": "patient search",
    "filter.overallStatus": "status",
    "filter.geo": "near",
    "filter.ids": "ids",
    "filter.advanced": "where",
    "filter.synonyms": "synonyms",
    "aggFilters": "filters",
}


def search_words(params: dict[str, str]) -> str:
    """ "condition “gastric cancer”, intervention “CAR-T”" """
    return ", ".join(
        f"{_SEARCH_WORDS.get(k, k.split('.')[-1])} “{v}”" for k, v in sorted(params.items())
    )


@dataclass(slots=True)
class QueryReport:
    """What one search watch found: trials new to it, its members updated, trials that left."""

    id: str
    label: str | None
    params: dict[str, str]
    matches: int = 0  # members now
    baseline: bool = False  # the first check of this query: its members recorded, not news
    new: list[Match] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # ids; their reports are in trials
    left: list[Match] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return self.label or search_words(self.params)

    @property
    def news(self) -> bool:
        return bool(self.new or self.updated or self.left)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "params": dict(self.params),
            "matches": self.matches,
            "baseline": self.baseline,
            "error": self.error,
            "new": [m.to_json() for m in self.new],
            "updated": list(self.updated),
            "left": [m.to_json() for m in self.left],
        }


@dataclass(slots=True)
class RunReport:
    """Everything one run found: what renderers and notifiers receive."""

    generated_at: str
    trials: list[TrialReport] = field(default_factory=list)
    data_timestamp: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: bool = False
    queries: list[QueryReport] = field(default_factory=list)

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

    def matches(self) -> set[str]:
        """The names a ``--fail-on`` list can match in this report: the categories of its
        material changes, the signals that started, and "new" / "left" for search news."""
        names: set[str] = set()
        for q in self.queries:
            if q.new:
                names.add("new")
            if q.left:
                names.add("left")
        for t in self.changed:
            names.update(c.category.value for c in t.changes if c.material)
            for e in t.events:
                if e.type is EventType.SIGNAL_STARTED:
                    names.update(signal_fail_on_names(e.data.get("signal")))
        return names
