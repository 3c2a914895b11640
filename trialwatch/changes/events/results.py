"""The results lifecycle: submitted, returned by QC review (which round), cancelled,
re-submitted, a certification or extension to delay results, posted; and where the trial
stands against its deadline (primary completion + 1 year, 42 CFR 11.44).

Read from the registry's QC annotations (``annotationSection`` unposted events), the
submission tracking in ``derivedSection.miscInfoModule`` (bookkeeping otherwise, but the only
place some steps show), and the results and certification dates of the status module."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trialwatch.changes.dates import add_years, day_of, last_day, parse_partial, span_words
from trialwatch.changes.events.scene import RANK_RESULTS, STATUS, Scene
from trialwatch.changes.match import canon
from trialwatch.changes.sentences import get
from trialwatch.model import Attribution, Change, Event, EventType

UNPOSTED = ("annotationSection", "annotationModule", "unpostedAnnotation")
TRACKING = ("derivedSection", "miscInfoModule", "submissionTracking")

_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}


def ordinal(n: int) -> str:
    return _ORDINAL.get(n, f"{n}th")


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    items = get(record, *UNPOSTED, "unpostedEvents")
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _infos(record: dict[str, Any]) -> list[dict[str, Any]]:
    items = get(record, *TRACKING, "submissionInfos")
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


@dataclass(frozen=True, slots=True)
class Deadline:
    """When results are due (42 CFR 11.44: primary completion, else study completion, + 1 year;
    + 3 years once a delay certification was filed), and what it was worked out from."""

    completion: dt.date  # the date counted from (a month-only date at its month's last day)
    which: str  # "primary completion" or "study completion"
    text: str  # that date as the record gives it
    kind: str  # its type as the record gives it: ACTUAL, ESTIMATED or ""
    certified: bool

    @property
    def due(self) -> dt.date:
        return add_years(self.completion, 3 if self.certified else 1)

    @property
    def estimated(self) -> bool:
        return self.kind == "ESTIMATED"

    @property
    def how(self) -> str:
        """ "primary completion 2023-05, actual + 1 year" """
        kind = f", {self.kind.lower()}" if self.kind else ""
        years = "3 years (delay certified)" if self.certified else "1 year"
        return f"{self.which} {self.text}{kind} + {years}"


def deadline(record: dict[str, Any]) -> Deadline | None:
    """When a record's results are due, or None without a completion date."""
    for name, which in (
        ("primaryCompletionDateStruct", "primary completion"),
        ("completionDateStruct", "study completion"),
    ):
        struct = get(record, *STATUS, name)
        date = parse_partial(struct.get("date")) if isinstance(struct, dict) else None
        if date is None:
            continue
        kind = struct.get("type")
        certified = bool(get(record, *STATUS, "dispFirstSubmitDate"))
        return Deadline(
            last_day(date), which, date.text, kind if isinstance(kind, str) else "", certified
        )
    return None


def _submission_before(record: dict[str, Any], date: str) -> str | None:
    """The submission a QC return answers: the last one made on or before the return."""
    made = [str(e.get("date")) for e in _events(record) if e.get("type") == "RELEASE"]
    made += [str(i.get("releaseDate")) for i in _infos(record) if i.get("releaseDate")]
    before = sorted(d for d in made if d and d <= date)
    return before[-1] if before else None


def standing(record: dict[str, Any], when: dt.date | None) -> str:
    """ "due 2024-05-31 (primary completion 2023-05-31 + 1 year); 3 months late"."""
    due = deadline(record)
    if due is None:
        return "no completion date to measure a deadline from"
    day = due.due
    text = f"due {day.isoformat()} ({due.how})"
    if when is not None:
        gap = (when - day).days
        if gap > 0:
            text += f"; {span_words(gap)} after the deadline"
        else:
            text += "; within the deadline"
    return text


