"""Handlers for the fields people watch most, each saying its change the way a person would:
status, the three key dates, results, enrollment, eligibility criteria and sites."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from difflib import SequenceMatcher
from functools import partial
from typing import Any

from trialwatch.changes.builder import ChangeBuilder, generic
from trialwatch.changes.criteria import SECTION_NAMES, diff_criteria
from trialwatch.changes.dates import parse_partial, shift
from trialwatch.changes.labels import DATE_FIELDS
from trialwatch.changes.match import (
    IDENTITY,
    Schema,
    item_label,
    match_items,
    pointer,
    same,
    walk,
)
from trialwatch.changes.normalize import normalize_value
from trialwatch.changes.people import CONTACTS, OFFICIALS, PARTY, people
from trialwatch.changes.sentences import (
    fmt,
    get,
    kind_word,
    line_details,
    percent,
    word_change,
)
from trialwatch.changes.textnorm import (
    alike_but_damage,
    display_text,
    fold_key,
    looks_damaged,
    one_line,
    text_key,
)
from trialwatch.changes.words import status_words, words
from trialwatch.model import Kind

PS = "protocolSection"
STATUS = (PS, "statusModule")
LOCATIONS = (PS, "contactsLocationsModule", "locations")
ENROLLMENT = (PS, "designModule", "enrollmentInfo")
CRITERIA = (PS, "eligibilityModule", "eligibilityCriteria")
ADVERSE_EVENTS = ("resultsSection", "adverseEventsModule")
IPD = (PS, "ipdSharingStatementModule")

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
        (_sites, {LOCATIONS}),
        (_adverse_events, {ADVERSE_EVENTS}),
        (people, {OFFICIALS, CONTACTS, PARTY}),
        (_data_sharing, {IPD}),
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


# --- sites -------------------------------------------------------------------------------------


def _site_name(site: dict[str, Any]) -> str:
    parts = [site.get(k) for k in ("facility", "city", "state", "country")]
    return ", ".join(one_line(str(p), 80) for p in parts if p) or "unnamed site"


def _place(site: dict[str, Any]) -> tuple[str, ...] | None:
    """Where a site is, without its name: a renamed facility keeps it."""
    keys = [
        text_key(str(site.get(k) or "")).casefold() for k in ("city", "state", "zip", "country")
    ]
    geo = site.get("geoPoint")
    if isinstance(geo, dict) and geo.get("lat") is not None:
        keys.append(f"{geo.get('lat')},{geo.get('lon')}")
    elif not keys[2]:
        return None  # a city alone does not tell two sites apart
    return tuple(keys) if keys[0] and keys[3] else None


_PLACE_TEXT = ("facility", "city", "state", "country")
MAX_DAMAGE_PAIRS = 20000


def _damaged_alike(
    old: list[Any], new: list[Any], gone: list[int], added: list[int]
) -> list[tuple[int, int]]:
    """Sites left unmatched on both sides that read alike but for damaged letters (the
    registry's "Hă"Pital Foch" for "Hôpital Foch", in the name and the city alike): one site,
    paired only where the pairing is one to one."""

    def alike(a: dict[str, Any], c: dict[str, Any]) -> bool:
        if str(a.get("zip") or "") != str(c.get("zip") or ""):
            return False
        return all(alike_but_damage(str(a.get(k) or ""), str(c.get(k) or "")) for k in _PLACE_TEXT)

    found: dict[int, list[int]] = {}
    if len(gone) * len(added) > MAX_DAMAGE_PAIRS:
        return []  # a list rewritten whole: its sites are said added and removed
    for i in gone:
        if isinstance(old[i], dict) and old[i].get("facility"):
            found[i] = [j for j in added if isinstance(new[j], dict) and alike(old[i], new[j])]
    taken = [j for js in found.values() for j in js]
    return [(i, js[0]) for i, js in found.items() if len(js) == 1 and taken.count(js[0]) == 1]


def _renames(
    old: list[Any], new: list[Any], gone: list[int], added: list[int]
) -> list[tuple[int, int]]:
    """Sites left unmatched on both sides that stand at the same place (same city, zip and
    country, or the same map position): one facility under a new name."""
    by_place: dict[tuple[str, ...], list[int]] = {}
    for j in added:
        key = _place(new[j]) if isinstance(new[j], dict) else None
        if key is not None:
            by_place.setdefault(key, []).append(j)
    pairs = []
    for i in gone:
        key = _place(old[i]) if isinstance(old[i], dict) else None
        if key is None:
            continue
        olds_here = [k for k in gone if isinstance(old[k], dict) and _place(old[k]) == key]
        news_here = by_place.get(key, [])
        # Unambiguous (one left, one came) and named alike: the registry geocodes a site to its
        # city, so two hospitals of one city stand at the same place without being one.
        if (
            len(olds_here) == 1
            and len(news_here) == 1
            and _same_facility(old[i], new[news_here[0]])
        ):
            pairs.append((i, news_here[0]))
    return pairs


# Words every facility name has: they say nothing of which facility it is.
_GENERIC = frozenset(
    {
        "the",
        "of",
        "and",
        "de",
        "la",
        "le",
        "du",
        "des",
        "di",
        "del",
        "y",
        "e",
        "a",
        "at",
        "for",
        "in",
        "hospital",
        "hopital",
        "hôpital",
        "hospitals",
        "university",
        "universitaire",
        "universidad",
        "universita",
        "università",
        "college",
        "medical",
        "medicine",
        "center",
        "centre",
        "centro",
        "clinic",
        "clinica",
        "clinique",
        "clinical",
        "research",
        "institute",
        "instituto",
        "national",
        "general",
        "regional",
        "health",
        "care",
        "healthcare",
        "sciences",
        "science",
        "school",
        "faculty",
        "foundation",
        "fondazione",
        "department",
        "site",
        "investigational",
        "study",
        "trial",
        "inc",
        "llc",
        "ltd",
        "gmbh",
        "st",
        "saint",
        "san",
        "santa",
        "mount",
        "city",
        "county",
        "community",
        "memorial",
        "children",
        "childrens",
        "cancer",
        "oncology",
        "affiliated",
        "first",
        "second",
        "third",
        "people",
        "peoples",
    }
)


def _facility_words(site: dict[str, Any]) -> set[str]:
    """The words of a site's name that name it: not the generic ones, nor its city's."""
    where = " ".join(str(site.get(k) or "") for k in ("city", "state", "country"))
    place = set(re.findall(r"\w+", fold_key(where)))
    words = re.findall(r"\w+", fold_key(site.get("facility")))
    return {
        w for w in words if w not in _GENERIC and w not in place and not w.isdigit() and len(w) > 1
    }


def _is_code(name: Any) -> bool:
    """A site number rather than a name: every word holds a digit ("As0006 125", "Site 0042")."""
    words = [w for w in re.findall(r"\w+", str(name or "")) if w.casefold() not in _GENERIC]
    return bool(words) and all(any(ch.isdigit() for ch in w) for w in words)


def _same_facility(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Could these two sites of one place be one facility (renamed, respelled, a name
    extended)? Their names share a word that names it, or read mostly alike; or one of them is
    a site number given its name."""
    a, b = _facility_words(old), _facility_words(new)
    was, now = old.get("facility"), new.get("facility")
    if a & b or _is_code(was) or _is_code(now):
        return True
    x, y = fold_key(was), fold_key(now)
    return bool(x and y) and SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.75


def _by_place(old: list[Any], new: list[Any]) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Sites paired on their fields as served (facility, city, state, zip, country): the cheap
    first pass that leaves a long list's unchanged sites untouched (not even normalised). A place
    listed twice on a side is paired only with an identical site; the rest is left over."""

    def place(site: Any) -> tuple[Any, ...] | None:
        if not isinstance(site, dict):
            return None
        get_ = site.get
        key = (get_("facility"), get_("city"), get_("state"), get_("zip"), get_("country"))
        try:
            hash(key)  # a list or a table where a text should be: left to the full match
        except TypeError:
            return None
        return key

    old_at: dict[Any, list[int]] = {}
    for i, site in enumerate(old):
        old_at.setdefault(place(site), []).append(i)
    new_at: dict[Any, list[int]] = {}
    for j, site in enumerate(new):
        new_at.setdefault(place(site), []).append(j)
    pairs: list[tuple[int, int]] = []
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for key, olds in old_at.items():
        news = new_at.get(key)
        if key is None or not news:
            continue
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
            taken_old.add(olds[0])
            taken_new.add(news[0])
            continue
        free = list(news)
        for i in olds:
            twin = next((j for j in free if old[i] == new[j]), None)
            if twin is not None:
                free.remove(twin)
                pairs.append((i, twin))
                taken_old.add(i)
                taken_new.add(twin)
    rest_old = [i for i in range(len(old)) if i not in taken_old]
    rest_new = [j for j in range(len(new)) if j not in taken_new]
    return pairs, rest_old, rest_new


def _sites(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    # The comparison leaves this list as served (see differ.compare): sites are normalised
    # here, and only those that differ.
    raw_old = get(o, *LOCATIONS) or []
    raw_new = get(n, *LOCATIONS) or []
    if raw_old == raw_new:
        return
    keys = IDENTITY["locations"]
    old, new = list(raw_old), list(raw_new)
    fast, rest_old, rest_new = _by_place(raw_old, raw_new)
    pairs = []
    for i, j in fast:
        if raw_old[i] == raw_new[j]:
            continue
        old[i], new[j] = normalize_value(raw_old[i]), normalize_value(raw_new[j])
        pairs.append((i, j))
    for i in rest_old:
        old[i] = normalize_value(raw_old[i])
    for j in rest_new:
        new[j] = normalize_value(raw_new[j])
    more, gone_at, added_at = match_items(
        [old[i] for i in rest_old], [new[j] for j in rest_new], keys, pair_leftovers=False
    )
    pairs += [(rest_old[a], rest_new[c]) for a, c in more]
    gone = [rest_old[a] for a in gone_at]
    added = [rest_new[c] for c in added_at]
    if not pairs and not gone and not added:
        return
    renamed = _damaged_alike(old, new, gone, added)
    renamed += _renames(
        old,
        new,
        [i for i in gone if i not in {a for a, _ in renamed}],
        [j for j in added if j not in {c for _, c in renamed}],
    )
    gone = [i for i in gone if i not in {a for a, _ in renamed}]
    added = [j for j in added if j not in {c for _, c in renamed}]
    # Each site that came or went is its own change; the event layer counts them.
    for j in added:
        name = _site_name(new[j])
        b.add(
            (*LOCATIONS, f"[{name}]"),
            Kind.ADDED,
            None,
            new[j],
            f"Site added: {name}",
            schema=LOCATIONS,
            label="Site",
            at=pointer((*LOCATIONS, str(j))),
        )
    for i in gone:
        name = _site_name(old[i])
        b.add(
            (*LOCATIONS, f"[{name}]"),
            Kind.REMOVED,
            old[i],
            None,
            f"Site removed: {name}",
            schema=LOCATIONS,
            label="Site",
            at=pointer((*LOCATIONS, str(i))),
        )
    for i, j in renamed:
        was, now = old[i].get("facility"), new[j].get("facility")
        place = ", ".join(
            one_line(str(new[j][k]), 80) for k in ("city", "state", "country") if new[j].get(k)
        )
        respelled = bool(was and now) and alike_but_damage(str(was), str(now))
        if respelled and (looks_damaged(str(was)) or looks_damaged(str(now))):
            continue  # damaged letters mended (or damaged anew): no change a reader can see
        b.add(
            (*LOCATIONS, f"[{_site_name(new[j])}]", "facility"),
            Kind.CHANGED if was and now else Kind.ADDED if now else Kind.REMOVED,
            was,
            now,
            f"Site name respelled: {fmt(was)} → {fmt(now)} ({place})"
            if respelled
            else f"Site renamed: {fmt(was)} → {fmt(now)} ({place})",
            schema=(*LOCATIONS, "facility"),
            label="Site name spelling" if respelled else "Site name",
            at=pointer((*LOCATIONS, str(j), "facility")),
            material=False if respelled else None,
        )
    # Changes within a site that stayed (or was renamed): its status, contacts, address.
    for i, j in sorted([*pairs, *renamed], key=lambda p: p[1]):
        so, sn = old[i], new[j]
        if same(so, sn):
            continue
        name = _site_name(sn)
        label = f"[{item_label(sn, keys, j)}]"
        at_old, at_new = (*LOCATIONS, str(i)), (*LOCATIONS, str(j))
        if so.get("status") != sn.get("status"):
            was, now = so.get("status"), sn.get("status")
            kind = Kind.CHANGED if was and now else Kind.ADDED if now else Kind.REMOVED
            was_w = words(was, "status") if was else "not given"  # lower case in this field
            now_w = words(now, "status") if now else "not given"
            b.add(
                (*LOCATIONS, label, "status"),
                kind,
                was,
                now,
                f"Site {name}: recruitment status {was_w} → {now_w}",
                schema=(*LOCATIONS, "status"),
                label="Site recruitment status",
                at=pointer((*(at_old if kind is Kind.REMOVED else at_new), "status")),
            )
        said = {(*LOCATIONS, "status")}
        if (i, j) in renamed:
            said.add((*LOCATIONS, "facility"))
        for raw in walk(
            so, sn, (*LOCATIONS, label), LOCATIONS, skip=said.__contains__, at=(at_old, at_new)
        ):
            generic(b, raw, subject=f"Site {name}")


# --- adverse events ----------------------------------------------------------------------------


def group_titles(*groups: Any) -> dict[str, str]:
    """A results table's groups by id ("EG001" → "CZP 200 mg Q2W (SS)"), from each list given
    (the newer last: its title wins)."""
    titles: dict[str, str] = {}
    for items in groups:
        for g in items if isinstance(items, list) else []:
            if isinstance(g, dict) and g.get("id") and isinstance(g.get("title"), str):
                titles[str(g["id"])] = one_line(g["title"], 80) or str(g["id"])
    return titles


def _adverse_events(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    """The safety tables, every field in words as the generic fallback says them, but a
    group named by its title, never by its code ("Glaucoma › CZP 200 mg Q2W (SS)", not
    "Glaucoma › EG001")."""
    old, new = get(o, *ADVERSE_EVENTS), get(n, *ADVERSE_EVENTS)
    if same(old, new):
        return
    titles = group_titles(
        get(o, *ADVERSE_EVENTS, "eventGroups"), get(n, *ADVERSE_EVENTS, "eventGroups")
    )
    for raw in walk(old, new, ADVERSE_EVENTS, ADVERSE_EVENTS):
        path = tuple(
            f"[{titles[p[1:-1]]}]" if p.startswith("[") and p[1:-1] in titles else p
            for p in raw.path
        )
        generic(b, replace(raw, path=path))


# --- data sharing ------------------------------------------------------------------------------


def _data_sharing(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    """One data-sharing decision said first ("IPD sharing: yes → no"), then the documents it
    no longer (or now) shares, then the rest of the statement: not its fields in the order of
    their names."""
    old, new = get(o, *IPD), get(n, *IPD)
    if same(old, new):
        return
    if not isinstance(old, dict) or not isinstance(new, dict) or not old or not new:
        for raw in walk(old, new, IPD, IPD):  # a statement added or removed whole
            generic(b, raw)
        return
    was, now = old.get("ipdSharing"), new.get("ipdSharing")
    said: set[Schema] = set()
    if was != now and (was or now):
        kind = Kind.CHANGED if was and now else Kind.ADDED if now else Kind.REMOVED
        decided = (*IPD, "ipdSharing")
        b.add(
            decided,
            kind,
            was,
            now,
            f"IPD sharing: {words(was, 'ipdSharing') if was else 'not said'} → "
            f"{words(now, 'ipdSharing') if now else 'not said'}",
        )
        said.add(decided)
        types = (*IPD, "infoTypes")
        before = [t for t in old.get("infoTypes") or [] if isinstance(t, str)]
        after = [t for t in new.get("infoTypes") or [] if isinstance(t, str)]
        dropped = [words(t, "infoTypes") for t in before if t not in after]
        added = [words(t, "infoTypes") for t in after if t not in before]
        if dropped or added:
            parts = []
            if dropped:
                parts.append(f"no longer shares {', '.join(dropped)}")
            if added:
                parts.append(f"now shares {', '.join(added)}")
            kind = Kind.CHANGED if before and after else Kind.ADDED if after else Kind.REMOVED
            b.add(types, kind, before or None, after or None, "IPD sharing: " + "; ".join(parts))
            said.add(types)
    for raw in walk(old, new, IPD, IPD, skip=said.__contains__):
        generic(b, raw)
