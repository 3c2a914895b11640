"""Handlers for the fields people watch most, each saying its change the way a person would:
status, the three key dates, results, enrollment and eligibility criteria here; sites
(sites.py), people (people.py), the safety tables and the data-sharing statement
(statements.py) in modules of their own. ``handlers()`` is the list of all of them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from trialwatch.changes.builder import ChangeBuilder
from trialwatch.changes.criteria import SECTION_NAMES, diff_criteria
from trialwatch.changes.dates import parse_partial, shift
from trialwatch.changes.labels import DATE_FIELDS
from trialwatch.changes.match import (
    Schema,
    same,
)
from trialwatch.changes.people import CONTACTS, OFFICIALS, PARTY, people
from trialwatch.changes.sentences import (
    fmt,
    get,
    kind_word,
    line_details,
    percent,
    word_change,
)
from trialwatch.changes.sites import LOCATIONS, sites
from trialwatch.changes.statements import ADVERSE_EVENTS, IPD, adverse_events, data_sharing
from trialwatch.changes.textnorm import (
    display_text,
    one_line,
)
from trialwatch.changes.words import status_words
from trialwatch.model import Kind

PS = "protocolSection"
STATUS = (PS, "statusModule")
ENROLLMENT = (PS, "designModule", "enrollmentInfo")
CRITERIA = (PS, "eligibilityModule", "eligibilityCriteria")

_STOPPED = {"TERMINATED", "SUSPENDED", "WITHDRAWN"}

Handler = Callable[[ChangeBuilder, dict[str, Any], dict[str, Any]], None]


def handlers() -> list[tuple[Handler, set[Schema]]]:
    dates: list[tuple[Handler, set[Schema]]] = [
        (partial(_date, field=f), {(*STATUS, f)}) for f in DATE_FIELDS
    ]
    return [
        (_status, {(*STATUS, k) for k in ("overallStatus", "whyStopped", "lastKnownStatus")}),
        *dates,
        (
            _results,
            {
                (*STATUS, "resultsFirstPostDateStruct"),
                (*STATUS, "resultsFirstSubmitDate"),
                ("hasResults",),
            },
        ),
        (_enrollment, {ENROLLMENT}),
        (_criteria, {CRITERIA}),
        (sites, {LOCATIONS}),
        (adverse_events, {ADVERSE_EVENTS}),
        (people, {OFFICIALS, CONTACTS, PARTY}),
        (data_sharing, {IPD}),
    ]


# --- status ------------------------------------------------------------------------------------


def _status(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old_s, new_s = get(o, *STATUS, "overallStatus"), get(n, *STATUS, "overallStatus")
    old_why, new_why = get(o, *STATUS, "whyStopped"), get(n, *STATUS, "whyStopped")
    why_changed = not same(old_why, new_why)
    path = (*STATUS, "overallStatus")
    if old_s != new_s:
        sentence = f"Overall status {status_words(old_s)} → {status_words(new_s)}"
        if new_why and (why_changed or new_s in _STOPPED):
            sentence += f" — why stopped: {fmt(new_why, 200)}"
        kind = Kind.CHANGED if old_s and new_s else Kind.ADDED if new_s else Kind.REMOVED
        b.add(path, kind, old_s, new_s, sentence, headline=True)
        if why_changed and not new_why:
            b.add(
                (*STATUS, "whyStopped"),
                Kind.REMOVED,
                old_why,
                None,
                f"Why stopped removed (was {fmt(old_why, 200)})",
            )
    elif why_changed:
        kind = Kind.CHANGED if old_why and new_why else Kind.ADDED if new_why else Kind.REMOVED
        if kind is Kind.ADDED:
            sentence = f"Why stopped added: {fmt(new_why, 200)}"
        elif kind is Kind.REMOVED:
            sentence = f"Why stopped removed (was {fmt(old_why, 200)})"
        else:
            sentence = f"Why stopped changed: {fmt(old_why, 200)} → {fmt(new_why, 200)}"
        b.add((*STATUS, "whyStopped"), kind, old_why, new_why, sentence)
    old_l, new_l = get(o, *STATUS, "lastKnownStatus"), get(n, *STATUS, "lastKnownStatus")
    if old_l != new_l:
        kind = Kind.CHANGED if old_l and new_l else Kind.ADDED if new_l else Kind.REMOVED
        b.add(
            (*STATUS, "lastKnownStatus"),
            kind,
            old_l,
            new_l,
            f"Last known status {status_words(old_l)} → {status_words(new_l)}",
        )


# --- dates -------------------------------------------------------------------------------------

_DATE_NAMES = {
    "startDateStruct": "Start date",
    "primaryCompletionDateStruct": "Primary completion",
    "completionDateStruct": "Study completion",
}


def _date(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any], field: str) -> None:
    old, new = get(o, *STATUS, field) or {}, get(n, *STATUS, field) or {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        old, new = {"date": old} if old else {}, {"date": new} if new else {}
    od, nd = old.get("date"), new.get("date")
    ot, nt = old.get("type"), new.get("type")
    if od == nd and ot == nt and same(old, new):
        return
    name = _DATE_NAMES[field]
    path = (*STATUS, field)
    old_v = old or None
    new_v = new or None
    if not od and not nd:
        if not same(old, new):
            b.add(path, Kind.CHANGED, old_v, new_v, f"{name} changed: {fmt(old)} → {fmt(new)}")
        return
    if not od:
        b.add(path, Kind.ADDED, old_v, new_v, f"{name} added: {nd} ({kind_word(nt)})")
        return
    if not nd:
        b.add(path, Kind.REMOVED, old_v, new_v, f"{name} removed (was {od}, {kind_word(ot)})")
        return
    po, pn = parse_partial(od), parse_partial(nd)
    type_part = kind_word(nt) if ot == nt else f"{kind_word(ot)} → {kind_word(nt)}"
    if po is None or pn is None:
        b.add(path, Kind.CHANGED, old_v, new_v, f"{name} changed ({od} → {nd}, {type_part})")
        return
    sign, amount = shift(po, pn)
    became = ""
    if ot != nt and nt == "ACTUAL":
        became = " became actual and"
    elif ot != nt and nt == "ESTIMATED":
        became = " went back to estimated and"
    if sign > 0:
        verb = "slipped" if field != "startDateStruct" else "moved later by"
        sentence = f"{name}{became} {verb} {amount} ({od} → {nd}, {type_part})"
    elif sign < 0:
        sentence = f"{name}{became} moved earlier by {amount} ({od} → {nd}, {type_part})"
    else:
        if od == nd:
            if nt == "ACTUAL":
                sentence = f"{name} became actual ({nd}, unchanged; not a slip)"
            elif nt == "ESTIMATED":
                sentence = f"{name} went back to estimated ({nd}, unchanged)"
            else:
                sentence = f"{name} type changed ({nd}, {type_part})"
        else:
            finer = "more precise" if pn.precision > po.precision else "less precise"
            sentence = f"{name} made {finer} ({od} → {nd}, {type_part}; no slip)"
            if ot != nt and nt == "ACTUAL":
                sentence = f"{name} became actual and {finer} ({od} → {nd}; no slip)"
    b.add(path, Kind.CHANGED, old_v, new_v, sentence, headline=sign != 0 or ot != nt)


# --- results -----------------------------------------------------------------------------------


def _results(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    post_field = (*STATUS, "resultsFirstPostDateStruct")
    old_post, new_post = get(o, *post_field), get(n, *post_field)
    old_has, new_has = bool(get(o, "hasResults")), bool(get(n, "hasResults"))
    old_sub = get(o, *STATUS, "resultsFirstSubmitDate")
    new_sub = get(n, *STATUS, "resultsFirstSubmitDate")
    if not same(old_post, new_post):
        date = get(new_post, "date")
        if new_post and not old_post:
            b.add(post_field, Kind.ADDED, None, new_post, f"Results posted ({date})", headline=True)
        elif old_post and not new_post:
            b.add(
                post_field,
                Kind.REMOVED,
                old_post,
                None,
                f"Results posting withdrawn (was posted {get(old_post, 'date')})",
                headline=True,
            )
        else:
            b.add(
                post_field,
                Kind.CHANGED,
                old_post,
                new_post,
                f"Results first posted date changed ({fmt(old_post)} → {fmt(new_post)})",
            )
    if old_sub != new_sub:
        kind = Kind.CHANGED if old_sub and new_sub else Kind.ADDED if new_sub else Kind.REMOVED
        sentence = (
            f"Results submitted ({new_sub})"
            if kind is Kind.ADDED
            else f"Results first submitted date removed (was {old_sub})"
            if kind is Kind.REMOVED
            else f"Results first submitted date changed ({old_sub} → {new_sub})"
        )
        b.add((*STATUS, "resultsFirstSubmitDate"), kind, old_sub, new_sub, sentence)
    raw_old, raw_new = get(o, "hasResults"), get(n, "hasResults")
    if old_has == new_has and raw_old != raw_new:
        kind = Kind.ADDED if raw_old is None else Kind.REMOVED if raw_new is None else Kind.CHANGED
        b.add(
            ("hasResults",),
            kind,
            raw_old,
            raw_new,
            f"Has results: {fmt(raw_old) if raw_old is not None else 'not given'} → "
            f"{fmt(raw_new) if raw_new is not None else 'not given'}",
        )
    if old_has != new_has:
        if new_has and not new_post and not old_post:
            sentence = "Results posted"
        else:
            sentence = "Has results: yes" if new_has else "Has results: no (results withdrawn)"
        headline = not new_post or not old_has
        b.add(
            ("hasResults",),
            Kind.CHANGED,
            old_has,
            new_has,
            sentence,
            headline=headline and not (new_post and not old_post),
        )


# --- enrollment --------------------------------------------------------------------------------


def _enrollment(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old, new = get(o, *ENROLLMENT) or {}, get(n, *ENROLLMENT) or {}
    if same(old, new):
        return
    oc, nc = old.get("count"), new.get("count")
    ot, nt = old.get("type"), new.get("type")
    old_v, new_v = old or None, new or None
    if oc is None and nc is None:
        b.add(
            ENROLLMENT, Kind.CHANGED, old_v, new_v, f"Enrollment changed: {fmt(old)} → {fmt(new)}"
        )
        return
    if oc is None:
        b.add(ENROLLMENT, Kind.ADDED, old_v, new_v, f"Enrollment added: {nc} ({kind_word(nt)})")
        return
    if nc is None:
        b.add(
            ENROLLMENT,
            Kind.REMOVED,
            old_v,
            new_v,
            f"Enrollment removed (was {oc}, {kind_word(ot)})",
        )
        return
    pct = ""
    if isinstance(oc, int | float) and isinstance(nc, int | float) and oc:
        pct = f"{percent(nc - oc, oc)}%"
    if ot != nt and nt == "ACTUAL":
        if nc == oc:
            sentence = f"Enrollment became actual: {nc} (target met exactly)"
        else:
            rel = "below" if nc < oc else "above"
            sentence = f"Enrollment became actual: {nc} ({pct} {rel} the target of {oc})"
    elif ot == "ACTUAL" and nt == "ESTIMATED":
        # An actual count replaced by an estimate: not a target raised or cut.
        if nc == oc:
            sentence = f"Actual enrollment turned back into an estimate ({nc})"
        else:
            sentence = (
                f"Actual enrollment of {oc} replaced by an estimated {nc} "
                "(an actual count turned back into an estimate)"
            )
    elif nc == oc:
        sentence = f"Enrollment type changed ({nc}, {kind_word(ot)} → {kind_word(nt)})"
    else:
        what = "target" if nt == "ESTIMATED" else "actual enrollment" if nt == "ACTUAL" else ""
        verb = (
            ("cut" if nc < oc else "raised")
            if what == "target"
            else ("lowered" if nc < oc else "raised")
        )
        type_part = kind_word(nt) if ot == nt else f"{kind_word(ot)} → {kind_word(nt)}"
        subject = (
            f"Enrollment {what}".strip() if what != "actual enrollment" else "Actual enrollment"
        )
        amount = f" {pct}" if pct else ""
        sentence = f"{subject} {verb}{amount} ({oc} → {nc}, {type_part})"
    b.add(ENROLLMENT, Kind.CHANGED, old_v, new_v, sentence, headline=True)


# --- eligibility criteria ----------------------------------------------------------------------


def _criteria(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old, new = get(o, *CRITERIA), get(n, *CRITERIA)
    if same(old, new):
        return
    if not old or not new:
        kind = Kind.ADDED if new else Kind.REMOVED
        text = new or old
        count = len([ln for ln in display_text(str(text)).split("\n") if ln.strip()])
        word = "added" if new else "removed"
        b.add(
            CRITERIA,
            kind,
            old,
            new,
            f"Eligibility criteria {word} ({count} lines)",
            details=line_details(str(old or ""), str(new or "")),
        )
        return
    items = diff_criteria(str(old), str(new))
    seen: dict[str, int] = {}
    for item in items:
        section = SECTION_NAMES.get(item.section, item.section.title())
        label = f"{section} criterion"
        if item.kind == "added":
            sentence = f"{label} added: {fmt(item.new, 300)}"
            kind = Kind.ADDED
        elif item.kind == "removed":
            sentence = f"{label} removed: {fmt(item.old, 300)}"
            kind = Kind.REMOVED
        elif item.kind == "moved":
            was = SECTION_NAMES.get(item.old_section or "", "?").lower()
            sentence = f"{label} moved from {was} criteria: {fmt(item.new, 300)}"
            kind = Kind.CHANGED
        else:
            sentence = f"{label} reworded: {word_change(item.old or '', item.new or '')}"
            kind = Kind.CHANGED
        b.add(
            CRITERIA,
            kind,
            item.old,
            item.new,
            sentence,
            label=label,
            item=_criterion_id(seen, f"{section}: {one_line(item.old or item.new or '', 200)}"),
        )
    if not items:
        # Same items, other wording around them (headings, paragraphs): still say it.
        b.add(
            CRITERIA,
            Kind.CHANGED,
            old,
            new,
            "Eligibility criteria text edited (same items)",
            details=line_details(str(old), str(new)),
        )


def _criterion_id(seen: dict[str, int], name: str) -> str:
    """A criterion's identity: its section and text; a text listed twice is told apart by its
    occurrence."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name} (occurrence {seen[name]})"
