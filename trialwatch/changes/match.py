"""A structural diff of two JSON trees that matches list items by identity, not position.

The walker knows nothing of sentences; it yields :class:`RawDiff` leaves that
:mod:`trialwatch.changes.differ` turns into :class:`~trialwatch.model.Change` records.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps(str)'s text
from typing import Any

from trialwatch.changes.textnorm import CACHED_TEXTS, display_text, one_line, text_key
from trialwatch.model import Kind

Schema = tuple[str, ...]

# Identity of list items, by the list's field name: key sets tried in order. A later key set only
# pairs items the earlier ones left unmatched (an outcome whose time frame changed is still the
# same outcome when its measure is unchanged).
IDENTITY: dict[str, list[tuple[str, ...]]] = {
    "locations": [
        # Two sites of one name in one city are told apart by zip and status before position.
        ("facility", "city", "state", "zip", "country", "status"),
        ("facility", "city", "state", "zip", "country"),
        ("facility", "city", "state", "country", "status"),
        ("facility", "city", "state", "country"),
        ("facility", "city", "country"),
        ("facility", "zip", "country"),
        # Sites listed without a facility name (about one in sixteen in the samples) are
        # known by their place alone; "-facility" means the item must have none.
        ("-facility", "city", "state", "zip", "country"),
    ],
    "armGroups": [("label",), ("description",)],
    "interventions": [("type", "name"), ("name",), ("description",)],
    "primaryOutcomes": [("measure", "timeFrame"), ("measure",), ("timeFrame", "description")],
    "secondaryOutcomes": [("measure", "timeFrame"), ("measure",), ("timeFrame", "description")],
    "otherOutcomes": [("measure", "timeFrame"), ("measure",), ("timeFrame", "description")],
    "centralContacts": [("name", "role"), ("name",), ("email",), ("phone",), ("-name", "role")],
    "overallOfficials": [("name", "role"), ("name",)],
    # Some site contacts have no name, only a role and a phone (25 of 216 in the samples).
    "contacts": [("name", "role"), ("name",), ("email",), ("phone",), ("-name", "role")],
    "collaborators": [("name",)],
    "secondaryIdInfos": [("id", "type"), ("id",)],
    "references": [("pmid",), ("citation",)],
    "seeAlsoLinks": [("url",), ("label",)],
    "availIpds": [("type", "id"), ("type",)],
    "largeDocs": [("filename",), ("typeAbbrev", "label")],
    "retractions": [("pmid",)],
}

# For lists the table does not know (results tables, new fields), the first of these keys whose
# values are present and unique on both sides is the identity.
AUTO_KEYS: tuple[str, ...] = (
    "id",
    "groupId",
    "nctId",
    "label",
    "name",
    "title",
    "measure",
    "term",
    "facility",
    "pmid",
    "url",
    "filename",
    "value",
)


@dataclass(frozen=True)
class RawDiff:
    """One difference between two trees: at a leaf, or a whole list item added or removed."""

    path: tuple[str, ...]  # display path: keys, and list items as "[identity]"
    schema: Schema  # the same path without list items: what labels and categories key on
    kind: Kind
    old: Any
    new: Any
    # Where the value is: RFC 6901 pointers into the old and the new record (list items by index).
    old_at: tuple[str, ...] = ()
    new_at: tuple[str, ...] = ()

    @property
    def pointer(self) -> str:
        """Into the new record; into the old one for a removal."""
        return pointer(self.old_at if self.kind is Kind.REMOVED else self.new_at)


def pointer(parts: Sequence[str]) -> str:
    """An RFC 6901 JSON Pointer: ``("a", "b/c", "0")`` → ``/a/b~1c/0``."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def path_segments(path: str) -> tuple[tuple[str, str | None], ...]:
    """A display path in (field, item) pairs: ``a.b[Mayo Clinic, Rochester].c`` →
    ``((a, None), (b, "Mayo Clinic, Rochester"), (c, None))``; an item label may hold dots."""
    out: list[tuple[str, str | None]] = []
    name, label, depth = "", "", 0
    item: str | None = None
    for ch in path:
        if ch == "[":
            depth += 1
            if depth == 1:
                label = ""
                continue
        elif ch == "]":
            depth -= 1
            if depth == 0:
                item = label
                continue
        if depth:
            label += ch
        elif ch == ".":
            if name:
                out.append((name, item))
            name, item = "", None
        else:
            name += ch
    if name:
        out.append((name, item))
    return tuple(out)


def schema_of(path: str) -> Schema:
    """The schema path of a display path: ``a.b[Mayo Clinic, Rochester].c`` → ``(a, b, c)``."""
    return tuple(name for name, _ in path_segments(path))


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


_EMPTY_CANON = frozenset({"{}", "[]", '""', "null"})


# While a diff runs, canonical keys of containers are remembered by identity (the trees do not
# change during a diff; the value is kept alongside so its id cannot be reused).
_memo: dict[int, tuple[Any, str]] | None = None


