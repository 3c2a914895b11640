"""Posted safety results revised: more deaths, or more participants with serious adverse events,
than the results said when they were posted. Each group and event term is named as the results
table names it, never by its code."""

from __future__ import annotations

from typing import Any

from trialwatch.changes.events.scene import RANK_RESULTS, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.statements import ADVERSE_EVENTS, group_titles
from trialwatch.changes.textnorm import fold_key, one_line
from trialwatch.model import Change, Event, EventType

# Beside the results lifecycle: a safety signal revised upward is what a reader of posted
# results most needs to hear.
RANK_SAFETY = RANK_RESULTS + 10
MAX_TERMS = 3  # serious event terms named in a headline; the rest are counted


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _groups(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = get(record, *ADVERSE_EVENTS, "eventGroups")
    return (
        {str(g["id"]): g for g in items if isinstance(g, dict) and g.get("id")}
        if isinstance(items, list)
        else {}
    )


def _terms(record: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Serious adverse event terms by their folded name: (the name, participants affected in
    all groups)."""
    items = get(record, *ADVERSE_EVENTS, "seriousEvents")
    out: dict[str, tuple[str, int]] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("term"), str):
            continue
        stats = item.get("stats")
        affected = 0
        for stat in stats if isinstance(stats, list) else []:
            if isinstance(stat, dict):
                affected += _count(stat.get("numAffected")) or 0
        key = fold_key(item["term"])
        name, before = out.get(key, (one_line(item["term"], 80), 0))
        out[key] = (name, before + affected)
    return out


def _rises(scene: Scene, field: str, titles: dict[str, str]) -> list[str]:
    old, new = _groups(scene.old), _groups(scene.new)
    said = []
    for gid, group in new.items():
        was = _count(old.get(gid, {}).get(field))
        now = _count(group.get(field))
        if was is not None and now is not None and now > was:
            said.append(f"{titles.get(gid, gid)} {was} → {now}")
    return said


def detect(scene: Scene) -> list[Event]:
    changes = scene.under(*ADVERSE_EVENTS)
    # Only a revision of results already posted: results posted in this step are news of
    # their own (results_posted).
    if not changes or not get(scene.old, *ADVERSE_EVENTS):
        return []
    titles = group_titles(
        get(scene.old, *ADVERSE_EVENTS, "eventGroups"),
        get(scene.new, *ADVERSE_EVENTS, "eventGroups"),
    )
    parts: list[str] = []
    flags: list[str] = []
    covered: list[Change] = []
    deaths = _rises(scene, "deathsNumAffected", titles)
    if deaths:
        parts.append("deaths: " + ", ".join(deaths))
        flags.append("deaths_rose")
        covered += scene.under(*ADVERSE_EVENTS, "eventGroups", "deathsNumAffected")
    serious = _rises(scene, "seriousNumAffected", titles)
    before, after = _terms(scene.old), _terms(scene.new)
    terms = []
    for key, (name, now) in after.items():
        was = before[key][1] if key in before else None
        if was is None and now:
            terms.append(f"{name} newly reported ({now} participant{'s' if now != 1 else ''})")
        elif was is not None and now > was:
            terms.append(f"{name} {was} → {now}")
    if serious or terms:
        shown = terms[:MAX_TERMS]
        if len(terms) > MAX_TERMS:
            shown.append(f"{len(terms) - MAX_TERMS} more terms")
        text = "serious adverse events: "
        if serious:
            text += ", ".join(serious) + " participants"
            text += f" ({', '.join(shown)})" if shown else ""
        else:
            text += ", ".join(shown)
        parts.append(text)
        flags.append("serious_rose")
        covered += scene.under(*ADVERSE_EVENTS, "eventGroups", "seriousNumAffected")
        covered += scene.under(*ADVERSE_EVENTS, "seriousEvents")
    if not parts:
        return []
    posted = scene.status(scene.old, "resultsFirstPostDateStruct")
    when = posted.get("date") if isinstance(posted, dict) else None
    headline = (
        f"Safety results revised upward after they were posted{f' ({when})' if when else ''}: "
        + "; ".join(parts)
    )
    return [
        scene.event(
            EventType.SAFETY_REVISED,
            headline,
            RANK_SAFETY,
            list({c.id: c for c in covered}.values()),
            flags=flags,
            data={"deaths": deaths, "serious": serious, "terms": terms, "posted": when},
        )
    ]
