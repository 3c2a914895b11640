"""Ignore rules: which changes a user never wants reported.

A rule is a field path, written as the JSON report prints ``path`` or ``pointer``, with
wildcards:

- ``protocolSection.contactsLocationsModule`` — that field and everything below it;
- ``contactsLocationsModule.locations.contacts`` — a path may start at any field, and a list
  item need not be named: this is every site's contacts;
- ``*.contacts`` — ``*`` is any one field name; a leading ``*`` means "at any depth";
- ``locations[*].contacts`` — every item; ``locations[Mayo Clinic, Rochester, United States]``
  — that item only (its identity as the report prints it);
- ``/protocolSection/contactsLocationsModule/locations/0`` — a JSON Pointer from the report
  (``*`` for any segment).

A rule that names no field of a study record is a warning (an error with ``--strict``), with
the nearest field names, so a typo never silently hides nothing."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trialwatch.changes.match import path_segments
from trialwatch.errors import InputError
from trialwatch.model import Change

Segment = tuple[str, str | None]  # (field name or "*", item label, "*" or None)
_SEGMENT = re.compile(r"([^.\[\]]+)(?:\[([^\]]*)\])?")


@dataclass(frozen=True, slots=True)
class Rule:
    text: str
    segments: tuple[Segment, ...]
    anchored: bool  # a pointer, or a path written from protocolSection/derivedSection…
    pointer: bool = False

    def matches(self, change: Change) -> bool:
        if self.pointer:
            return _pointer_match(self.segments, change.pointer)
        path = path_segments(change.path)
        if self.anchored:
            return _match_at(self.segments, path, 0)
        return any(_match_at(self.segments, path, i) for i in range(len(path)))


def _segment_ok(rule: Segment, seg: Segment) -> bool:
    name, label = rule
    if name != "*" and name != seg[0]:
        return False
    return label is None or label == "*" or label == seg[1]


def _match_at(rule: Sequence[Segment], path: Sequence[Segment], start: int) -> bool:
    if start + len(rule) > len(path):
        return False
    return all(_segment_ok(r, path[start + k]) for k, r in enumerate(rule))


def _pointer_match(rule: Sequence[Segment], pointer: str) -> bool:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if len(rule) > len(parts):
        return False
    return all(r[0] in ("*", p) for r, p in zip(rule, parts, strict=False))


ROOTS = {
    "protocolSection",
    "resultsSection",
    "annotationSection",
    "derivedSection",
    "documentSection",
}


def parse(text: str) -> Rule:
    raw = text.strip()
    if not raw:
        raise InputError("an empty ignore pattern ignores nothing; remove it")
    if raw.startswith("/"):
        parts = [p for p in raw.split("/")[1:] if p != ""]
        return Rule(raw, tuple((p, None) for p in parts), anchored=True, pointer=True)
    segments: list[Segment] = []
    for piece in path_segments(raw):
        match = _SEGMENT.fullmatch(piece[0])
        if match is None:
            raise InputError(f"ignore pattern {raw!r}: {piece[0]!r} is not a field name")
        segments.append((piece[0], piece[1]))
    anchored = bool(segments) and segments[0][0] in ROOTS
    floating = bool(segments) and segments[0][0] in ("*", "**")
    if floating:  # "*.contacts": at any depth
        segments = segments[1:]
        anchored = False
        if not segments:
            raise InputError(f"ignore pattern {raw!r} would hide every change")
    return Rule(raw, tuple(segments), anchored)


@functools.cache
def field_names() -> frozenset[str]:
    # Imported here: importlib.resources brings tempfile and random, about 4 ms of every
    # command's start, and only a rule's check needs the list.
    from importlib import resources

    text = resources.files("trialwatch.changes").joinpath("fieldnames.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def unknown_names(rule: Rule) -> list[str]:
    """The names in a rule that are no field of a study record (list indices are fine)."""
    known = field_names()
    return [
        name
        for name, _ in rule.segments
        if name != "*" and not name.isdigit() and name not in known
    ]


def check(patterns: Iterable[str]) -> tuple[list[Rule], list[str]]:
    """The rules, and a warning for each that names no field of a study record."""
    rules, warnings = [], []
    for text in patterns:
        rule = parse(text)
        rules.append(rule)
        for name in unknown_names(rule):
            near = difflib.get_close_matches(name, field_names(), n=2, cutoff=0.75)
            hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            warnings.append(
                f"ignore pattern {rule.text!r}: {name!r} is no field of a study record{hint}; "
                "it hides nothing"
            )
    return rules, warnings


def hidden_by(rules: Sequence[Rule], change: Change) -> Rule | None:
    return next((r for r in rules if r.matches(change)), None)
