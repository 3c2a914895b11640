"""Status events: a status change, a status that went backwards, and the registry's own
"Unknown status" for records the sponsor has not verified in two years."""

from __future__ import annotations

import datetime as dt

from trialwatch.changes.dates import add_years, day_of, last_day, parse_partial
from trialwatch.changes.events.scene import RANK_STATUS, STATUS, Scene
from trialwatch.changes.sentences import fmt
from trialwatch.changes.words import status_words
from trialwatch.model import Attribution, Change, Event, EventType

# How far along a trial is; a move to a lower stage is a regression.
_STAGE = {
    "WITHDRAWN": 0,
    "NOT_YET_RECRUITING": 1,
    "RECRUITING": 2,
    "ENROLLING_BY_INVITATION": 2,
    "SUSPENDED": 2,
    "ACTIVE_NOT_RECRUITING": 3,
    "COMPLETED": 4,
    "TERMINATED": 4,
}
_CLOSED = {"COMPLETED", "TERMINATED", "WITHDRAWN"}


_OPEN = {
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
}


def is_regression(old: str | None, new: str | None) -> bool:
    """A real reopening: completed or active-not-recruiting back to recruiting, terminated or
    withdrawn back to an open status. Withdrawn (halted before anyone enrolled) and suspended
    (paused) are stops, not steps back; the registry's "Unknown status" is not the sponsor's
    move; terminated → completed is a correction of the ending."""
    if not old or not new or old == new or new in ("UNKNOWN", "WITHDRAWN", "SUSPENDED"):
        return False
    if old in ("TERMINATED", "WITHDRAWN"):
        return new in _OPEN
    if old == "SUSPENDED":
        return False  # resumed
    return old in _STAGE and new in _STAGE and _STAGE[new] < _STAGE[old]


def _stop_words(old: str | None, new: str | None) -> str | None:
    """The words for a trial that stopped before its end: withdrawn before enrolling anyone,
    suspended; None for any other move."""
    if new == "WITHDRAWN":
        if old in (None, "NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION"):
            return f"Withdrawn before enrolling anyone ({status_words(old)} → Withdrawn)"
        return f"Withdrawn ({status_words(old)} → Withdrawn: no participant was enrolled)"
    if new == "SUSPENDED" and old in _OPEN:
        return f"Suspended ({status_words(old)} → Suspended)"
    if old == "SUSPENDED" and new in _OPEN:
        return f"Resumed after a suspension (Suspended → {status_words(new)})"
    return None


def detect(scene: Scene) -> list[Event]:
    found = scene.under(*STATUS, "overallStatus")
    if not found:
        return []
    old = scene.status(scene.old, "overallStatus")
    new = scene.status(scene.new, "overallStatus")
    why = scene.under(*STATUS, "whyStopped")
    last_known = scene.under(*STATUS, "lastKnownStatus")
    if new == "UNKNOWN":
        return [_unknown(scene, old, found + last_known)]
    words = f"{status_words(old)} → {status_words(new)}"
    why_new = scene.status(scene.new, "whyStopped")
    reason = (
        f" — why stopped: {fmt(why_new, 200)}" if why_new and new in _CLOSED | {"SUSPENDED"} else ""
    )
    covered = found + why + last_known
    if is_regression(old, new):
        for c in found:
            scene.computed.setdefault(c.id, {})["regression"] = True
        return [
            scene.event(
                EventType.STATUS_REGRESSION,
                f"Overall status went backwards: {words}{reason}",
                RANK_STATUS - 10,
                covered,
                flags=("regression",),
                data={"old": old, "new": new},
            )
        ]
    stopped = _stop_words(old, new)
    return [
        scene.event(
            EventType.STATUS_CHANGED,
            f"{stopped}{reason}" if stopped else f"Overall status {words}{reason}",
            RANK_STATUS,
            covered,
            data={"old": old, "new": new},
        )
    ]


def _unknown(scene: Scene, old: str | None, covered: list[Change]) -> Event:
    verified = parse_partial(scene.status(scene.new, "statusVerifiedDate"))
    last_known = scene.status(scene.new, "lastKnownStatus") or old
    today = day_of(scene.data_date_text()) or scene.edited_on() or dt.date.today()
    stale = verified is not None and add_years(last_day(verified), 2) < today
    known = f"; last known status: {status_words(last_known)}" if last_known else ""
    if verified is not None and stale:
        why = f"the sponsor has not verified the record since {verified.text}, over 2 years"
        who = (Attribution.REGISTRY, f"last verified {verified.text}: the registry's two-year rule")
    else:
        why = "the record does not say it went unverified for 2 years"
        who = scene.sponsor()
    return scene.event(
        EventType.STATUS_UNKNOWN,
        f"Status set to Unknown ({why}){known}",
        RANK_STATUS,
        covered,
        attribution=who,
        data={
            "old": old,
            "last_known": last_known,
            "verified": verified.text if verified else None,
        },
    )
