"""Sites: each one matched by its facility and place (a renamed facility at the same place is
one site renamed; a name whose damaged letters were mended, no change), and said as added,
removed, renamed, or changed within (its recruitment status, contacts, address)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.builder import ChangeBuilder, generic
from trialwatch.changes.match import (
    IDENTITY,
    item_label,
    match_items,
    pointer,
    same,
    walk,
)
from trialwatch.changes.normalize import normalize_value
from trialwatch.changes.sentences import (
    fmt,
    get,
)
from trialwatch.changes.textnorm import (
    alike_but_damage,
    fold_key,
    looks_damaged,
    one_line,
    text_key,
)
from trialwatch.changes.words import words
from trialwatch.model import Kind

PS = "protocolSection"
LOCATIONS = (PS, "contactsLocationsModule", "locations")


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


def sites(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
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
