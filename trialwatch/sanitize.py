"""Registry text is untrusted. One place makes it safe, for storing and for every output.

Records: lone surrogates (``\\ud800`` in the JSON) are replaced by U+FFFD, deterministically, so
the same record always gives the same snapshot bytes; nesting deeper than any study record is
refused before anything recursive sees it.

Output: :func:`terminal` (C0, C1, escape sequences, bidi controls removed), :func:`markdown`
(inert: no HTML, images, links, headings, comments or table breaks), :func:`html_text`
(escaped), :func:`header` (one line, no CR/LF) and :func:`json_safe` (controls and bidi
characters written as ``\\u`` escapes with four hex digits, as the README documents).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

# Study records nest about 8 levels deep; anything past this is not a study record.
MAX_DEPTH = 64

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
# C0 and C1 controls other than newline and tab, DEL, the bidirectional formatting characters
# that can make text read differently from what it is, and the noncharacters U+FFFE and U+FFFF
# (XML 1.0 forbids them: a feed holding one is dropped whole by its readers).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)
# What json.dumps leaves raw inside strings (it escapes C0 itself).
_JSON_RAW = re.compile(
    r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufffe\uffff]"
)
# An escape sequence (CSI, OSC, …) whose ESC was removed would leave its body behind as text;
# remove whole sequences first.
_ESCAPE_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI … final byte
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC … BEL or ST
    # The 8-bit OSC only with its terminator: a lone U+009D is more often mojibake (the last
    # byte of a UTF-8 quote read as Latin-1) than a sequence, and only it is removed then.
    r"|\x9d[^\x07\x1b\x9c\s]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+!|~&])")


class RecordShapeError(ValueError):
    """A record that cannot be a study record (too deeply nested)."""


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def repair_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def repair_strings(value: Any) -> Any:
    """value with every lone surrogate (in keys and strings) replaced by U+FFFD, in place where
    it is a container; iterative, so no depth can overflow the stack."""
    stack: list[Any] = [value]
    if isinstance(value, str):
        return repair_text(value)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                item = node[key]
                if isinstance(item, str):
                    item = repair_text(item)
                    node[key] = item
                elif isinstance(item, dict | list):
                    stack.append(item)
                if isinstance(key, str) and has_surrogates(key):
                    node[repair_text(key)] = node.pop(key)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = repair_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value


def needs_repair(json_text: str | bytes) -> bool:
    """Could parsing this JSON text (or its UTF-8) give a lone surrogate? (Only a
    ``\\uD8xx``-style escape can.)"""
    if isinstance(json_text, bytes):
        return _SURROGATE_ESCAPE_BYTES.search(json_text) is not None
    return _SURROGATE_ESCAPE.search(json_text) is not None


_NESTS = (dict, list)


def depth(value: Any) -> int:
    """How deeply containers nest in value, counted without recursion: a level at a time, so
    a record costs one pass over its values and no bookkeeping per value. A value's type is
    looked at before isinstance (JSON's dicts, lists and strings are those types exactly):
    three times faster on a record."""
    level, frontier = 0, [value] if isinstance(value, dict | list) else []
    while frontier:
        level += 1
        if level > MAX_DEPTH:
            return level
        below: list[Any] = []
        keep = below.append
        for node in frontier:
            for item in node.values() if isinstance(node, dict) else node:
                kind = type(item)
                if kind is dict or kind is list or (kind is not str and isinstance(item, _NESTS)):
                    keep(item)
        frontier = below
    return level


# A line of orjson's indented text that starts this far in holds the members of a container
# MAX_DEPTH levels down: only a value with such a line can nest deeper than MAX_DEPTH.
_DEEP_LINE = b"\n" + b" " * (2 * MAX_DEPTH)


@functools.cache
def _indented() -> Callable[[Any], bytes] | None:
    try:
        import orjson
    except ImportError:  # a platform without orjson's wheel: the walk alone
        return None
    return functools.partial(orjson.dumps, option=orjson.OPT_INDENT_2)


def shallow(value: Any) -> bool:
    """Whether value certainly nests no deeper than MAX_DEPTH, told from orjson's indented
    text (C speed, a quarter of the walk's time on a record): a container MAX_DEPTH + 1
    levels down sits in a non-empty one MAX_DEPTH down, whose members are written on lines
    indented 2 × MAX_DEPTH spaces, and JSON text holds no other newline (a string's is
    escaped). False also when orjson cannot write value (an integer past 64 bits, a lone
    surrogate, nesting past orjson's own limit): the walk then decides."""
    dumps = _indented()
    if dumps is None:
        return False
    try:
        return _DEEP_LINE not in dumps(value)
    except (TypeError, ValueError):
        return False


def check_depth(value: Any, indented: bytes | None = None, within: int = 0) -> None:
    """RecordShapeError when value nests deeper than MAX_DEPTH. ``indented``: JSON text with
    a 2-space indent of a value holding this one ``within`` levels down (a snapshot's text
    holds its record one level down), already made: it answers as shallow() does, from its
    lines, with no text made for the question."""
    if indented is not None:
        if b"\n" + b" " * (2 * (MAX_DEPTH + within)) not in indented:
            return
    elif shallow(value):
        return
    level = depth(value)
    if level > MAX_DEPTH:
        raise RecordShapeError(
            f"the record nests more than {MAX_DEPTH} levels deep, which no study record does"
        )


def loads(text: str | bytes) -> Any:
    """json.loads, with surrogates repaired and depth bounded (RecordShapeError, ValueError)."""
    return read_json(text)[0]


def read_json(text: str | bytes, checked: bool = True) -> tuple[Any, bool]:
    """loads(text), and whether its strings were mended (the value is then not the text's:
    a store keeping the text as the record's must keep the value's instead). Not
    ``checked``: neither its depth nor its numbers' exactness made sure of, for a caller that
    keeps the text and reads only a few of its texts (whoever parses the text later checks)."""
    value, text = parse(text, exact=checked)
    if checked:
        check_depth(value)
    return (repair_strings(value), True) if needs_repair(text) else (value, False)


# An integer past 64 bits has 20 digits or more: orjson would read it as a float, json as the
# integer it is. Looked for with every digit made a 0 (one C pass), then a byte search.
_DIGITS = str.maketrans("123456789", "000000000")
_DIGITS_BYTES = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = "0" * 20


@functools.cache
def _fast_loads() -> Callable[[str | bytes], Any] | None:
    try:
        import orjson
    except ImportError:
        return None
    return orjson.loads


def parse(text: str | bytes, exact: bool = True) -> tuple[Any, str | bytes]:
    """The value of JSON text (and the text it was read from), unchecked (loads checks it:
    depth, surrogates). orjson reads it when it reads
    it as json would (twice as fast on a record); what orjson refuses (NaN, a lone surrogate,
    nesting past its limit, bytes that are not UTF-8, text that is not JSON) and a number it
    would read otherwise (an integer past 64 bits) go to json, which reads them or says what
    is wrong. Not ``exact``: a long integer may be read as a float."""
    fast = _fast_loads()
    if fast is not None:
        if not exact:
            long = False
        elif isinstance(text, bytes):
            long = _LONG_NUMBER.encode() in text.translate(_DIGITS_BYTES)
        else:
            long = _LONG_NUMBER in text.translate(_DIGITS)
        if not long:
            try:
                return fast(text), text
            except ValueError:  # orjson.JSONDecodeError
                pass
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(text), text
    except RecursionError:
        raise RecordShapeError(
            f"the JSON nests more than {MAX_DEPTH} levels deep, which no study record does"
        ) from None


class NumberWatch:
    """A JSON decoder that notes whether the value it just read holds a number that orjson
    writes otherwise than json (a float of magnitude under 1e-4, NaN, an infinity): without
    one, a snapshot's text is orjson's as it is, with no search of it (normalize.py). Reset
    ``odd`` before each value; read it after."""

    __slots__ = ("decoder", "odd")

    def __init__(self) -> None:
        self.odd = False
        self.decoder = json.JSONDecoder(parse_float=self._float, parse_constant=self._constant)

    def _float(self, text: str) -> float:
        value = float(text)
        if value and not 1e-4 <= abs(value) < math.inf:
            self.odd = True
        return value

    def _constant(self, name: str) -> float:
        self.odd = True
        return float(name)  # NaN, Infinity, -Infinity: what json reads them as


# -- output -----------------------------------------------------------------------------------


def strip_escapes(text: str) -> str:
    """Whole terminal escape sequences removed (a CSI colour, an OSC 8 hyperlink with its
    URL), so that stripping the control bytes after never leaves a sequence's body as text."""
    if "\x1b" in text or "\x9b" in text or "\x9d" in text:
        return _ESCAPE_SEQ.sub("", text)
    return text


def terminal(text: object) -> str:
    """Text safe to print on a terminal: no escape sequences, controls or bidi overrides."""
    return _CONTROL.sub("", strip_escapes(repair_text(str(text))))


def one_line(text: object) -> str:
    """terminal() text on one line (newlines and tabs become spaces)."""
    return " ".join(terminal(text).split())


def markdown(text: object) -> str:
    """Registry text as inert Markdown on one line: every character that could start markup
    (HTML, images, links, headings, emphasis, tables, comments, autolinks) is escaped."""
    flat = one_line(text)
    return _MD_SPECIAL.sub(r"\\\1", flat).replace("@", "@\u200b")


def html_text(text: object) -> str:
    import html  # here, not at the top: it loads the 2,000 named entities (3 ms of start-up)

    return html.escape(terminal(text), quote=True)


def header(text: object) -> str:
    """A mail header value: one line, no CR or LF, no controls."""
    return one_line(text)


def json_safe(value: Any) -> Any:
    """value with text repaired (no lone surrogates) for JSON output; controls are escaped by
    :func:`dumps`."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """JSON text in which every control, C1 and bidi character is written as an escape, so no
    consumer that prints a string raw can be tricked by it."""
    text = json.dumps(json_safe(value), ensure_ascii=False, **kwargs)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def spreadsheet_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one line, never a formula (registry text is
    untrusted: a cell starting with = + - @ or a tab is prefixed with a quote)."""
    text = "" if value is None else str(value)
    text = terminal(text).replace("\r", " ").replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t") else text
