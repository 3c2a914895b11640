"""Who runs the trial: a new lead sponsor (an acquisition, a transfer) and collaborators joining
or leaving, each said in one headline by name, not as field changes in the details."""

from __future__ import annotations

from typing import Any

from trialwatch.changes.events.scene import PS, RANK_REST, Scene
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import fold_key, one_line
from trialwatch.model import Event, EventType

MODULE = (PS, "sponsorCollaboratorsModule")
# Above the rest of the details, below the status, results, outcomes and dates.
RANK_SPONSOR = RANK_REST - 50


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return one_line(value, 200) if isinstance(value, str) and value.strip() else None


def _names(record: dict[str, Any]) -> dict[str, str]:
    """Collaborators by the text they are compared by (case, spaces, markup aside)."""
    found = get(record, *MODULE, "collaborators")
    out: dict[str, str] = {}
    for item in found if isinstance(found, list) else []:
        name = _name(item)
        if name:
            out.setdefault(fold_key(name), name)
    return out


def detect(scene: Scene) -> list[Event]:
    events = []
    lead = scene.under(*MODULE, "leadSponsor")
    old_lead = _name(get(scene.old, *MODULE, "leadSponsor"))
    new_lead = _name(get(scene.new, *MODULE, "leadSponsor"))
    if lead and old_lead and new_lead and fold_key(old_lead) != fold_key(new_lead):
        events.append(
            scene.event(
                EventType.SPONSOR_CHANGED,
                f"Lead sponsor: {old_lead} → {new_lead}",
                RANK_SPONSOR,
                lead,
                data={"old": old_lead, "new": new_lead},
            )
        )
    collaborators = scene.under(*MODULE, "collaborators")
    if collaborators:
        before, after = _names(scene.old), _names(scene.new)
        joined = [after[k] for k in after if k not in before]
        left = [before[k] for k in before if k not in after]
        # A collaborator that became the lead sponsor (or the other way round) is part of that
        # story: named there, not twice.
        if joined or left:
            parts = []
            if joined:
                parts.append(f"{', '.join(joined)} joined")
            if left:
                parts.append(f"{', '.join(left)} left")
            noun = "Collaborator" if len(joined) + len(left) == 1 else "Collaborators"
            events.append(
                scene.event(
                    EventType.COLLABORATORS_CHANGED,
                    f"{noun}: " + "; ".join(parts),
                    RANK_SPONSOR + 1,
                    collaborators,
                    data={"joined": joined, "left": left},
                )
            )
    return events