@contextmanager
def memoized() -> Iterator[None]:
    """Remember canonical keys for the duration of one diff (re-entrant)."""
    global _memo
    if _memo is not None:
        yield
        return
    _memo = {}
    try:
        yield
    finally:
        _memo = None


def forget_texts() -> None:
    """Empty the caches of normalised texts (they help within a comparison; a sync of
    thousands of records would otherwise hold the last CACHED_TEXTS texts of each kind)."""
    for cached in (_quoted, _quoted_displayed, display_text, text_key):
        cached.cache_clear()


def canon(value: Any) -> str:
    """A comparison key for any JSON value: texts by their content, lists as multisets."""
    if _memo is not None and isinstance(value, dict | list):
        hit = _memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        key = _canon_uncached(value)
        _memo[id(value)] = (value, key)
        return key
    return _canon_uncached(value)


@lru_cache(maxsize=CACHED_TEXTS)
def _quoted(text: str) -> str:
    return _json_string(text_key(text))


@lru_cache(maxsize=CACHED_TEXTS)
def _quoted_displayed(text: str) -> str:
    return _quoted(display_text(text))


def canon_displayed(value: Any) -> str:
    """``canon(normalize_value(value))`` in one walk and without the normalised copy: each
    text as display_text makes it, then keyed as canon keys it (the digest's key)."""
    return _canon_of(value, _quoted_displayed, canon_displayed)


def _canon_uncached(value: Any) -> str:
    return _canon_of(value, _quoted, canon)


def _canon_of(value: Any, quoted: Callable[[str], str], inner: Callable[[Any], str]) -> str:
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, dict):
        parts = []
        for k, v in sorted(value.items()):
            c = inner(v)
            if c not in _EMPTY_CANON:
                parts.append(f'"{k}":{c}')
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ",".join(sorted(inner(v) for v in value)) + "]"
    if type(value) is int:
        return int.__repr__(value)  # what json.dumps writes, without its call
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return json.dumps(int(value))
    return json.dumps(value)


def same(old: Any, new: Any) -> bool:
    """True when two values mean the same (text markup, list order and empties aside)."""
    if old == new:
        return True
    if is_empty(old) and is_empty(new):
        return True
    return canon(old) == canon(new)


def _key_value(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...] | None:
    parts: list[str] = []
    for key in keys:
        if key.startswith("-"):
            if not is_empty(item.get(key[1:])):
                return None
            continue
        value = item.get(key)
        if is_empty(value) or isinstance(value, dict | list):
            if len(keys) > 1 and key in ("state", "zip", "role", "type", "id"):
                parts.append("")  # optional part of a composite key
                continue
            return None
        parts.append(text_key(str(value)).casefold())
    if not any(parts):
        return None
    return tuple(parts)


def item_label(item: Any, keys: Sequence[tuple[str, ...]], index: int) -> str:
    """How a list item is named in a path and a sentence."""
    if isinstance(item, dict) and (not keys or keys[0][0] in ("id", "groupId")):
        # A results group is known by its id (EG000) but named by its title.
        for key in ("title", "label", "name"):
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return one_line(value, 80)
    if isinstance(item, dict):
        for keyset in keys:
            # A role, type or status says what kind of item it is, not which one; a zip only
            # tells two sites apart: left out of names.
            named = (
                tuple(
                    k
                    for k in keyset
                    if k not in ("role", "type", "status", "zip", "timeFrame")
                    and not k.startswith("-")
                )
                or keyset
            )
            values = [item.get(k) for k in named]
            shown = [one_line(str(v), 80) for v in values if isinstance(v, str | int) and v != ""]
            if shown and len(shown) == len([v for v in values if not is_empty(v)]):
                return ", ".join(shown)
        for key in AUTO_KEYS:
            value = item.get(key)
            if isinstance(value, str | int) and value != "":
                return one_line(str(value), 80)
        return f"#{index + 1}"
    return one_line(str(item), 80)


def _auto_keys(old: list[Any], new: list[Any]) -> list[tuple[str, ...]]:
    for key in AUTO_KEYS:
        ok = True
        for side in (old, new):
            values = [it.get(key) if isinstance(it, dict) else None for it in side]
            if any(is_empty(v) or isinstance(v, dict | list) for v in values):
                ok = False
                break
            if len({text_key(str(v)).casefold() for v in values}) != len(values):
                ok = False
                break
        if ok:
            return [(key,)]
    return []


def _item_key(item: Any, keys: tuple[str, ...]) -> tuple[str, ...] | None:
    return _key_value(item, keys) if isinstance(item, dict) else None


