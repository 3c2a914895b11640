"""Compare two study records and say what changed, as :class:`~trialwatch.model.Change` records.

Known fields get sentences a person would write (status, the key dates, enrollment, criteria,
sites, results); everything else goes through a generic fallback that names the field and its old
and new values, so nothing that changed goes unmentioned."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from difflib import SequenceMatcher
from functools import partial
from typing import Any

from trialwatch.criteria import SECTION_NAMES, diff_criteria
from trialwatch.dates import parse_partial, shift
from trialwatch.labels import DATE_FIELDS, category_for, field_label, humanize, is_admin
from trialwatch.model import Category, Change, Kind
from trialwatch.normalize import VOLATILE, normalize_record
from trialwatch.textnorm import display_text, one_line
from trialwatch.walk import (
    IDENTITY,
    RawDiff,
    Schema,
    is_empty,
    item_label,
    match_items,
    memoized,
    schema_of,
    walk,
)

log = logging.getLogger("trialwatch")

PS = "protocolSection"
STATUS = (PS, "statusModule")
LOCATIONS = (PS, "contactsLocationsModule", "locations")
ENROLLMENT = (PS, "designModule", "enrollmentInfo")
CRITERIA = (PS, "eligibilityModule", "eligibilityCriteria")

_STOPPED = {"TERMINATED", "SUSPENDED", "WITHDRAWN"}

# Fields whose handlers below speak for them; the generic walker leaves them alone.
CLAIMED: set[Schema] = {
    (*STATUS, "overallStatus"),
    (*STATUS, "whyStopped"),
    (*STATUS, "lastKnownStatus"),
    *((*STATUS, f) for f in DATE_FIELDS),
    (*STATUS, "resultsFirstPostDateStruct"),
    (*STATUS, "resultsFirstSubmitDate"),
    ("hasResults",),
    ENROLLMENT,
    CRITERIA,
    LOCATIONS,
    *VOLATILE,
}


Handler = Callable[["_Builder", dict[str, Any], dict[str, Any]], None]


def _handlers() -> list[tuple[Handler, set[Schema]]]:
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
        (_sites, {LOCATIONS}),
    ]


def get(record: Any, *path: str) -> Any:
    node = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def dotted(path: Iterable[str]) -> str:
    out = ""
    for part in path:
        out += part if part.startswith("[") or not out else "." + part
    return out


def fmt(value: Any, limit: int = 120) -> str:
    """A value as it reads in a sentence."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        text = one_line(value, limit)
        return text if _is_code(text) else f"“{text}”"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) and abs(value) >= 10000 else str(value)
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ", ".join(fmt(v, 60) for v in value) or "none"
        names = [item_label(v, [], i) for i, v in enumerate(value[:5])]
        more = f" and {len(value) - 5} more" if len(value) > 5 else ""
        return ", ".join(names) + more
    if isinstance(value, dict):
        parts = [
            f"{humanize(k)} {fmt(v, 60)}"
            for k, v in value.items()
            if not isinstance(v, dict | list) and not is_empty(v)
        ]
        text = "; ".join(parts[:4]) or f"{len(value)} fields"
        return text if len(parts) <= 4 else text + "; …"
    return one_line(str(value), limit)


_NUMBER = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?%?$")


def _is_code(text: str) -> bool:
    """Enum values, dates and numbers read best unquoted."""
    if not text or " " in text:
        return False
    return text.replace("_", "").isupper() or text[:4].isdigit() or bool(_NUMBER.match(text))


class _Builder:
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
    ) -> None:
        sch = tuple(schema if schema is not None else [p for p in path if not p.startswith("[")])
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
            )
        )


def diff_records(
    nct_id: str,
    old: dict[str, Any],
    new: dict[str, Any],
    ignore: Sequence[str] = (),
) -> tuple[list[Change], list[str]]:
    """Every change from old to new, and context lines (registry bookkeeping that moved).

    ``ignore`` holds dotted field paths (``protocolSection.contactsLocationsModule``); changes at
    or below them are dropped.
    """
    with memoized():
        return _diff(nct_id, normalize_record(old), normalize_record(new), ignore)