def detect(scene: Scene) -> list[Event]:
    covered = [
        *scene.touching(*UNPOSTED),
        *scene.touching(*TRACKING),
        *scene.under(*STATUS, "resultsFirstSubmitDate"),
        *scene.under(*STATUS, "resultsFirstSubmitQcDate"),
    ]
    steps: dict[tuple[EventType, str], list[Change]] = {}
    rounds: dict[tuple[EventType, str], int] = {}

    def step(kind: EventType, date: str, changes: list[Change], n: int = 0) -> None:
        key = (kind, date)
        steps.setdefault(key, []).extend(changes)
        rounds[key] = max(rounds.get(key, 0), n)

    unposted = scene.touching(*UNPOSTED, "unpostedEvents")
    # Steps the old record showed already, in its annotations or its submission tracking.
    seen = {(e.get("type"), e.get("date")) for e in _events(scene.old)}
    for info in _infos(scene.old):
        for field_name, code in (("releaseDate", "RELEASE"), ("resetDate", "RESET")):
            if info.get(field_name):
                seen.add((code, info[field_name]))
    resets = 0
    for event in sorted(_events(scene.new), key=lambda e: str(e.get("date") or "")):
        kind, date = event.get("type"), str(event.get("date") or "date not given")
        if kind == "RESET":
            resets += 1
        if (kind, event.get("date")) in seen:
            continue
        if kind == "RESET":
            step(EventType.RESULTS_RETURNED, date, unposted, resets)
        elif kind == "RELEASE":
            kind_ = EventType.RESULTS_RESUBMITTED if resets else EventType.RESULTS_SUBMITTED
            step(kind_, date, unposted, resets)
        elif kind == "UNRELEASE":
            step(EventType.RESULTS_CANCELLED, date, unposted)

    tracking = scene.touching(*TRACKING)
    old_infos = {canon(i) for i in _infos(scene.old)}
    resets = 0
    for info in sorted(_infos(scene.new), key=lambda i: str(i.get("releaseDate") or "")):
        fresh = canon(info) not in old_infos
        before = next(
            (o for o in _infos(scene.old) if o.get("releaseDate") == info.get("releaseDate")), {}
        )
        release, reset, cancel = (
            info.get("releaseDate"),
            info.get("resetDate"),
            info.get("unreleaseDate") or (info.get("unreleaseDateUnknown") and "date unknown"),
        )
        if release and fresh and not before:
            kind_ = EventType.RESULTS_RESUBMITTED if resets else EventType.RESULTS_SUBMITTED
            step(kind_, str(release), tracking, resets)
        if reset:
            resets += 1
            if fresh and not before.get("resetDate"):
                step(EventType.RESULTS_RETURNED, str(reset), tracking, resets)
        if cancel and fresh and not before.get("unreleaseDate"):
            step(EventType.RESULTS_CANCELLED, str(cancel), tracking)

    submitted = scene.under(*STATUS, "resultsFirstSubmitDate")
    first = scene.status(scene.new, "resultsFirstSubmitDate")
    if (
        first
        and not scene.status(scene.old, "resultsFirstSubmitDate")
        and not any(k[0] is EventType.RESULTS_SUBMITTED for k in steps)
    ):
        step(EventType.RESULTS_SUBMITTED, str(first), submitted)

    out: list[Event] = []
    qc = (Attribution.REGISTRY, "QC review is done by the registry's staff")
    told = False  # the deadline is said once in a step, not in each of its results headlines
    for (kind, date), changes in sorted(steps.items(), key=lambda s: s[0][1]):
        when = day_of(date)
        n = rounds[(kind, date)]
        if kind is EventType.RESULTS_RETURNED:
            covers = _submission_before(scene.new, date)
            what = f"Results submitted {covers}" if covers else "Results"
            headline = f"{what} returned by QC review ({ordinal(n)} return, {date})"
            due = deadline(scene.new)
            if due is not None and not told:
                headline += f"; results were due {due.due.isoformat()} ({due.how})"
                told = True
            who = qc
        elif kind is EventType.RESULTS_RESUBMITTED:
            headline = f"Results re-submitted after the {ordinal(n)} QC return ({date})"
            who = (Attribution.SPONSOR, "results are submitted by the sponsor")
        elif kind is EventType.RESULTS_CANCELLED:
            headline = f"Results submission cancelled by the sponsor ({date})"
            who = (Attribution.SPONSOR, "only the sponsor can cancel a submission")
        else:
            headline = f"Results submitted for QC review ({date})"
            who = (Attribution.SPONSOR, "results are submitted by the sponsor")
        if kind in (EventType.RESULTS_SUBMITTED, EventType.RESULTS_RESUBMITTED) and not told:
            headline += f"; {standing(scene.new, when)}"
            told = deadline(scene.new) is not None
        out.append(
            scene.event(
                kind,
                headline,
                RANK_RESULTS,
                # The first step also explains the bookkeeping around it (ids are deduplicated).
                [*changes, *covered] if not out else changes,
                attribution=who,
                data={"date": date, "round": n or None},
            )
        )
    out.extend(_certification(scene))
    out.extend(_posted(scene))
    return out


