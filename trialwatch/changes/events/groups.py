"""One edit repeated across many items, said once: "contact added at 210 sites: “Principal
Investigator”", "time frame “59 months” → “58 months” on all 25 outcomes (3 primary)"."""

from __future__ import annotations

import re
from collections.abc import Sequence

from trialwatch.changes.events.scene import (
    RANK_OTHER_OUTCOMES,
    RANK_PRIMARY_OUTCOMES,
    RANK_REST,
    Scene,
)
from trialwatch.changes.labels import LABELS, category_for, humanize
from trialwatch.changes.match import canon, schema_of
from trialwatch.changes.sentences import counted, fmt, get
from trialwatch.changes.textnorm import text_key
from trialwatch.model import Category, Change, Event, EventType, Kind

# Past this many items alike, an edit is said once.
GROUP_AT = 3

_PLURAL = {
    "locations": "sites",
    "primaryOutcomes": "primary outcomes",
    "secondaryOutcomes": "secondary outcomes",
    "otherOutcomes": "other outcomes",
    "armGroups": "arms",
    "interventions": "interventions",
    "centralContacts": "central contacts",
    "overallOfficials": "officials",
    "references": "references",
    "collaborators": "collaborators",
}
_VERB = {Kind.ADDED: "added", Kind.REMOVED: "removed", Kind.CHANGED: "changed"}


def _owner(schema: Sequence[str]) -> tuple[int, str]:
    for depth, key in enumerate(schema):
        if key in _PLURAL:
            return depth, _PLURAL[key]
    return -1, "items"


def detect(scene: Scene) -> list[Event]:
    groups: dict[tuple[tuple[str, ...], Kind, str, str], list[Change]] = {}
    for c in scene.changes:
        if c.id in scene.explained or c.item is None or not c.material:
            continue
        schema = schema_of(c.path)
        depth, _ = _owner(schema)
        if depth < 0:
            continue
        key = (schema, c.kind, canon(c.old), canon(c.new))
        groups.setdefault(key, []).append(c)
    events = []
    for (schema, kind, _o, _n), changes in groups.items():
        depth, plural = _owner(schema)
        owners = {_item_at(c, schema[depth]) for c in changes}
        if len(owners) < GROUP_AT:
            continue
        leaf = schema[depth + 1 :]
        what = " ".join(LABELS.get(k, humanize(k)).lower() for k in leaf) or "item"
        sample = changes[0]
        field = schema[-1]
        if kind is Kind.ADDED:
            value = f": {fmt(sample.new, 120, field)}"
        elif kind is Kind.REMOVED:
            value = f" (was {fmt(sample.old, 120, field)})"
        else:
            value = f": {fmt(sample.old, 120, field)} → {fmt(sample.new, 120, field)}"
        total = _count(scene, schema[: depth + 1])
        scope = f"all {len(owners)}" if total == len(owners) else f"{len(owners)}"
        headline = f"{what[0].upper() + what[1:]} {_VERB[kind]} at {scope} {plural}{value}"
        rank = {Category.OUTCOMES: RANK_OTHER_OUTCOMES}.get(category_for(schema), RANK_REST)
        events.append(
            scene.event(
                EventType.GROUPED_EDIT,
                headline,
                rank,
                changes,
                # Which items, unless it is all of them.
                details=[] if total == len(owners) else _owner_names(changes, schema[depth]),
                data={"count": len(owners), "field": ".".join(schema)},
            )
        )
    return events


def _item_at(c: Change, list_key: str) -> str:
    """The item of the named list a change is in (the site a contact belongs to): its pointer
    up to that item's index."""
    parts = c.pointer.split("/")
    if list_key in parts:
        at = parts.index(list_key)
        return "/".join(parts[: at + 2])
    return c.pointer


def _owner_names(changes: list[Change], list_key: str) -> list[str]:
    """The name of the item of the named list each change is in (the site, not its contact)."""
    names = []
    for c in changes:
        at = c.path.find(list_key + "[")
        if at < 0:
            continue
        start, depth = at + len(list_key), 0
        for end in range(start, len(c.path)):
            depth += {"[": 1, "]": -1}.get(c.path[end], 0)
            if depth == 0:
                names.append(c.path[start + 1 : end])
                break
    return list(dict.fromkeys(names))


