"""The change builder, and the generic fallback that reports any field in words: whatever a
specialised handler does not speak for is said here, so nothing that changed goes unmentioned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from trialwatch.changes.labels import LABELS, category_for, field_label, humanize, is_admin
from trialwatch.changes.match import RawDiff, Schema, canon, pointer
from trialwatch.changes.sentences import counted, dotted, fmt, line_details
from trialwatch.changes.words import ENUM_FIELDS, is_enum_code, words
from trialwatch.model import Category, Change, Kind


class ChangeBuilder:
    """Collects the changes of one trial."""

    def __init__(self, nct_id: str) -> None:
        self.nct_id = nct_id
        self.changes: list[Change] = []

    def add(
        self,
        path: Sequence[str],
        kind: Kind,
        old: Any,
        new: Any,
        sentence: str,
        *,
        schema: Schema | None = None,
        label: str | None = None,
        category: Category | None = None,
        material: bool | None = None,
        details: Sequence[str] = (),
        headline: bool = False,
        at: str | None = None,
        item: str | None = None,
    ) -> None:
        """Record one change. ``at`` is its JSON Pointer; by default the path's own (a path
        through a list item must give it)."""
        sch = tuple(schema if schema is not None else [p for p in path if not p.startswith("[")])
        if at is None:
            at = pointer(path) if not any(p.startswith("[") for p in path) else ""
        # An item with no name of its own is known by its place: "item 3" (never "#3").
        items = [re.sub(r"^#(\d+)$", r"item \1", p[1:-1]) for p in path if p.startswith("[")]
        field = sch[-1] if sch else ""
        said = None
        if field in ENUM_FIELDS and (_code(old) or _code(new)):
            said = (_said(old, field), _said(new, field))
        self.changes.append(
            Change(
                nct_id=self.nct_id,
                path=dotted(path),
                label=label or field_label(sch),
                kind=kind,
                old=old,
                new=new,
                sentence=sentence,
                category=category or category_for(sch),
                material=(not is_admin(sch)) if material is None else material,
                details=tuple(details),
                headline=headline,
                pointer=at,
                item=item if item is not None else items[-1] if items else None,
                words=said,
            )
        )


def _code(value: Any) -> bool:
    if isinstance(value, list):
        return any(_code(v) for v in value)
    return isinstance(value, str) and is_enum_code(value)


def _said(value: Any, field: str) -> Any:
    if isinstance(value, list):
        return ", ".join(words(v, field) for v in value if isinstance(v, str)) or None
    return words(value, field) if isinstance(value, str) else None


def _is_long_text(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > 120 or "\n" in value)


def generic(b: ChangeBuilder, raw: RawDiff, subject: str | None = None) -> None:
    schema = raw.schema
    label = field_label(schema)
    is_item = bool(raw.path) and raw.path[-1].startswith("[")
    prefix = subject or _owner(raw, len(raw.path) - 1 if is_item else len(raw.path))
    if is_item:
        name = raw.path[-1][1:-1]
        if name.startswith("#"):  # an item with no name of its own: say what it holds
            name = fmt(raw.new if raw.kind is Kind.ADDED else raw.old, 200)
        what = f"{prefix}: {label.lower()}" if prefix else label
        verb = "added" if raw.kind is Kind.ADDED else "removed"
        b.add(
            raw.path,
            raw.kind,
            raw.old,
            raw.new,
            f"{what} {verb}: {name}",
            schema=schema,
            label=label,
            at=raw.pointer,
        )
        return
    # A "no" that appears or goes ("Expanded access removed (was: available: no)") tells a
    # reader nothing: kept in the details, never a material change.
    trivia = (raw.kind is Kind.REMOVED and _only_no(raw.old)) or (
        raw.kind is Kind.ADDED and _only_no(raw.new)
    )
    leaf = label if prefix is None else f"{prefix}: {_leaf_label(schema)}"
    sep = ":" if prefix is None else ""
    details: list[str] = []
    field = schema[-1] if schema else None
    if raw.kind is Kind.ADDED:
        sentence = f"{leaf} added: {fmt(raw.new, field=field)}"
    elif raw.kind is Kind.REMOVED:
        sentence = f"{leaf} removed (was {fmt(raw.old, field=field)})"
    elif isinstance(raw.old, list) and isinstance(raw.new, list):
        sentence = _list_sentence(leaf, raw.old, raw.new, field)
    elif _is_long_text(raw.old) or _is_long_text(raw.new):
        details = line_details(str(raw.old), str(raw.new))
        removed = sum(1 for d in details if d.startswith("−"))
        added = sum(1 for d in details if d.startswith("+"))
        reworded = sum(1 for d in details if d.startswith("~"))
        sentence = f"{leaf} edited ({counted(removed, 'passage')} replaced by {added})"
        if reworded and not removed and not added:
            sentence = f"{leaf} edited ({counted(reworded, 'passage')} reworded)"
        elif not removed:
            sentence = f"{leaf} edited ({counted(added, 'passage')} added)"
        elif not added:
            sentence = f"{leaf} edited ({counted(removed, 'passage')} removed)"
    else:
        sentence = f"{leaf}{sep} {fmt(raw.old, 300, field)} → {fmt(raw.new, 300, field)}"
    b.add(
        raw.path,
        raw.kind,
        raw.old,
        raw.new,
        sentence,
        schema=schema,
        details=details,
        at=raw.pointer,
        material=False if trivia else None,
    )


def _only_no(value: Any) -> bool:
    """A value that holds nothing but false flags (``false``, ``{"hasExpandedAccess": false}``)."""
    if value is False:
        return True
    if isinstance(value, dict) and value:
        return all(_only_no(v) for v in value.values())
    if isinstance(value, list) and value:
        return all(_only_no(v) for v in value)
    return False


def _owner(raw: RawDiff, upto: int) -> str | None:
    """What a change belongs to, from the named list items on its path: the outermost (an
    outcome measure, an arm) and, when nested deeper, the innermost (a group in its table)."""
    keys = 0
    named: list[tuple[int, str]] = []
    for part in raw.path[:upto]:
        if part.startswith("["):
            name = part[1:-1]
            if not name.startswith("#"):
                named.append((keys, name))
        else:
            keys += 1
    if not named:
        return None
    depth, outer = named[0]
    text = f"{field_label(raw.schema[:depth])} “{outer}”"
    if len(named) > 1:
        text += f" › {named[-1][1]}"
    return text


def _leaf_label(schema: Schema) -> str:
    last = schema[-1] if schema else ""
    return LABELS.get(last, humanize(last)).lower()


def _list_sentence(label: str, old: list[Any], new: list[Any], field: str | None) -> str:
    old_keys = [canon(v) for v in old]
    new_keys = [canon(v) for v in new]
    added = [v for v, k in zip(new, new_keys, strict=True) if k not in old_keys]
    removed = [v for v, k in zip(old, old_keys, strict=True) if k not in new_keys]
    if len(old) == 1 and len(new) == 1:
        return f"{label}: {fmt(old[0], field=field)} → {fmt(new[0], field=field)}"
    parts = []
    if added:
        parts.append("added " + ", ".join(fmt(v, 80, field) for v in added))
    if removed:
        parts.append("removed " + ", ".join(fmt(v, 80, field) for v in removed))
    if not parts:
        parts.append(f"{fmt(old, field=field)} → {fmt(new, field=field)}")
    return f"{label}: " + "; ".join(parts)
