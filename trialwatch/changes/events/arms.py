"""Arms and interventions, named by their labels: an arm dropped (loudly when it is the
placebo or control arm: the comparison changes), arms merged, an arm relabelled, an intervention
renamed (a code name given its drug name)."""

from __future__ import annotations

import re
from typing import Any

from trialwatch.changes.events.scene import PS, RANK_PRIMARY_OUTCOMES, RANK_REST, Scene
from trialwatch.changes.match import pointer
from trialwatch.changes.sentences import fmt, get
from trialwatch.changes.textnorm import fold_key
from trialwatch.changes.words import words
from trialwatch.model import Change, Event, EventType

MODULE = (PS, "armsInterventionsModule")
# Arms that are what the experimental arms are compared with.
CONTROL = {"PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "ACTIVE_COMPARATOR", "NO_INTERVENTION"}
# A control arm dropped changes the comparison: in the Summary beside the primary outcomes.
RANK_CONTROL = RANK_PRIMARY_OUTCOMES + 10
RANK_ARMS = RANK_REST - 40
# A code name: letters and digits run together ("ABX-464", "BMS986165", "LY3009104").
_CODE = re.compile(r"^[A-Z]{1,6}[- ]?\d{2,}[A-Z0-9-]*$", re.I)


def _items(record: dict[str, Any], name: str) -> list[tuple[int, dict[str, Any]]]:
    found = get(record, *MODULE, name)
    return (
        [(i, x) for i, x in enumerate(found) if isinstance(x, dict)]
        if isinstance(found, list)
        else []
    )


def _arm_type(arm: dict[str, Any]) -> str:
    return str(arm.get("type") or "")


def _interventions(arm: dict[str, Any]) -> frozenset[str]:
    names = arm.get("interventionNames")
    return frozenset(fold_key(n) for n in names) if isinstance(names, list) else frozenset()


def detect(scene: Scene) -> list[Event]:
    if not scene.under(*MODULE):
        return []
    return _arms(scene) + _renamed_interventions(scene)


def _at(name: str, i: int) -> str:
    return pointer((*MODULE, name, str(i)))


def _arms(scene: Scene) -> list[Event]:
    old, new = _items(scene.old, "armGroups"), _items(scene.new, "armGroups")
    new_labels = {fold_key(a.get("label")) for _, a in new}
    old_labels = {fold_key(a.get("label")) for _, a in old}
    gone = [(i, a) for i, a in old if fold_key(a.get("label")) not in new_labels]
    came = [(j, a) for j, a in new if fold_key(a.get("label")) not in old_labels]
    events: list[Event] = []
    # Merged: two arms or more gone, one come that holds all their interventions. Asked first:
    # two arms with the same interventions merged would otherwise read as one relabelled and
    # the other dropped.
    for j, b in list(came):
        held = _interventions(b)
        parts = [(i, a) for i, a in gone if _interventions(a) and _interventions(a) <= held]
        if len(parts) >= 2 and frozenset().union(*(_interventions(a) for _, a in parts)) == held:
            came.remove((j, b))
            for part in parts:
                gone.remove(part)
            covered: list[Change] = []
            for i, _a in parts:
                covered += scene.within(_at("armGroups", i), None)
            covered += scene.within(None, _at("armGroups", j))
            names = " + ".join(fmt(a.get("label"), 80) for _, a in parts)
            events.append(
                scene.event(
                    EventType.ARMS_MERGED,
                    f"Arms merged: {names} → {fmt(b.get('label'), 80)}",
                    RANK_ARMS,
                    covered,
                    data={"old": [a.get("label") for _, a in parts], "new": b.get("label")},
                )
            )
    # Relabelled: the same kind of arm with the same interventions, under a new label.
    for i, a in list(gone):
        twin = next(
            (
                (j, b)
                for j, b in came
                if _arm_type(b) == _arm_type(a)
                and _interventions(b) == _interventions(a)
                and _interventions(a)
            ),
            None,
        )
        if twin is not None:
            j, b = twin
            gone.remove((i, a))
            came.remove(twin)
            events.append(
                scene.event(
                    EventType.ARM_RELABELLED,
                    f"Arm relabelled: {fmt(a.get('label'), 120)} → {fmt(b.get('label'), 120)}",
                    RANK_ARMS,
                    scene.within(_at("armGroups", i), _at("armGroups", j))
                    + _mentions(scene, "interventions", "armGroupLabels", a.get("label")),
                    data={"old": a.get("label"), "new": b.get("label")},
                )
            )
    # Dropped: said loudly for the arm the others are compared with.
    controls_left = [a for _, a in new if _arm_type(a) in CONTROL]
    for i, a in gone:
        kind = _arm_type(a)
        covered = scene.within(_at("armGroups", i), None)
        # Its interventions that went with it (given to no other arm).
        label = fold_key(a.get("label"))
        for k, x in _items(scene.old, "interventions"):
            if _labels(x) == {label} and fold_key(x.get("name")) not in {
                fold_key(y.get("name")) for _, y in _items(scene.new, "interventions")
            }:
                covered += scene.within(_at("interventions", k), None)
        if kind in CONTROL:
            what = words(kind, "type").lower() if kind else "control"
            left = (
                "; no control arm is left"
                if not controls_left
                else f"; {len(controls_left)} control arm{'s' * (len(controls_left) != 1)} left"
            )
            events.append(
                scene.event(
                    EventType.ARM_DROPPED,
                    f"Control arm dropped: {fmt(a.get('label'), 120)} ({what}){left}",
                    RANK_CONTROL,
                    covered,
                    flags=("control_arm",),
                    data={"label": a.get("label"), "type": kind},
                )
            )
        else:
            events.append(
                scene.event(
                    EventType.ARM_DROPPED,
                    f"Arm dropped: {fmt(a.get('label'), 120)}",
                    RANK_ARMS,
                    covered,
                    data={"label": a.get("label"), "type": kind},
                )
            )
    return events


def _renamed_interventions(scene: Scene) -> list[Event]:
    """An intervention under a new name that is the same one: same type and arms, and the old
    name kept among its other names (a code name given its drug name), or a code name replaced
    by a name for the same arms."""
    old, new = _items(scene.old, "interventions"), _items(scene.new, "interventions")
    new_names = {fold_key(x.get("name")) for _, x in new}
    old_names = {fold_key(x.get("name")) for _, x in old}
    gone = [(i, x) for i, x in old if fold_key(x.get("name")) not in new_names]
    came = [(j, x) for j, x in new if fold_key(x.get("name")) not in old_names]
    events = []
    for i, a in gone:
        for j, b in came:
            if a.get("type") != b.get("type"):
                continue
            others = {fold_key(n) for n in b.get("otherNames") or [] if isinstance(n, str)}
            same_arms = _labels(a) == _labels(b) and _labels(a)
            code = bool(_CODE.match(str(a.get("name") or "").strip()))
            kept = fold_key(a.get("name")) in others
            if kept or (same_arms and code):
                came.remove((j, b))
                how = " (its code name kept among its other names)" if code and kept else ""
                events.append(
                    scene.event(
                        EventType.INTERVENTION_RENAMED,
                        f"Intervention renamed: {fmt(a.get('name'), 80)} → "
                        f"{fmt(b.get('name'), 80)}{how}",
                        RANK_ARMS,
                        scene.within(_at("interventions", i), _at("interventions", j))
                        + _mentions(scene, "armGroups", "interventionNames", a.get("name")),
                        data={"old": a.get("name"), "new": b.get("name")},
                    )
                )
                break
    return events


def _labels(item: dict[str, Any]) -> frozenset[str]:
    found = item.get("armGroupLabels")
    return frozenset(fold_key(x) for x in found) if isinstance(found, list) else frozenset()


def _mentions(scene: Scene, items: str, field: str, name: Any) -> list[Change]:
    """The changes to ``field`` of ``items`` that took ``name`` out: an arm's intervention list
    after a rename, an intervention's arm labels after a relabelling."""
    wanted = fold_key(name)
    out = []
    for c in scene.under(*MODULE, items):
        if not c.path.endswith(field) and f".{field}" not in c.path:
            continue
        was = c.old if isinstance(c.old, list) else [c.old]
        if any(wanted and wanted in fold_key(v) for v in was if isinstance(v, str)):
            out.append(c)
    return out
