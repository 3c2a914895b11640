"""The trial's design: masking, allocation, the intervention model, the primary purpose, the
study type and the phase. Each is a headline (a blind reduced or a trial no longer randomized
changes what its results can prove), louder when made after the trial started."""

from __future__ import annotations

from typing import Any

from trialwatch.changes.dates import first_day, parse_partial
from trialwatch.changes.events.scene import PS, RANK_ELIGIBILITY, STATUS, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.words import words
from trialwatch.model import Change, Event, EventType

MODULE = (PS, "designModule")
INFO = (*MODULE, "designInfo")
MASKING = (*INFO, "maskingInfo")
# Above eligibility and sites: what a trial can prove comes before who may join it.
RANK_DESIGN = RANK_ELIGIBILITY - 50
# How many parties are kept blind, by the registry's masking levels.
_BLINDED = {"NONE": 0, "SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "QUADRUPLE": 4}
# The design fields said one by one, with the name a reader uses.
_FIELDS = (
    ((*MODULE, "studyType"), "study type", "studyType"),
    ((*INFO, "allocation"), "allocation", "allocation"),
    ((*INFO, "interventionModel"), "intervention model", "interventionModel"),
    ((*INFO, "primaryPurpose"), "primary purpose", "primaryPurpose"),
    ((*INFO, "observationalModel"), "observational model", "observationalModel"),
    ((*INFO, "timePerspective"), "time perspective", "timePerspective"),
)


def _said(value: Any, field: str) -> str:
    if isinstance(value, list):
        text = "/".join(words(v, field) for v in value if isinstance(v, str)) or "none given"
    else:
        text = words(value, field) if isinstance(value, str) and value else "none given"
    return "not applicable" if text == "Not applicable" else text


def _masking(scene: Scene) -> tuple[str, list[Change], dict[str, Any]] | None:
    changes = scene.under(*MASKING, "masking") + scene.under(*MASKING, "whoMasked")
    if not changes:
        return None
    was, now = get(scene.old, *MASKING, "masking"), get(scene.new, *MASKING, "masking")
    who_was = get(scene.old, *MASKING, "whoMasked") or []
    who_now = get(scene.new, *MASKING, "whoMasked") or []
    data: dict[str, Any] = {"masking_old": was, "masking_new": now}
    if was != now and (was or now):
        text = f"masking {_said(was, 'masking')} → {_said(now, 'masking')}"
        before, after = _BLINDED.get(str(was)), _BLINDED.get(str(now))
        if before is not None and after is not None:
            if after == 0:
                text += " (the blind was removed: now open label)"
            elif after < before:
                text += " (the blind was reduced)"
            elif after > before:
                text += " (more parties blinded)"
            data["blinded_change"] = after - before
        return text, changes, data
    if isinstance(who_was, list) and isinstance(who_now, list) and set(who_was) != set(who_now):
        text = f"who is masked: {_said(who_was, 'whoMasked')} → {_said(who_now, 'whoMasked')}"
        return text.replace("/", ", "), changes, data
    return None


def _started(scene: Scene) -> str | None:
    """The trial's actual start, when it had started before this edit: "2024-01-15"."""
    start = get(scene.old, *STATUS, "startDateStruct")
    if not isinstance(start, dict) or start.get("type") != "ACTUAL":
        return None
    # A start is often given to the month ("2015-09"): it began by its first day.
    given = parse_partial(start.get("date"))
    edited = scene.edited_on()
    if given is None or (edited is not None and edited < first_day(given)):
        return None
    return str(start.get("date"))


def detect(scene: Scene) -> list[Event]:
    if not scene.under(*MODULE):
        return []
    parts: list[str] = []
    changes: list[Change] = []
    data: dict[str, Any] = {}
    for path, name, field in _FIELDS:
        found = scene.under(*path)
        was, now = get(scene.old, *path), get(scene.new, *path)
        if found and was != now:
            parts.append(f"{name} {_said(was, field)} → {_said(now, field)}")
            changes += found
            data[field] = {"old": was, "new": now}
    phases = scene.under(*MODULE, "phases")
    was, now = get(scene.old, *MODULE, "phases"), get(scene.new, *MODULE, "phases")
    if phases and sorted(was or []) != sorted(now or []):
        parts.append(f"phase {_said(was, 'phases')} → {_said(now, 'phases')}")
        changes += phases
        data["phases"] = {"old": was, "new": now}
    masking = _masking(scene)
    if masking is not None:
        parts.insert(0, masking[0])
        changes = masking[1] + changes
        data.update(masking[2])
    if not parts:
        return []
    headline = "Design changed: " + "; ".join(parts)
    flags: list[str] = []
    started = _started(scene)
    if started:
        headline += f" — after the trial started ({started})"
        flags.append("after_the_fact")
        data["started"] = started
    return [
        scene.event(
            EventType.DESIGN_CHANGED,
            headline,
            RANK_DESIGN - (20 if flags else 0),
            list({c.id: c for c in changes}.values()),
            flags=flags,
            data=data,
        )
    ]
