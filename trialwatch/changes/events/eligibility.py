"""Eligibility direction: who can join now, against before. Age limits, sex and healthy
volunteers are each loosened (more people can join) or tightened (fewer can)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.events.scene import PS, RANK_ELIGIBILITY, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import one_line
from trialwatch.changes.words import words
from trialwatch.model import Change, Event, EventType, Kind

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
    for direction, text, change in _criteria_moves(scene.under(*MODULE, "eligibilityCriteria")):
        (looser if direction > 0 else tighter).append((text, [change]))
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


# --- criteria text ------------------------------------------------------------------------

_SECTIONS = {"Inclusion criterion": 1, "Exclusion criterion": -1}
# Past this many criteria added or removed in one step, it is a rewrite: each is in the
# details, but none is read as a direction.
MAX_DIRECTED = 4
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[≥≤]|[<>]=?|=|\w+|[^\w\s]")
_LOWER = ("≥", ">=", ">", "least", "minimum", "min", "over", "above", "greater", "exceeding")
_UPPER = ("≤", "<=", "<", "most", "maximum", "max", "below", "under", "less", "fewer", "up")


def _number(token: str) -> float | None:
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


def _bound(tokens: list[str], i: int) -> str | None:
    """Whether the number at ``tokens[i]`` is a lower or an upper limit, from the words before
    it ("at least 18", "≤ 2 prior lines", "no more than 3") or its place in a range ("0-1")."""
    before = [t.casefold() for t in tokens[max(0, i - 4) : i]]
    if len(before) >= 2 and before[-1] in ("-", "–", "to") and _number(tokens[i - 2]) is not None:
        return "upper"
    after = [t.casefold() for t in tokens[i + 1 : i + 3]]
    if after[:1] and after[0] in ("-", "–", "to") and len(after) > 1 and _number(after[1]):
        return "lower"
    text = " ".join(before)
    if "no more" in text or "not more" in text or "not exceed" in text:
        return "upper"
    for t in reversed(before):
        if t in _UPPER:
            return "upper"
        if t in _LOWER or t == "more":
            return "lower"
    return None


def threshold_move(old: str, new: str) -> tuple[int, str] | None:
    """How a reworded criterion's limit moved, read as an inclusion criterion: +1 when more
    people meet it (a lower minimum, a higher maximum), -1 when fewer; with the words that
    changed. None when no limit is seen to move, or the moves disagree."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    ways: set[int] = set()
    said: list[str] = []
    whole = False  # a limit put in or taken out: the criterion is said whole
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag in ("insert", "delete"):
            # A limit put in ("and at most 65 years old") lets fewer in; one taken out, more.
            tokens, lo, hi = (b, j1, j2) if tag == "insert" else (a, i1, i2)
            limits = [
                k for k in range(lo, hi) if _number(tokens[k]) is not None and _bound(tokens, k)
            ]
            if not limits:
                return None
            ways.add(-1 if tag == "insert" else 1)
            whole = True
            continue
        if tag != "replace" or i2 - i1 != 1 or j2 - j1 != 1:
            return None  # words changed too, not only a number: reworded
        was, now = _number(a[i1]), _number(b[j1])
        bound = _bound(a, i1)
        if was is None or now is None or bound is None or was == now:
            return None
        up = now > was
        ways.add(1 if up == (bound == "upper") else -1)
        lead = a[max(0, i1 - 5) : i1]
        while lead and not lead[0][:1].isalnum():  # never start inside a hyphenated word
            lead = lead[1:]
        if lead and i1 - len(lead) > 0 and a[i1 - len(lead) - 1] in ("-", "–", "/"):
            lead = lead[1:]
        tail: list[str] = []
        for t in a[i1 + 1 : i1 + 8]:
            if t in (",", ";", ":", "."):
                break
            tail.append(t)
        said.append(f"{_joined([*lead, a[i1], *tail])} → {_joined([*lead, b[j1], *tail])}")
    if len(ways) != 1:
        return None
    if whole or max(len(old), len(new)) <= 140:  # a short criterion is said whole
        return ways.pop(), f"“{one_line(old, 160)}” → “{one_line(new, 160)}”"
    return ways.pop(), "; ".join(said)


def _joined(tokens: list[str]) -> str:
    """Tokens back into text: "0 - 1" as "0-1", "10 ^ 9 / L" as "10^9/L"."""
    text = " ".join(tokens)
    return re.sub(r"\s*([-–^/])\s*", r"\1", text).strip()


def _criteria_moves(changes: list[Change]) -> list[tuple[int, str, Change]]:
    """Criteria that let more (+1) or fewer (-1) people in: a limit moved in a reworded one,
    and a few criteria added (fewer can join) or removed (more can)."""
    out: list[tuple[int, str, Change]] = []
    directed = [c for c in changes if c.label in _SECTIONS]
    whole = [c for c in directed if c.kind is not Kind.CHANGED]
    for c in directed:
        sign = _SECTIONS[c.label]
        section = c.label.split()[0].lower()
        if c.kind is Kind.CHANGED and isinstance(c.old, str) and isinstance(c.new, str):
            moved = threshold_move(c.old, c.new)
            if moved is not None:
                way, words_ = moved
                out.append((way * sign, f"{section} criterion {words_}", c))
        elif c.kind is not Kind.CHANGED and len(whole) <= MAX_DIRECTED:
            text = one_line(str(c.new if c.kind is Kind.ADDED else c.old), 120)
            if c.kind is Kind.ADDED:
                out.append((-1, f"{section} criterion added: “{text}”", c))
            else:
                out.append((1, f"{section} criterion removed: “{text}”", c))
    return out
