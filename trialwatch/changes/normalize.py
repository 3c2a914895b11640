"""The normalised view of a study record that comparisons use (snapshots keep the record as
fetched). Strings lose markup escapes and stray whitespace; bookkeeping that changes on every
registry refresh is set apart; the digest ignores list order."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring as _escape
from typing import Any

from trialwatch.changes.match import canon_displayed
from trialwatch.changes.textnorm import display_text

# Bump when normalisation changes, so stored digests are not trusted across versions.
NORMALIZER_VERSION = 4  # 3: escape sequences removed whole; 4: mojibake read back

# Changes on every registry refresh with no edit by the sponsor: never worth a new snapshot.
VOLATILE: tuple[tuple[str, ...], ...] = (("derivedSection", "miscInfoModule", "versionHolder"),)


def normalize_value(value: Any) -> Any:
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, dict):
        return {k: normalize_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_value(v) for v in value]
    return value


def normalize_record(
    record: dict[str, Any], as_served: tuple[tuple[str, ...], ...] = ()
) -> dict[str, Any]:
    """A copy of record with display-normalised text. Idempotent.

    Fields at the paths in ``as_served`` are left as they are (the comparison of a long list
    normalises only the items that differ)."""
    if not as_served:
        result = normalize_value(record)
        assert isinstance(result, dict)
        return result
    out: dict[str, Any] = {}
    for key, value in record.items():
        inner = tuple(p[1:] for p in as_served if p and p[0] == key)
        if any(not p for p in inner):
            out[key] = value
        elif inner and isinstance(value, dict):
            out[key] = normalize_record(value, inner)
        else:
            out[key] = normalize_value(value)
    return out


def _without_volatile(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for path in VOLATILE:
        node: Any = out
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                node = None
                break
            copy = dict(node[key]) if isinstance(node[key], dict) else node[key]
            node[key] = copy
            node = copy
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def digest(record: dict[str, Any]) -> str:
    """A fingerprint of what the record says: equal for records that differ only in markup,
    whitespace, list order or registry refresh bookkeeping."""
    return _sha256(canon_displayed(_without_volatile(record)))


def raw_hash(record: dict[str, Any]) -> str:
    """A cheap fingerprint of the record's exact content (the daily versionHolder aside): when
    it matches the stored one, the record is unchanged without normalising it."""
    text = json.dumps(_without_volatile(record), sort_keys=True, ensure_ascii=False)
    return _sha256(text)


def _sha256(text: str) -> str:
    import hashlib  # a comparison of two files never hashes: `diff` does not pay for it

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compact_json(value: Any) -> str:
    """Deterministic JSON on one line (sorted keys, UTF-8, trailing newline): C-speed."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


# Where orjson's text could differ from json's: a float of magnitude under 1e-4 (json writes
# 1e-05 and 1e-07; orjson 0.00001 and 1e-7), NaN and Infinity (orjson writes null). Large
# floats are written alike (1e+16 by both; test_properties checks every form). Looked for in
# the whole text, strings included (a false match only costs the slower encoder), by byte
# searches, which run at C speed: a regex over every snapshot cost more than orjson's
# encoding, and each search is a pass over the snapshot, so there are no more than needed.
def _orjson_differs(data: bytes) -> bool:
    if b"null" in data or b"0.0000" in data:
        return True
    at = data.find(b"e-")
    while at > 0:  # an exponent follows a digit; "e-" in prose ("re-enrol") follows a letter
        if 0x30 <= data[at - 1] <= 0x39:
            return True
        at = data.find(b"e-", at + 2)
    return False


@functools.cache
def _orjson_dumps() -> Callable[[Any], bytes] | None:
    """orjson's indenting, key-sorting encoder, imported on first use; None without orjson
    (a platform without its wheel: json's text, written by _indent)."""
    try:
        import orjson
    except ImportError:
        return None
    option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    return functools.partial(orjson.dumps, option=option)


def _orjson_text(value: Any, plain_numbers: bool = False) -> bytes | None:
    """orjson's text of value when it is json's, else None. ``plain_numbers``: value holds
    no number orjson writes otherwise (sanitize.NumberWatch read it), so its text is not
    searched for one."""
    dumps = _orjson_dumps()
    if dumps is None:
        return None
    try:
        data = dumps(value)
    except (TypeError, ValueError):  # a lone surrogate, an int over 64 bits, deep nesting
        return None
    return data if plain_numbers or not _orjson_differs(data) else None


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, indent 2, UTF-8, trailing newline: the very text
    ``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)`` writes. orjson writes
    it about fifteen times faster; where its text could differ (a float in exponent form,
    NaN, a number or string it refuses) json's own text is written, by a direct encoder
    twice as fast as json's (json's indenting encoder is a chain of generators)."""
    data = _orjson_text(value)
    if data is not None:
        return data.decode("utf-8")
    out: list[str] = []
    try:
        _indent(value, "", out.append)
    except (TypeError, RecursionError):  # not JSON data as records are: json says what is wrong
        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    out.append("\n")
    return "".join(out)


def canonical_json_bytes(value: Any, plain_numbers: bool = False) -> bytes:
    """canonical_json in UTF-8, without a round trip through text when orjson wrote it.
    ``plain_numbers``: see _orjson_text."""
    data = _orjson_text(value, plain_numbers)
    return data if data is not None else canonical_json(value).encode("utf-8")


def _indent(value: Any, pad: str, put: Callable[[str], Any]) -> None:
    if isinstance(value, str):
        put(_escape(value))
    elif isinstance(value, dict):
        if not value:
            put("{}")
            return
        inner = pad + "  "
        put("{\n" + inner)
        for i, key in enumerate(sorted(value)):  # TypeError for keys that are not all strings
            if not isinstance(key, str):
                raise TypeError("a key that is not a string")
            if i:
                put(",\n" + inner)
            put(_escape(key) + ": ")
            _indent(value[key], inner, put)
        put("\n" + pad + "}")
    elif isinstance(value, list | tuple):
        if not value:
            put("[]")
            return
        inner = pad + "  "
        put("[\n" + inner)
        for i, item in enumerate(value):
            if i:
                put(",\n" + inner)
            _indent(item, inner, put)
        put("\n" + pad + "]")
    elif value is True:
        put("true")
    elif value is False:
        put("false")
    elif value is None:
        put("null")
    elif isinstance(value, int):
        put(int.__repr__(value))
    elif isinstance(value, float):
        # The shortest repr, as json writes it; NaN and Infinity in json's words.
        put(float.__repr__(value) if math.isfinite(value) else json.dumps(value))
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")
