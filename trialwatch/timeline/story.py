"""A trial's whole life: the registry's versions and trialwatch's own snapshots merged by date,
with what changed at each step (the event layer), and the ledgers a reader asks for — how often
each key date moved and how far, the time spent in each status, outcome changes made after the
trial started, and the original against the current registration."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from trialwatch.changes.dates import day_of, first_day, months_words, parse_partial
from trialwatch.changes.differ import Comparison, compare
from trialwatch.changes.match import canon
from trialwatch.changes.normalize import digest
from trialwatch.changes.sentences import get
from trialwatch.model import EventType
from trialwatch.store.port import Store, snapshot_sort_key

STATUS = ("protocolSection", "statusModule")
KEY_DATES = {
    "startDateStruct": "start",
    "primaryCompletionDateStruct": "primary completion",
    "completionDateStruct": "study completion",
}
_OUTCOME_EVENTS = {t for t in EventType if t.value.startswith("outcome_")}


@dataclass
class Step:
    """One version of the record, from the registry or from a snapshot trialwatch took."""

    label: str  # "v3", or the snapshot's file name
    date: str  # the day the version was made (submission date; else the day it was seen)
    source: str  # "registry" or "snapshot"
    record: dict[str, Any] = field(repr=False)
    version: int | None = None
    snapshot: str | None = None
    also: list[str] = field(default_factory=list)  # the same content seen elsewhere (folded)
    events: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    changes: int = 0
    seen: str | None = None  # when trialwatch fetched it (snapshots), RFC 3339
    # What changed from the step before (None for the first): the site shows it whole.
    found: Comparison | None = field(default=None, repr=False, compare=False)

    def status(self) -> str | None:
        value = get(self.record, *STATUS, "overallStatus")
        return value if isinstance(value, str) else None

    def key_date(self, field_name: str) -> tuple[str | None, str | None]:
        struct = get(self.record, *STATUS, field_name)
        if isinstance(struct, dict):
            date, kind = struct.get("date"), struct.get("type")
            return (
                date if isinstance(date, str) else None,
                kind if isinstance(kind, str) else None,
            )
        return None, None

    def enrollment(self) -> tuple[int | None, str | None]:
        info = get(self.record, "protocolSection", "designModule", "enrollmentInfo")
        if not isinstance(info, dict):
            return None, None
        count, kind = info.get("count"), info.get("type")
        return (
            count if isinstance(count, int) and not isinstance(count, bool) else None,
            kind if isinstance(kind, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        start, pcd, completion = (self.key_date(f) for f in KEY_DATES)
        count, kind = self.enrollment()
        return {
            "label": self.label,
            "date": self.date,
            "source": self.source,
            "version": self.version,
            "snapshot": self.snapshot,
            "also": list(self.also),
            "status": self.status(),
            "start": {"date": start[0], "type": start[1]},
            "primary_completion": {"date": pcd[0], "type": pcd[1]},
            "completion": {"date": completion[0], "type": completion[1]},
            "enrollment": {"count": count, "type": kind},
            "events": list(self.events),
            "event_types": list(self.event_types),
            "changes": self.changes,
        }


def _content_key(record: dict[str, Any]) -> str:
    """What a version says, markup and bookkeeping aside: a registry version (HTML) and the
    API record (markdown) of the same content have the same key."""
    return digest(
        {
            "protocolSection": _without_admin(record.get("protocolSection")),
            "resultsSection": record.get("resultsSection"),
        }
    )


def _without_admin(section: Any) -> Any:
    if not isinstance(section, dict):
        return section
    status = section.get("statusModule")
    if not isinstance(status, dict):
        return section
    kept = {
        k: v
        for k, v in status.items()
        if k not in ("statusVerifiedDate", "lastUpdatePostDateStruct", "studyFirstPostDateStruct")
    }
    return {**section, "statusModule": kept}


def _made_on(record: dict[str, Any], seen: str | None) -> str:
    submitted = get(record, *STATUS, "lastUpdateSubmitDate")
    if isinstance(submitted, str) and day_of(submitted) is not None:
        return submitted
    return (seen or "")[:10]


def steps(store: Store, nct_id: str) -> list[Step]:
    """Every known version, oldest first, the same content seen twice folded into one step.

    Each source keeps its own order, which is the truth: the registry's versions by their
    numbers, trialwatch's snapshots in the order the store saw them. Dates only interleave the
    two (a record without a sponsor's submit date is dated by the day it was fetched, which
    must never put it before a snapshot taken earlier)."""
    registry = [
        Step(f"v{v.version}", v.date, "registry", v.record, version=v.version)
        for v in sorted(store.versions().all(nct_id), key=lambda v: v.version)
    ]
    seen: list[Step] = []
    for path in sorted(store.snapshots(nct_id), key=lambda p: snapshot_sort_key(p.name)):
        snap = store.read(path)
        seen.append(
            Step(
                path.name,
                _made_on(snap.record, snap.fetched_at or path.name[:10]),
                "snapshot",
                snap.record,
                snapshot=path.name,
                seen=snap.fetched_at,
            )
        )
    # Registry versions before snapshots on the same day: the registry had it first.
    found = list(heapq.merge(registry, seen, key=lambda s: (s.date, s.source != "registry")))
    merged: list[Step] = []
    last_key = None
    for step in found:
        key = _content_key(step.record)
        if merged and key == last_key and step.source == "snapshot":
            twin = merged[-1]  # the same content as the step before, seen again: folded
            twin.also.append(step.label)
            if twin.source == "snapshot":
                twin.record = step.record
            continue
        merged.append(step)
        last_key = key
    previous: Step | None = None
    for step in merged:
        if previous is not None:
            found_ = compare(nct_id, previous.record, step.record)
            step.found = found_
            shown = [e for e in found_.events if not e.silent]
            step.events = [e.headline for e in shown]
            step.event_types = [e.type.value for e in shown]
            step.changes = sum(1 for c in found_.changes if c.material)
        previous = step
    return merged


# --- ledgers ----------------------------------------------------------------------------------


@dataclass
class DateLedger:
    field: str
    name: str
    first: str | None
    current: str | None
    moves: list[tuple[str, str, str]]  # (step label, old, new)

    @property
    def slip_months(self) -> int | None:
        a, b = parse_partial(self.first), parse_partial(self.current)
        if a is None or b is None:
            return None
        return (b.year - a.year) * 12 + ((b.month or 1) - (a.month or 1))

    def sentence(self) -> str:
        if not self.first:
            return f"{self.name.capitalize()}: never given"
        n = len(self.moves)
        if n == 0:
            return f"{self.name.capitalize()}: never moved ({self.first})"
        months = self.slip_months
        if months is None or months == 0:
            total = "no net change"
        else:
            total = ("later by " if months > 0 else "earlier by ") + months_words(abs(months))
        times = "once" if n == 1 else "twice" if n == 2 else f"{n} times"
        return (
            f"{self.name.capitalize()} moved {times}, {self.first} → {self.current} in all "
            f"({total})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "first": self.first,
            "current": self.current,
            "moves": [{"at": a, "old": o, "new": n} for a, o, n in self.moves],
            "slip_months": self.slip_months,
        }


def date_ledgers(story: list[Step]) -> list[DateLedger]:
    out = []
    for field_name, name in KEY_DATES.items():
        values = [(s.label, s.key_date(field_name)[0]) for s in story]
        given = [(label, v) for label, v in values if v]
        moves = [
            (label, before, after)
            for (_, before), (label, after) in pairwise(given)
            if before != after
        ]
        out.append(
            DateLedger(
                field_name,
                name,
                given[0][1] if given else None,
                given[-1][1] if given else None,
                moves,
            )
        )
    return out


def status_time(story: list[Step], today: dt.date | None = None) -> list[tuple[str, int]]:
    """Days in each status, in the order first reached (the current one up to today)."""
    today = today or dt.date.today()
    spans: dict[str, int] = {}
    for i, step in enumerate(story):
        start = day_of(step.date)
        status = step.status()
        if start is None or status is None:
            continue
        end = day_of(story[i + 1].date) if i + 1 < len(story) else today
        if end is None or end < start:
            continue
        spans[status] = spans.get(status, 0) + (end - start).days
    return list(spans.items())


def outcome_changes_after_start(story: list[Step]) -> tuple[str | None, list[tuple[str, str]]]:
    """Outcome events made after the trial started, measured against the start date as first
    registered (moving the start date later cannot hide a change)."""
    starts = (s.key_date("startDateStruct")[0] for s in story)
    first_start = next((d for d in starts if d), None)
    start = parse_partial(first_start)
    if start is None:
        return None, []
    began = first_day(start)
    out = []
    for step in story:
        made = day_of(step.date)
        if made is None or made <= began:
            continue
        for headline, kind in zip(step.events, step.event_types, strict=False):
            if EventType(kind) in _OUTCOME_EVENTS:
                out.append((f"{step.label} ({step.date})", headline))
    return first_start, out


ORIGINAL_FIELDS = {
    "primaryOutcomes": (
        "primary outcomes",
        ("protocolSection", "outcomesModule", "primaryOutcomes"),
    ),
    "secondaryOutcomes": (
        "secondary outcomes",
        ("protocolSection", "outcomesModule", "secondaryOutcomes"),
    ),
    "enrollmentInfo": ("enrollment", ("protocolSection", "designModule", "enrollmentInfo")),
    "leadSponsor": (
        "lead sponsor",
        ("protocolSection", "sponsorCollaboratorsModule", "leadSponsor"),
    ),
    "startDateStruct": ("start", (*STATUS, "startDateStruct")),
    "primaryCompletionDateStruct": ("primary completion", (*STATUS, "primaryCompletionDateStruct")),
}


def original_vs_current(
    story: list[Step], original_data: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Each field as first registered and as now. The registry's ``originalData`` wins where it
    speaks (it holds an original value only where it differs, else a "…Same" flag); else the
    first known version."""
    if not story:
        return []
    first, last = story[0].record, story[-1].record
    rows = []
    for key, (name, path) in ORIGINAL_FIELDS.items():
        current = get(last, *path)
        source = f"{story[0].label} ({story[0].date})"
        if original_data and original_data.get(f"{key}Same") is True:
            original, source = current, "the registry's original data"
        elif original_data and key in original_data:
            original, source = original_data[key], "the registry's original data"
        else:
            original = get(first, *path)
        rows.append(
            {
                "field": key,
                "name": name,
                "original": original,
                "current": current,
                "same": canon(original) == canon(current),
                "source": source,
            }
        )
    return rows