def _count(scene: Scene, schema: Sequence[str]) -> int:
    items = get(scene.new, *schema)
    return len(items) if isinstance(items, list) else -1


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _shape(text: object) -> tuple[str, tuple[float, ...]]:
    key = text_key(str(text or "")).casefold()
    return _NUMBER.sub("#", key), tuple(float(n) for n in _NUMBER.findall(key))


def merge_time_frames(scene: Scene, events: list[Event]) -> list[Event]:
    """Time-frame edits alike on many outcomes become one event: all set to the same text, or
    the same words with every number moved by the same amount ("59 months" → "58 months")."""
    frames = [e for e in events if e.type is EventType.OUTCOME_TIME_FRAME]
    by_new: dict[str, int] = {}
    for e in frames:
        new_key = text_key(str(e.data.get("new_time_frame") or ""))
        by_new[new_key] = by_new.get(new_key, 0) + 1
    alike: dict[tuple[object, ...], list[Event]] = {}
    for e in frames:
        old_tf, new_tf = e.data.get("old_time_frame"), e.data.get("new_time_frame")
        new_key = text_key(str(new_tf or ""))
        (ow, on), (nw, nn) = _shape(old_tf), _shape(new_tf)
        old_text, new_text = text_key(str(old_tf or "")), new_key
        key: tuple[object, ...]
        if old_text and new_text.startswith(old_text) and new_text != old_text:
            key = ("append", new_text[len(old_text) :])  # the same words added to each
        elif old_text and new_text.endswith(old_text) and new_text != old_text:
            key = ("prepend", new_text[: -len(old_text)])
        elif by_new[new_key] >= GROUP_AT:
            key = ("set", new_key)
        elif len(on) == len(nn):
            key = ("shift", ow, nw, tuple(b - a for a, b in zip(on, nn, strict=True)))
        else:
            key = ("text", ow, nw, on, nn)
        alike.setdefault(key, []).append(e)
    total = sum(
        len(items) if isinstance(items, list) else 0
        for items in (
            get(scene.new, "protocolSection", "outcomesModule", k)
            for k in ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes")
        )
    )
    merged: list[Event] = []
    gone: set[int] = set()
    for key, group in alike.items():
        if len(group) < GROUP_AT:
            continue
        gone.update(id(e) for e in group)
        primary = sum(1 for e in group if e.data.get("list") == "primary")
        first = group[0]
        old_tf, new_tf = first.data.get("old_time_frame"), first.data.get("new_time_frame")
        olds = {text_key(str(e.data.get("old_time_frame"))) for e in group}
        if len(olds) == 1:
            change = f"{fmt(old_tf, 120)} → {fmt(new_tf, 120)}"
        elif key[0] == "set":
            change = f"set to {fmt(new_tf, 120)} (was {counted(len(olds), 'different time frame')})"
        elif key[0] in ("append", "prepend"):
            where = "added after" if key[0] == "append" else "put before"
            change = (
                f"{fmt(str(key[1]).strip(), 120)} {where} each (e.g. {fmt(old_tf, 120)} → "
                f"{fmt(new_tf, 120)})"
            )
        else:
            change = f"moved alike (e.g. {fmt(old_tf, 120)} → {fmt(new_tf, 120)})"
        scope = f"all {len(group)}" if len(group) == total else str(len(group))
        which = f" ({primary} primary)" if primary and primary != len(group) else ""
        merged.append(
            scene.event(
                EventType.OUTCOME_TIME_FRAME,
                f"Time frame {change} on {scope} outcomes{which}",
                RANK_PRIMARY_OUTCOMES if primary else RANK_OTHER_OUTCOMES,
                [scene_change for e in group for scene_change in _changes(scene, e)],
                details=[e.headline for e in group],
                data={"count": len(group), "primary": primary},
            )
        )
    return [e for e in events if id(e) not in gone] + merged


def _changes(scene: Scene, event: Event) -> list[Change]:
    ids = set(event.changes)
    return [c for c in scene.changes if c.id in ids]
