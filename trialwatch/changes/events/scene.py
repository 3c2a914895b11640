"""What every event detector reads: both records, the field changes found between them, who
most likely made them, and the dates the "after the fact" tests are measured against."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trialwatch.changes.dates import day_of
from trialwatch.changes.match import schema_of
from trialwatch.changes.sentences import get
from trialwatch.model import Attribution, Change, Event, EventType, Kind

PS = "protocolSection"
STATUS = (PS, "statusModule")

# Reader importance, lowest first: status, results, primary outcomes, key dates, enrollment,
# eligibility, sites, then the rest.
RANK_STATUS = 100
RANK_RESULTS = 200
RANK_PRIMARY_OUTCOMES = 300
RANK_DATES = 400
RANK_ENROLLMENT = 500
RANK_ELIGIBILITY = 600
RANK_SITES = 700
RANK_OTHER_OUTCOMES = 750
RANK_REST = 800
RANK_BOOKKEEPING = 900


@dataclass
class Scene:
    nct_id: str
    old: dict[str, Any]
    new: dict[str, Any]
    changes: list[Change]
    explained: set[str] = field(default_factory=set)
    computed: dict[str, dict[str, Any]] = field(default_factory=dict)  # by change id

    def status(self, record: dict[str, Any], name: str) -> Any:
        return get(record, *STATUS, name)

    @functools.cached_property
    def _schemas(self) -> list[tuple[tuple[str, ...], Change]]:
        """Each change with its schema path, parsed once (every detector asks ``under``)."""
        return [(schema_of(c.path), c) for c in self.changes]

    def under(self, *schema: str) -> list[Change]:
        """Changes at or below a field (by its schema path, list items aside)."""
        n = len(schema)
        return [c for own, c in self._schemas if own[:n] == schema]

    def touching(self, *schema: str) -> list[Change]:
        """Changes at or below a field, and a whole section added or removed that holds it
        (the first QC event of a record arrives as a new ``annotationSection``)."""
        n = len(schema)
        out = []
        for own, c in self._schemas:
            if own[:n] == schema or (c.kind is not Kind.CHANGED and schema[: len(own)] == own):
                out.append(c)
        return out

    def within(self, old_at: str | None, new_at: str | None) -> list[Change]:
        """Changes inside one thing found at old_at in the old record and new_at in the new
        one (a list item), by their JSON Pointers: a removal points into the old record."""
        out = []
        for c in self.changes:
            base = old_at if c.kind is Kind.REMOVED else new_at
            if base is None:
                continue
            inside = c.pointer == base or c.pointer.startswith(base + "/")
            # A whole list (or module) added or removed holds the item too.
            holds = c.kind is not Kind.CHANGED and base.startswith(c.pointer + "/")
            if inside or holds:
                out.append(c)
        return out

    def sponsor(self) -> tuple[Attribution, str]:
        """Who made the edits of this step, from the record's own submission dates."""
        old_sub = self.status(self.old, "lastUpdateSubmitDate")
        new_sub = self.status(self.new, "lastUpdateSubmitDate")
        if new_sub and new_sub != old_sub:
            return Attribution.SPONSOR, f"the sponsor submitted an update on {new_sub}"
        if new_sub:
            return Attribution.UNKNOWN, "no new update from the sponsor in the record"
        return Attribution.UNKNOWN, "the record gives no update date"

    def edited_on(self) -> dt.date | None:
        """The day this version was made: the sponsor's update when this step has one, else
        the registry's posting, else the data snapshot's date (a registry-made change has no
        submission of its own)."""
        candidates = []
        for path in (
            (*STATUS, "lastUpdateSubmitDate"),
            (*STATUS, "lastUpdatePostDateStruct", "date"),
        ):
            if get(self.new, *path) != get(self.old, *path):
                candidates.append(get(self.new, *path))
        candidates.append(self.data_date_text())
        for value in candidates:
            day = day_of(value)
            if day is not None:
                return day
        return None

    def data_date_text(self) -> Any:
        return get(self.new, "derivedSection", "miscInfoModule", "versionHolder")

    def event(
        self,
        type_: EventType,
        headline: str,
        rank: int,
        changes: Iterable[Change],
        *,
        attribution: tuple[Attribution, str] | None = None,
        flags: Iterable[str] = (),
        details: Iterable[str] = (),
        covers: bool = True,
        silent: bool = False,
        data: dict[str, Any] | None = None,
    ) -> Event:
        ids = tuple(dict.fromkeys(c.id for c in changes))
        self.explained.update(ids)
        who, clue = attribution or self.sponsor()
        return Event(
            type=type_,
            headline=headline,
            rank=rank,
            attribution=who,
            clue=clue,
            changes=ids,
            flags=tuple(flags),
            details=tuple(details),
            covers=covers,
            silent=silent,
            data=dict(data or {}),
        )
