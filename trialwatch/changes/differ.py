"""Compare two study records and say what changed, as :class:`~trialwatch.model.Change` records.

Known fields get sentences a person would write (:mod:`trialwatch.changes.fields`); everything
else goes through the generic fallback (:mod:`trialwatch.changes.builder`) that names the field
and its old and new values, so nothing that changed goes unmentioned."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from trialwatch.changes.builder import ChangeBuilder, generic
from trialwatch.changes.events import detect_events
from trialwatch.changes.fields import STATUS, handlers
from trialwatch.changes.ignore import Rule, hidden_by, parse
from trialwatch.changes.match import memoized, walk
from trialwatch.changes.normalize import VOLATILE, normalize_record
from trialwatch.changes.sentences import get
from trialwatch.changes.sites import LOCATIONS
from trialwatch.model import Category, Change, Event, Kind, Outcome, TrialReport

log = logging.getLogger("trialwatch")

# Long lists the handler for them normalises item by item, only where they differ.
AS_SERVED = (LOCATIONS,)

__all__ = ["Comparison", "compare", "diff_records", "fill"]


@dataclass
class Comparison:
    """Everything found between two versions of a record."""

    changes: list[Change]
    events: list[Event]
    context: list[str]


def compare(
    nct_id: str,
    old: dict[str, Any],
    new: dict[str, Any],
    ignore: Sequence[str] = (),
) -> Comparison:
    """The pipeline: normalise both records, match and diff them field by field, then find the
    events a reader watches for among those field changes.

    ``ignore`` holds field paths, as the JSON report prints them, with wildcards (see
    ``changes.ignore``); changes at or below them are dropped, and events that would explain
    only those with them.
    """
    with memoized():
        try:
            o, n = normalize_record(old, AS_SERVED), normalize_record(new, AS_SERVED)
            changes, context = _diff(nct_id, o, n, ignore)
            changes = [replace(c, id=f"c{i}") for i, c in enumerate(changes, 1)]
            changes, events = detect_events(nct_id, o, n, changes)
            return Comparison(changes, events, context)
        except RecursionError:
            raise  # the caller says "nested too deeply"; nothing here can read it either
        except Exception:
            # A record shape the change model cannot read at all (every handler and detector
            # already falls back on its own): say every field that differs, plainly, rather
            # than hold back this trial's report, or anyone else's.
            log.debug("%s: the change model could not read the record", nct_id, exc_info=True)
            return plain_comparison(nct_id, old, new, ignore)


UNREADABLE = (
    "trialwatch could not read this version of the record in full (a field has a type the "
    "registry does not document); every field that differs is listed as it is"
)


def plain_comparison(
    nct_id: str, old: dict[str, Any], new: dict[str, Any], ignore: Sequence[str] = ()
) -> Comparison:
    """Every field that differs, through the generic fallback alone, on the records as they
    are (no normalising, no matching by identity, no events)."""
    b = ChangeBuilder(nct_id)
    try:
        for raw in walk(old, new):
            generic(b, raw)
    except Exception:
        log.debug("%s: even the plain comparison failed", nct_id, exc_info=True)
        b.changes = []
    changes = b.changes
    if ignore:
        rules = ignore_rules(tuple(ignore))
        changes = [c for c in changes if hidden_by(rules, c) is None]
    if not changes and old != new:
        changes = [
            Change(
                nct_id=nct_id,
                path="",
                label="Record",
                kind=Kind.CHANGED,
                old=None,
                new=None,
                sentence="The record changed in a way trialwatch cannot describe; compare the "
                "two snapshots with trialwatch diff",
                category=Category.OTHER,
            )
        ]
    changes = [replace(c, id=f"c{i}") for i, c in enumerate(changes, 1)]
    return Comparison(changes, [], [UNREADABLE])


def diff_records(
    nct_id: str,
    old: dict[str, Any],
    new: dict[str, Any],
    ignore: Sequence[str] = (),
) -> tuple[list[Change], list[str]]:
    """Every change from old to new, and context lines (registry bookkeeping that moved)."""
    found = compare(nct_id, old, new, ignore)
    return found.changes, found.context


def _diff(
    nct_id: str, o: dict[str, Any], n: dict[str, Any], ignore: Sequence[str]
) -> tuple[list[Change], list[str]]:
    b = ChangeBuilder(nct_id)
    known = handlers()
    claimed = set(VOLATILE).union(*(paths for _, paths in known))
    for handler, paths in known:
        mark = len(b.changes)
        try:
            handler(b, o, n)
        except Exception:
            # A shape the handler does not know (the registry changed a field's type): drop
            # what it said and let the generic fallback report those fields as they are.
            log.debug(
                "%s: %s could not read the record; generic fallback",
                nct_id,
                getattr(handler, "__name__", handler),
                exc_info=True,
            )
            del b.changes[mark:]
            claimed -= paths
    for raw in walk(o, n, skip=lambda s: s in claimed):
        generic(b, raw)
    changes = b.changes
    if ignore:
        rules = ignore_rules(tuple(ignore))
        changes = [c for c in changes if hidden_by(rules, c) is None]
    return changes, _context(o, n)


@functools.lru_cache(maxsize=16)
def ignore_rules(patterns: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(parse(p) for p in patterns)


def _context(o: dict[str, Any], n: dict[str, Any]) -> list[str]:
    lines = []
    old_up = get(o, *STATUS, "lastUpdatePostDateStruct", "date")
    new_up = get(n, *STATUS, "lastUpdatePostDateStruct", "date")
    if old_up != new_up and new_up:
        lines.append(f"registry record updated {old_up or '?'} → {new_up}")
    old_v = get(o, *STATUS, "statusVerifiedDate")
    new_v = get(n, *STATUS, "statusVerifiedDate")
    if old_v != new_v and new_v:
        lines.append(f"status verified {old_v or '?'} → {new_v}")
    return lines


def explain_rules(
    nct_id: str, old: dict[str, Any], new: dict[str, Any], ignore: Sequence[str]
) -> list[str]:
    """What each ignore rule hides between two records: the changes it alone hides (the first
    rule that matches a change takes it), or that it hides nothing and why."""
    from trialwatch.changes.ignore import check, unknown_names

    rules, _ = check(list(ignore))
    if not rules:
        return ["No ignore rules (--ignore or ignore = [...] in the config)."]
    everything = compare(nct_id, old, new)
    hidden: dict[str, list[str]] = {r.text: [] for r in rules}
    for change in everything.changes:
        rule = hidden_by(rules, change)
        if rule is not None:
            hidden[rule.text].append(change.sentence)
    lines = ["Ignore rules:"]
    for rule in rules:
        found = hidden[rule.text]
        if found:
            lines.append(f"  {rule.text!r} hides {len(found)} change{'s' * (len(found) != 1)}:")
            lines.extend(f"    • {s}" for s in found)
            continue
        why = unknown_names(rule)
        reason = f": {', '.join(repr(n) for n in why)} is no field" if why else " here"
        lines.append(f"  {rule.text!r} hides nothing{reason}")
    return lines


def fill(report: TrialReport, found: Comparison, show_admin: bool) -> None:
    """Put what a comparison found into a trial's report: the events a reader should see
    (registry bookkeeping only with ``show_admin``), every material change, and the
    bookkeeping changes an event explains (a results QC step is only in bookkeeping fields)."""
    events = [e for e in found.events if show_admin or not e.silent]
    explained = {i for e in events for i in e.changes}
    report.events = events
    report.changes = [c for c in found.changes if show_admin or c.material or c.id in explained]
    report.context = found.context
    loud = any(c.material for c in found.changes) or any(not e.silent for e in events)
    report.outcome = Outcome.CHANGED if loud else Outcome.UNCHANGED
