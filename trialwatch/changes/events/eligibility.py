"""Eligibility direction: who can join now, against before. Age limits, sex and healthy
volunteers are each loosened (more people can join) or tightened (fewer can)."""

from __future__ import annotations

import re
from typing import Any

from trialwatch.changes.events.scene import PS, RANK_ELIGIBILITY, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.words import words
from trialwatch.model import Change, Event, EventType

MODULE = (PS, "eligibilityModule")
_UNIT_DAYS = {
    "year": 365.25,
    "month": 30.4375,
    "week": 7,
    "day": 1,
    "hour": 1 / 24,
    "minute": 1 / 1440,
}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.IGNORECASE)


_NAMES = {"minimumAge": "minimum age", "maximumAge": "maximum age"}


def age_days(text: Any) -> float | None:
    """``"18 Years"`` → days; anything else None."""
    match = _AGE.match(str(text)) if isinstance(text, str) else None
    if not match:
        return None
    return float(match.group(1)) * _UNIT_DAYS[match.group(2).lower()]


def _age(text: Any) -> str:
    return str(text).lower() if text else "none"


def detect(scene: Scene) -> list[Event]:
    if not scene.under(*MODULE):
        return []
    looser: list[tuple[str, list[Change]]] = []
    tighter: list[tuple[str, list[Change]]] = []
    o, n = get(scene.old, *MODULE) or {}, get(scene.new, *MODULE) or {}

    def said(way: int, text: str, field: str) -> None:
        changes = scene.under(*MODULE, field)
        if not changes:
            return
        if field in ("minimumAge", "maximumAge"):
            changes += scene.under(*MODULE, "stdAges")
        (looser if way > 0 else tighter).append((text, changes))

    # A lower minimum or a higher maximum lets more people in; a limit added lets fewer.
    for field, looser_if_lower in (("minimumAge", True), ("maximumAge", False)):
        was, now = o.get(field), n.get(field)
        if was == now:
            continue
        text = f"{_NAMES[field]} {_age(was)} → {_age(now)}"
        before, after = age_days(was), age_days(now)
        if before is None and after is not None:
            said(-1, text, field)
        elif after is None and before is not None:
            said(1, text, field)
        elif before is not None and after is not None and before != after:
            said(1 if (after < before) == looser_if_lower else -1, text, field)
    so, sn = o.get("sex"), n.get("sex")
    if so != sn and so and sn:
        text = f"now {words(sn, 'sex')} (was {words(so, 'sex')})"
        if sn == "ALL":
            said(1, text, "sex")
        elif so == "ALL":
            said(-1, text, "sex")
    ho, hn = o.get("healthyVolunteers"), n.get("healthyVolunteers")
    if bool(ho) != bool(hn) and isinstance(hn, bool):
        text = "healthy volunteers now accepted" if hn else "healthy volunteers no longer accepted"
        said(1 if hn else -1, text, "healthyVolunteers")
    events = []
    for way, found, type_ in (
        ("loosened", looser, EventType.ELIGIBILITY_LOOSENED),
        ("tightened", tighter, EventType.ELIGIBILITY_TIGHTENED),
    ):
        if found:
            changes = [c for _, cs in found for c in cs]
            events.append(
                scene.event(
                    type_,
                    f"Eligibility {way}: " + "; ".join(text for text, _ in found),
                    RANK_ELIGIBILITY,
                    list({c.id: c for c in changes}.values()),
                    data={"direction": way},
                )
            )
    return events
