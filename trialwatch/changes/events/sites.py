"""Sites: counted, not listed — sites added and removed with the net count, the countries a
trial entered or left, how many sites recruit now; and renamed facilities."""

from __future__ import annotations

from typing import Any

from trialwatch.changes.events.scene import PS, RANK_SITES, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import one_line
from trialwatch.model import Event, EventType, Kind

LOCATIONS = (PS, "contactsLocationsModule", "locations")


def _sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    items = get(record, *LOCATIONS)
    return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []


def _countries(sites: list[dict[str, Any]]) -> set[str]:
    served = {s.get("country") for s in sites}
    return {one_line(str(c), 60) for c in served if c and isinstance(c, str)}


def _name(site: Any) -> str:
    if not isinstance(site, dict):
        return "unnamed site"
    parts = [site.get(k) for k in ("facility", "city", "state", "country")]
    return ", ".join(one_line(str(p), 80) for p in parts if p) or "unnamed site"


# A site a participant could still join.
_OPEN = frozenset({"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION"})


def _recruiting_in(sites: list[dict[str, Any]]) -> set[str]:
    return _countries([s for s in sites if s.get("status") in _OPEN])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def detect(scene: Scene) -> list[Event]:
    site_level = [c for c in scene.under(*LOCATIONS) if c.label == "Site"]
    renamed = [c for c in scene.under(*LOCATIONS) if c.label == "Site name"]
    # Sites withdrawn in place (kept in the list, status set to withdrawn) leave as surely as
    # sites deleted from it.
    withdrawn = [
        c
        for c in scene.under(*LOCATIONS)
        if c.label == "Site recruitment status" and c.new == "WITHDRAWN"
    ]
    events = []
    for c in renamed:
        events.append(scene.event(EventType.SITE_RENAMED, c.sentence, RANK_SITES + 5, [c]))
    if not site_level and not withdrawn:
        return events
    added = [c for c in site_level if c.kind is Kind.ADDED]
    gone = [c for c in site_level if c.kind is Kind.REMOVED]
    old, new = _sites(scene.old), _sites(scene.new)
    before, after = _countries(old), _countries(new)
    entered, left = sorted(after - before), sorted(before - after)
    stopped = sorted(_recruiting_in(old) - _recruiting_in(new) - set(left))
    if not site_level and not stopped:
        return events  # a few sites withdrawn where others still recruit: the details say it
    parts = []
    if added:
        parts.append(f"+{_plural(len(added), 'site')}")
    if gone:
        parts.append(f"−{_plural(len(gone), 'site')}")
    if withdrawn:
        parts.append(f"{_plural(len(withdrawn), 'site')} withdrawn")
    net = len(new) - len(old)
    signed = f"{net:+d}".replace("-", "−")
    recruiting = sum(1 for s in new if s.get("status") == "RECRUITING")
    now = f"now {len(new)} site{'s' if len(new) != 1 else ''}"
    if recruiting or any(s.get("status") for s in new):
        now += f", {recruiting} recruiting"
    headline = (
        f"{', '.join(parts)} (net {signed}; {now})"
        if added and gone
        else f"{', '.join(parts)} ({now})"
    )
    if entered:
        headline += f"; first site{'s' if len(entered) > 1 else ''} in {', '.join(entered)}"
    if left:
        headline += f"; no longer in {', '.join(left)}"
    if stopped:
        headline += f"; no longer recruiting in {', '.join(stopped)}"
    details = [f"+ {_name(c.new)}" for c in added] + [f"− {_name(c.old)}" for c in gone]
    events.append(
        scene.event(
            EventType.SITES_CHANGED,
            headline,
            RANK_SITES,
            site_level + withdrawn,
            details=details,
            data={
                "added": len(added),
                "removed": len(gone),
                "net": net,
                "sites": len(new),
                "recruiting": recruiting,
                "countries_entered": entered,
                "countries_left": left,
                "withdrawn": len(withdrawn),
                "countries_no_longer_recruiting": stopped,
            },
        )
    )
    return events
