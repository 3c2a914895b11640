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

    lo, ln = age_days(o.get("minimumAge")), age_days(n.get("minimumAge"))
    if o.get("minimumAge") != n.get("minimumAge"):
        text = f"minimum age {_age(o.get('minimumAge'))} → {_age(n.get('minimumAge'))}"
        if lo is None and ln is not None:
            said(-1, text, "minimumAge")
        elif ln is None and lo is not None:
            said(1, text, "minimumAge")
        elif lo is not None and ln is not None and lo != ln:
            said(1 if ln < lo else -1, text, "minimumAge")
    hi_o, hi_n = age_days(o.get("maximumAge")), age_days(n.get("maximumAge"))
    if o.get("maximumAge") != n.get("maximumAge"):
        text = f"maximum age {_age(o.get('maximumAge'))} → {_age(n.get('maximumAge'))}"
        if hi_o is None and hi_n is not None:
            said(-1, text, "maximumAge")
        elif hi_n is None and hi_o is not None:
            said(1, text, "maximumAge")
        elif hi_o is not None and hi_n is not None and hi_o != hi_n:
            said(1 if hi_n > hi_o else -1, text, "maximumAge")
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