def match_items(
    old: list[Any], new: list[Any], keys: Sequence[tuple[str, ...]], pair_leftovers: bool
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair old and new list items: by equal content, then by identity keys, then (for lists
    without a known identity) the leftovers in order.

    Returns pairs, unmatched old, unmatched new."""
    # Sets, not lists: taking an item is O(1), so matching n items costs O(n log n) in all.
    free_old = dict.fromkeys(range(len(old)))
    free_new = dict.fromkeys(range(len(new)))
    pairs: list[tuple[int, int]] = []

    def take(keyfn: Callable[[Any], str | tuple[str, ...] | None]) -> None:
        old_by: dict[Any, list[int]] = {}
        for i in free_old:
            k = keyfn(old[i])
            if k is not None:
                old_by.setdefault(k, []).append(i)
        new_by: dict[Any, list[int]] = {}
        for j in free_new:
            k = keyfn(new[j])
            if k is not None:
                new_by.setdefault(k, []).append(j)
        for k, olds in old_by.items():
            news = new_by.get(k)
            if not news:
                continue
            # Equal keys that repeat are paired in order.
            for i, j in zip(olds, news, strict=False):
                pairs.append((i, j))
                del free_old[i]
                del free_new[j]

    take(canon)  # identical items first: cheap and never wrong
    for keyset in keys:
        if not free_old or not free_new:
            break
        take(partial(_item_key, keys=keyset))
    gone, added = sorted(free_old), sorted(free_new)
    if pair_leftovers and gone and added and len(gone) == len(added):
        pairs.extend(zip(gone, added, strict=True))
        gone, added = [], []
    pairs.sort(key=lambda p: p[1])
    return pairs, gone, added


def _scalar_list(value: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) for v in value)


def walk(
    old: Any,
    new: Any,
    path: tuple[str, ...] = (),
    schema: Schema = (),
    skip: Callable[[Schema], bool] | None = None,
    at: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> Iterator[RawDiff]:
    """Yield every difference between old and new below path. ``at`` holds the pointer parts
    of old and new (by default the path, when it holds no list items)."""
    if at is None:
        at = (path, path)
    if old is new or old == new:
        return
    if skip is not None and skip(schema):
        return
    old_empty, new_empty = is_empty(old), is_empty(new)
    if old_empty and new_empty:
        return
    if old_empty:
        if canon(new) not in _EMPTY_CANON:
            yield RawDiff(path, schema, Kind.ADDED, None, new, *at)
        return
    if new_empty:
        if canon(old) not in _EMPTY_CANON:
            yield RawDiff(path, schema, Kind.REMOVED, old, None, *at)
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from walk(
                old.get(key),
                new.get(key),
                (*path, key),
                (*schema, key),
                skip,
                ((*at[0], key), (*at[1], key)),
            )
        return
    if isinstance(old, list) and isinstance(new, list):
        if _scalar_list(old) and _scalar_list(new):
            if Counter(map(canon, old)) != Counter(map(canon, new)):
                yield RawDiff(path, schema, Kind.CHANGED, old, new, *at)
            return
        yield from _walk_list(old, new, path, schema, skip, at)
        return
    if not same(old, new):
        yield RawDiff(path, schema, Kind.CHANGED, old, new, *at)


def identity_for(
    schema: Schema, old: list[Any], new: list[Any]
) -> tuple[list[tuple[str, ...]], bool]:
    """Identity keys for a list, and whether leftovers may be paired in order."""
    name = schema[-1] if schema else ""
    if name in IDENTITY:
        return IDENTITY[name], False
    return _auto_keys(old, new), True


def _walk_list(
    old: list[Any],
    new: list[Any],
    path: tuple[str, ...],
    schema: Schema,
    skip: Callable[[Schema], bool] | None,
    at: tuple[tuple[str, ...], tuple[str, ...]],
) -> Iterator[RawDiff]:
    keys, pair_leftovers = identity_for(schema, old, new)
    pairs, gone, added = match_items(old, new, keys, pair_leftovers)
    for i in gone:
        yield RawDiff(
            (*path, f"[{item_label(old[i], keys, i)}]"),
            schema,
            Kind.REMOVED,
            old[i],
            None,
            (*at[0], str(i)),
            at[1],
        )
    for i, j in pairs:
        if same(old[i], new[j]):
            continue
        # Name a changed item by the identity both sides share (the measure, not the new
        # time frame, of an outcome whose time frame moved).
        shared = (
            [
                ks
                for ks in keys
                if _key_value(old[i], ks) is not None
                and _key_value(old[i], ks) == _key_value(new[j], ks)
            ]
            if isinstance(old[i], dict) and isinstance(new[j], dict)
            else []
        )
        label = f"[{item_label(new[j], shared or keys, j)}]"
        yield from walk(
            old[i], new[j], (*path, label), schema, skip, ((*at[0], str(i)), (*at[1], str(j)))
        )
    for j in added:
        yield RawDiff(
            (*path, f"[{item_label(new[j], keys, j)}]"),
            schema,
            Kind.ADDED,
            None,
            new[j],
            at[0],
            (*at[1], str(j)),
        )
