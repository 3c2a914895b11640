"""Key dates and enrollment, and the moves a reader singles out: a date pushed back after it
had already passed, an actual date edited or turned back into an estimate, enrollment changed
after the trial closed. "Passed" is measured against the record's own update date, not today:
a report read a year later says the same."""

from __future__ import annotations

from typing import Any

from trialwatch.changes.dates import (
    first_day,
    last_day,
    months_between,
    parse_partial,
    span_words,
)
from trialwatch.changes.events.scene import PS, RANK_DATES, RANK_ENROLLMENT, STATUS, Scene
from trialwatch.changes.sentences import get, percent
from trialwatch.model import Change, Event, EventType

DATES = {
    "primaryCompletionDateStruct": ("Primary completion", 0),
    "completionDateStruct": ("Study completion", 1),
    "startDateStruct": ("Start date", 2),
}
ENROLLMENT = (PS, "designModule", "enrollmentInfo")
_CLOSED = {"COMPLETED", "TERMINATED"}
# 42 CFR 11.64(a)(1)(ii): the overall status and the primary completion date (as it becomes
# actual) are to be updated within 30 days of a change. A date moved within that window of its
# passing is the normal course, not "after the fact".
UPDATE_WINDOW_DAYS = 30


def detect(scene: Scene) -> list[Event]:
    events = []
    for field, (name, order) in DATES.items():
        changes = scene.under(*STATUS, field)
        if changes:
            event = _date(scene, field, name, order, changes)
            if event is not None:
                events.append(event)
    changes = scene.under(*ENROLLMENT)
    if changes:
        events.append(_enrollment(scene, changes))
    return events


def _struct(record: dict[str, Any], field: str) -> tuple[Any, Any]:
    struct = get(record, *STATUS, field)
    if isinstance(struct, dict):
        return struct.get("date"), struct.get("type")
    return struct, None


def _date(scene: Scene, field: str, name: str, order: int, changes: list[Change]) -> Event | None:
    od, ot = _struct(scene.old, field)
    nd, nt = _struct(scene.new, field)
    po, pn = parse_partial(od), parse_partial(nd)
    sentence = changes[0].sentence
    flags: list[str] = []
    type_ = EventType.DATE_MOVED
    data: dict[str, Any] = {"field": field, "old": od, "new": nd, "old_type": ot, "new_type": nt}
    notes = []
    if po is not None and pn is not None and od != nd:
        days = (first_day(pn) - first_day(po)).days
        computed = {"slip_days": days, "slip_months": months_between(first_day(po), first_day(pn))}
        data.update(computed)
        for c in changes:
            scene.computed.setdefault(c.id, {}).update(computed)
        edited = scene.edited_on()
        if ot == "ACTUAL" and nt == "ACTUAL":
            type_ = EventType.ACTUAL_DATE_EDITED
            flags.append("actual_date_edited")
            notes.append("an actual date was edited")
        elif nt == "ACTUAL" and ot != "ACTUAL":
            pass  # an estimate replaced by what happened: the normal course (below)
        elif edited is not None and (edited - last_day(po)).days > UPDATE_WINDOW_DAYS:
            passed = span_words((edited - last_day(po)).days)
            type_ = EventType.DATE_AFTER_THE_FACT
            flags.append("after_the_fact")
            notes.append(
                f"moved {passed} after the old date had passed (edited {edited.isoformat()}; "
                f"the registry asks for updates within {UPDATE_WINDOW_DAYS} days)"
            )
    if ot == "ACTUAL" and nt == "ESTIMATED":
        type_ = EventType.DATE_REVERTED_TO_ESTIMATED
        flags.append("reverted_to_estimated")
        notes.append("an actual date went back to an estimate")
    elif nt == "ACTUAL" and ot != "ACTUAL" and type_ is EventType.DATE_MOVED:
        type_ = EventType.DATE_BECAME_ACTUAL
        # However far the estimate had passed, the news, if any, is a record updated late.
        edited = scene.edited_on()
        if pn is not None and edited is not None:
            late_days = (edited - last_day(pn)).days
            if late_days > UPDATE_WINDOW_DAYS:
                flags.append("late_update")
                notes.append(
                    f"recorded {span_words(late_days)} after it happened (edited "
                    f"{edited.isoformat()}; the registry asks for updates within "
                    f"{UPDATE_WINDOW_DAYS} days)"
                )
    if flags and flags != ["late_update"]:
        if "after_the_fact" not in flags:
            flags.append("after_the_fact")
        for c in changes:
            scene.computed.setdefault(c.id, {})["after_the_fact"] = True
    headline = sentence + (" — " + "; ".join(notes) if notes else "")
    return scene.event(
        type_,
        headline,
        RANK_DATES + order - (20 if "after_the_fact" in flags else 0),
        changes,
        flags=flags,
        data=data,
    )


def _enrollment(scene: Scene, changes: list[Change]) -> Event:
    old = get(scene.old, *ENROLLMENT) or {}
    new = get(scene.new, *ENROLLMENT) or {}
    oc = old.get("count") if isinstance(old, dict) else None
    nc = new.get("count") if isinstance(new, dict) else None
    ot = old.get("type") if isinstance(old, dict) else None
    data: dict[str, Any] = {"old": oc, "new": nc, "old_type": ot}
    if isinstance(oc, int | float) and isinstance(nc, int | float) and oc:
        pct = percent(nc - oc, oc) * (1 if nc >= oc else -1)
        data["change_percent"] = pct
        for c in changes:
            scene.computed.setdefault(c.id, {}).update(
                {"enrollment_change": nc - oc, "enrollment_change_percent": pct}
            )
    status_old = scene.status(scene.old, "overallStatus")
    flags = []
    headline = changes[0].sentence
    type_ = EventType.ENROLLMENT_CHANGED
    if status_old in _CLOSED and ot == "ACTUAL" and oc != nc:
        type_ = EventType.ENROLLMENT_AFTER_CLOSE
        flags.append("after_the_fact")
        headline += f" — after the trial was {str(status_old).lower()}"
        for c in changes:
            scene.computed.setdefault(c.id, {})["after_the_fact"] = True
    return scene.event(
        type_, headline, RANK_ENROLLMENT - (20 if flags else 0), changes, flags=flags, data=data
    )