def _diff(
    nct_id: str, o: dict[str, Any], n: dict[str, Any], ignore: Sequence[str]
) -> tuple[list[Change], list[str]]:
    b = _Builder(nct_id)
    claimed = set(CLAIMED)
    for handler, paths in _handlers():
        mark = len(b.changes)
        try:
            handler(b, o, n)
        except (TypeError, ValueError, AttributeError, KeyError):
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
        _generic(b, raw)
    changes = b.changes
    if ignore:
        prefixes = [tuple(p.split(".")) for p in ignore]
        changes = [
            c for c in changes if not any(schema_of(c.path)[: len(p)] == p for p in prefixes)
        ]
    return changes, _context(o, n)


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


# --- status ------------------------------------------------------------------------------------


def _status(b: _Builder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old_s, new_s = get(o, *STATUS, "overallStatus"), get(n, *STATUS, "overallStatus")
    old_why, new_why = get(o, *STATUS, "whyStopped"), get(n, *STATUS, "whyStopped")
    why_changed = not _same_text(old_why, new_why)
    path = (*STATUS, "overallStatus")
    if old_s != new_s:
        sentence = f"Overall status {old_s or 'none'} → {new_s or 'none'}"
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
            f"Last known status {old_l or 'none'} → {new_l or 'none'}",
        )


def _same_text(a: Any, b: Any) -> bool:
    from trialwatch.walk import same

    return same(a, b)


# --- dates -------------------------------------------------------------------------------------

_DATE_NAMES = {
    "startDateStruct": "Start date",
    "primaryCompletionDateStruct": "Primary completion",
    "completionDateStruct": "Study completion",
}


def _kind_word(t: Any) -> str:
    return str(t).lower() if t else "type not given"


