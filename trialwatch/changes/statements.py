"""What results and the record state beside the protocol: the safety tables (adverse event
groups named by their titles, never by their codes) and the data-sharing statement (its
decision first, then the documents it shares)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trialwatch.changes.builder import ChangeBuilder, generic
from trialwatch.changes.match import (
    Schema,
    same,
    walk,
)
from trialwatch.changes.sentences import (
    get,
)
from trialwatch.changes.textnorm import (
    one_line,
)
from trialwatch.changes.words import words
from trialwatch.model import Kind

PS = "protocolSection"
ADVERSE_EVENTS = ("resultsSection", "adverseEventsModule")
IPD = (PS, "ipdSharingStatementModule")


def group_titles(*groups: Any) -> dict[str, str]:
    """A results table's groups by id ("EG001" → "CZP 200 mg Q2W (SS)"), from each list given
    (the newer last: its title wins)."""
    titles: dict[str, str] = {}
    for items in groups:
        for g in items if isinstance(items, list) else []:
            if isinstance(g, dict) and g.get("id") and isinstance(g.get("title"), str):
                titles[str(g["id"])] = one_line(g["title"], 80) or str(g["id"])
    return titles


def adverse_events(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    """The safety tables, every field in words as the generic fallback says them, but a
    group named by its title, never by its code ("Glaucoma › CZP 200 mg Q2W (SS)", not
    "Glaucoma › EG001")."""
    old, new = get(o, *ADVERSE_EVENTS), get(n, *ADVERSE_EVENTS)
    if same(old, new):
        return
    titles = group_titles(
        get(o, *ADVERSE_EVENTS, "eventGroups"), get(n, *ADVERSE_EVENTS, "eventGroups")
    )
    for raw in walk(old, new, ADVERSE_EVENTS, ADVERSE_EVENTS):
        path = tuple(
            f"[{titles[p[1:-1]]}]" if p.startswith("[") and p[1:-1] in titles else p
            for p in raw.path
        )
        generic(b, replace(raw, path=path))


# --- data sharing ------------------------------------------------------------------------------


def data_sharing(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    """One data-sharing decision said first ("IPD sharing: yes → no"), then the documents it
    no longer (or now) shares, then the rest of the statement: not its fields in the order of
    their names."""
    old, new = get(o, *IPD), get(n, *IPD)
    if same(old, new):
        return
    if not isinstance(old, dict) or not isinstance(new, dict) or not old or not new:
        for raw in walk(old, new, IPD, IPD):  # a statement added or removed whole
            generic(b, raw)
        return
    was, now = old.get("ipdSharing"), new.get("ipdSharing")
    said: set[Schema] = set()
    if was != now and (was or now):
        kind = Kind.CHANGED if was and now else Kind.ADDED if now else Kind.REMOVED
        decided = (*IPD, "ipdSharing")
        b.add(
            decided,
            kind,
            was,
            now,
            f"IPD sharing: {words(was, 'ipdSharing') if was else 'not said'} → "
            f"{words(now, 'ipdSharing') if now else 'not said'}",
        )
        said.add(decided)
        types = (*IPD, "infoTypes")
        before = [t for t in old.get("infoTypes") or [] if isinstance(t, str)]
        after = [t for t in new.get("infoTypes") or [] if isinstance(t, str)]
        dropped = [words(t, "infoTypes") for t in before if t not in after]
        added = [words(t, "infoTypes") for t in after if t not in before]
        if dropped or added:
            parts = []
            if dropped:
                parts.append(f"no longer shares {', '.join(dropped)}")
            if added:
                parts.append(f"now shares {', '.join(added)}")
            kind = Kind.CHANGED if before and after else Kind.ADDED if after else Kind.REMOVED
            b.add(types, kind, before or None, after or None, "IPD sharing: " + "; ".join(parts))
            said.add(types)
    for raw in walk(old, new, IPD, IPD, skip=said.__contains__):
        generic(b, raw)