def _certification(scene: Scene) -> list[Event]:
    changes = [
        *scene.under(*STATUS, "dispFirstSubmitDate"),
        *scene.under(*STATUS, "dispFirstSubmitQcDate"),
        *scene.under(*STATUS, "dispFirstPostDateStruct"),
    ]
    if not changes:
        return []
    new = scene.status(scene.new, "dispFirstSubmitDate")
    old = scene.status(scene.old, "dispFirstSubmitDate")
    if new and not old:
        headline = (
            f"Certification or extension request to delay results filed ({new}); "
            f"{standing(scene.new, None)}"
        )
        due = deadline(scene.old)
        flags = []
        if due is not None and (day_of(new) or dt.date.min) > due.due:
            headline += "; filed after the original 1-year deadline"
            flags.append("late_certification")
        return [
            scene.event(
                EventType.RESULTS_DELAY_CERTIFIED,
                headline,
                RANK_RESULTS,
                changes,
                attribution=(Attribution.SPONSOR, "certifications are filed by the sponsor"),
                flags=flags,
                data={"date": new},
            )
        ]
    return []


def _posted(scene: Scene) -> list[Event]:
    post = (*STATUS, "resultsFirstPostDateStruct")
    changes = [*scene.under(*post), *scene.under("hasResults")]
    old_post, new_post = get(scene.old, *post), get(scene.new, *post)
    old_has, new_has = bool(get(scene.old, "hasResults")), bool(get(scene.new, "hasResults"))
    section = [c for c in scene.under("resultsSection") if c.path == "resultsSection"]
    if (new_post and not old_post) or (new_has and not old_has):
        date = get(new_post, "date") if isinstance(new_post, dict) else None
        submitted = day_of(scene.status(scene.new, "resultsFirstSubmitDate"))
        headline = f"Results posted ({date})" if date else "Results posted"
        headline += f"; first submitted {span_words_or(submitted, day_of(date))}"
        headline += f"; {standing(scene.new, submitted)}" if submitted else ""
        return [
            scene.event(
                EventType.RESULTS_POSTED,
                headline,
                RANK_RESULTS - 5,
                changes + section,
                attribution=(Attribution.REGISTRY, "results are posted by the registry after QC"),
                data={"date": date},
            )
        ]
    if (old_post and not new_post) or (old_has and not new_has):
        return [
            scene.event(
                EventType.RESULTS_WITHDRAWN,
                "Results no longer posted",
                RANK_RESULTS - 5,
                changes + section,
                flags=("after_the_fact",),
            )
        ]
    return []


def span_words_or(first: dt.date | None, posted: dt.date | None) -> str:
    if first is None:
        return "on a date the record does not give"
    if posted is None or posted < first:
        return f"on {first.isoformat()}"
    return f"on {first.isoformat()}, {span_words((posted - first).days)} before posting"