def _date(b: _Builder, o: dict[str, Any], n: dict[str, Any], field: str) -> None:
    old, new = get(o, *STATUS, field) or {}, get(n, *STATUS, field) or {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        old, new = {"date": old} if old else {}, {"date": new} if new else {}
    od, nd = old.get("date"), new.get("date")
    ot, nt = old.get("type"), new.get("type")
    if od == nd and ot == nt and _same_text(old, new):
        return
    name = _DATE_NAMES[field]
    path = (*STATUS, field)
    old_v = old or None
    new_v = new or None
    if not od and not nd:
        if not _same_text(old, new):
            b.add(path, Kind.CHANGED, old_v, new_v, f"{name} changed: {fmt(old)} → {fmt(new)}")
        return
    if not od:
        b.add(path, Kind.ADDED, old_v, new_v, f"{name} added: {nd} ({_kind_word(nt)})")
        return
    if not nd:
        b.add(path, Kind.REMOVED, old_v, new_v, f"{name} removed (was {od}, {_kind_word(ot)})")
        return
    po, pn = parse_partial(od), parse_partial(nd)
    type_part = _kind_word(nt) if ot == nt else f"{_kind_word(ot)} → {_kind_word(nt)}"
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


def _results(b: _Builder, o: dict[str, Any], n: dict[str, Any]) -> None:
    post_field = (*STATUS, "resultsFirstPostDateStruct")
    old_post, new_post = get(o, *post_field), get(n, *post_field)
    old_has, new_has = bool(get(o, "hasResults")), bool(get(n, "hasResults"))
    old_sub = get(o, *STATUS, "resultsFirstSubmitDate")
    new_sub = get(n, *STATUS, "resultsFirstSubmitDate")
    if not _same_text(old_post, new_post):
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


def _enrollment(b: _Builder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old, new = get(o, *ENROLLMENT) or {}, get(n, *ENROLLMENT) or {}
    if _same_text(old, new):
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
        b.add(ENROLLMENT, Kind.ADDED, old_v, new_v, f"Enrollment added: {nc} ({_kind_word(nt)})")
        return
    if nc is None:
        b.add(
            ENROLLMENT,
            Kind.REMOVED,
            old_v,
            new_v,
            f"Enrollment removed (was {oc}, {_kind_word(ot)})",
        )
        return
    pct = ""
    if isinstance(oc, int | float) and isinstance(nc, int | float) and oc:
        pct = f"{round(abs(nc - oc) / oc * 100)}%"
    if ot != nt and nt == "ACTUAL":
        if nc == oc:
            sentence = f"Enrollment became actual: {nc} (target met exactly)"
        else:
            rel = "below" if nc < oc else "above"
            sentence = f"Enrollment became actual: {nc} ({pct} {rel} the target of {oc})"
    elif nc == oc:
        sentence = f"Enrollment type changed ({nc}, {_kind_word(ot)} → {_kind_word(nt)})"
    else:
        what = "target" if nt == "ESTIMATED" else "actual enrollment" if nt == "ACTUAL" else ""
        verb = (
            ("cut" if nc < oc else "raised")
            if what == "target"
            else ("lowered" if nc < oc else "raised")
        )
        type_part = _kind_word(nt) if ot == nt else f"{_kind_word(ot)} → {_kind_word(nt)}"
        subject = (
            f"Enrollment {what}".strip() if what != "actual enrollment" else "Actual enrollment"
        )
        amount = f" {pct}" if pct else ""
        sentence = f"{subject} {verb}{amount} ({oc} → {nc}, {type_part})"
    b.add(ENROLLMENT, Kind.CHANGED, old_v, new_v, sentence, headline=True)


# --- eligibility criteria ----------------------------------------------------------------------


def _criteria(b: _Builder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old, new = get(o, *CRITERIA), get(n, *CRITERIA)
    if _same_text(old, new):
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
            details=_line_details(str(old or ""), str(new or "")),
        )
        return
    items = diff_criteria(str(old), str(new))
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
            sentence = f"{label} reworded: {fmt(item.old, 300)} → {fmt(item.new, 300)}"
            kind = Kind.CHANGED
        b.add(CRITERIA, kind, item.old, item.new, sentence, label=label)
    if not items:
        # Same items, other wording around them (headings, paragraphs): still say it.
        b.add(
            CRITERIA,
            Kind.CHANGED,
            old,
            new,
            "Eligibility criteria text edited (same items)",
            details=_line_details(str(old), str(new)),
        )


# --- sites -------------------------------------------------------------------------------------


def _site_name(site: dict[str, Any]) -> str:
    parts = [site.get(k) for k in ("facility", "city", "state", "country")]
    return ", ".join(one_line(str(p), 80) for p in parts if p) or "unnamed site"


def _sites(b: _Builder, o: dict[str, Any], n: dict[str, Any]) -> None:
    old = get(o, *LOCATIONS) or []
    new = get(n, *LOCATIONS) or []
    if _same_text(old, new):
        return
    keys = IDENTITY["locations"]
    pairs, gone, added = match_items(old, new, keys, pair_leftovers=False)
    if gone or added:
        parts = []
        if added:
            parts.append(f"+{len(added)} site{'s' if len(added) != 1 else ''}")
        if gone:
            parts.append(f"−{len(gone)} site{'s' if len(gone) != 1 else ''}")
        names = [_site_name(old[i]) for i in gone][:3] if gone else []
        if not names:
            names = [_site_name(new[j]) for j in added][:3]
        more = (len(gone) if gone else len(added)) - len(names)
        shown = "; ".join(names) + (f"; and {more} more" if more > 0 else "")
        sentence = f"{', '.join(parts)} ({shown})"
        details = [f"+ {_site_name(new[j])}" for j in added] + [
            f"− {_site_name(old[i])}" for i in gone
        ]
        b.add(
            LOCATIONS,
            Kind.CHANGED,
            [old[i] for i in gone] or None,
            [new[j] for j in added] or None,
            sentence,
            label="Sites",
            details=details,
            headline=True,
        )
    # Changes within a site that stayed: recruitment status grouped when many sites moved alike.
    status_moves: dict[tuple[Any, Any], list[str]] = {}
    for i, j in pairs:
        so, sn = old[i], new[j]
        name = _site_name(sn)
        label = f"[{item_label(sn, keys, j)}]"
        if so.get("status") != sn.get("status"):
            status_moves.setdefault((so.get("status"), sn.get("status")), []).append(name)
        for raw in walk(
            so, sn, (*LOCATIONS, label), LOCATIONS, skip=lambda s: s == (*LOCATIONS, "status")
        ):
            _generic(b, raw, subject=f"Site {name}")
    for (was, now), names in status_moves.items():
        kind = Kind.CHANGED if was and now else Kind.ADDED if now else Kind.REMOVED
        if len(names) == 1:
            sentence = (
                f"Site {names[0]}: recruitment status {was or 'not given'} → {now or 'not given'}"
            )
            path: tuple[str, ...] = (*LOCATIONS, f"[{names[0]}]", "status")
        else:
            sentence = (
                f"{len(names)} sites: recruitment status {was or 'not given'} → "
                f"{now or 'not given'}"
            )
            path = (*LOCATIONS, "status")
        b.add(
            path,
            kind,
            was,
            now,
            sentence,
            schema=(*LOCATIONS, "status"),
            label="Site recruitment status",
            details=names if len(names) > 1 else (),
        )


# --- everything else ---------------------------------------------------------------------------


def _line_details(old: str, new: str) -> list[str]:
    """Lines (or sentences, for one-paragraph texts) removed and added."""

    def units(text: str) -> list[str]:
        lines = [ln for ln in display_text(text).split("\n") if ln.strip()]
        if len(lines) <= 2:
            import re

            lines = [s for s in re.split(r"(?<=[.!?;])\s+", " ".join(lines)) if s.strip()]
        return lines

    a, c = units(old), units(new)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, c, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            out.extend(f"− {line}" for line in a[i1:i2])
        if tag in ("replace", "insert"):
            out.extend(f"+ {line}" for line in c[j1:j2])
    return out


def _is_long_text(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > 120 or "\n" in value)


def _generic(b: _Builder, raw: RawDiff, subject: str | None = None) -> None:
    schema = raw.schema
    label = field_label(schema)
    is_item = bool(raw.path) and raw.path[-1].startswith("[")
    prefix = subject or _owner(raw, len(raw.path) - 1 if is_item else len(raw.path))
    if is_item:
        name = raw.path[-1][1:-1]
        what = f"{prefix}: {label.lower()}" if prefix else label
        if raw.kind is Kind.ADDED:
            sentence = f"{what} added: {name}"
        else:
            sentence = f"{what} removed: {name}"
        b.add(raw.path, raw.kind, raw.old, raw.new, sentence, schema=schema, label=label)
        return
    leaf = label if prefix is None else f"{prefix}: {_leaf_label(schema)}"
    sep = ":" if prefix is None else ""
    details: list[str] = []
    if raw.kind is Kind.ADDED:
        sentence = f"{leaf} added: {fmt(raw.new)}"
    elif raw.kind is Kind.REMOVED:
        sentence = f"{leaf} removed (was {fmt(raw.old)})"
    elif isinstance(raw.old, list) and isinstance(raw.new, list):
        sentence = _list_sentence(leaf, raw.old, raw.new)
    elif _is_long_text(raw.old) or _is_long_text(raw.new):
        details = _line_details(str(raw.old), str(raw.new))
        removed = sum(1 for d in details if d.startswith("−"))
        added = sum(1 for d in details if d.startswith("+"))
        sentence = f"{leaf} edited ({_counted(removed, 'passage')} replaced by {added})"
        if not removed:
            sentence = f"{leaf} edited ({_counted(added, 'passage')} added)"
        elif not added:
            sentence = f"{leaf} edited ({_counted(removed, 'passage')} removed)"
    else:
        sentence = f"{leaf}{sep} {fmt(raw.old, 300)} → {fmt(raw.new, 300)}"
    b.add(raw.path, raw.kind, raw.old, raw.new, sentence, schema=schema, details=details)


def _counted(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
    from trialwatch.labels import _LABELS, humanize

    last = schema[-1] if schema else ""
    return _LABELS.get(last, humanize(last)).lower()


def _list_sentence(label: str, old: list[Any], new: list[Any]) -> str:
    from trialwatch.walk import _canon

    old_keys = [_canon(v) for v in old]
    new_keys = [_canon(v) for v in new]
    added = [v for v, k in zip(new, new_keys, strict=True) if k not in old_keys]
    removed = [v for v, k in zip(old, old_keys, strict=True) if k not in new_keys]
    if len(old) == 1 and len(new) == 1:
        return f"{label}: {fmt(old[0])} → {fmt(new[0])}"
    parts = []
    if added:
        parts.append("added " + ", ".join(fmt(v, 80) for v in added))
    if removed:
        parts.append("removed " + ", ".join(fmt(v, 80) for v in removed))
    if not parts:
        parts.append(f"{fmt(old)} → {fmt(new)}")
    return f"{label}: " + "; ".join(parts)
