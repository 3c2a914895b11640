"""Registry text as a person reads it.

The API serves markup fields as CommonMark with backslash escapes (``\\>=``); the internal history
API serves the same text as HTML with entities. Neither the escaping nor the markup is content, so
both are folded here: :func:`display_text` keeps line structure for showing, :func:`text_key`
is what two texts are compared by.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from trialwatch.sanitize import strip_escapes

# Texts whose normal forms are remembered (per function): enough for the repeated strings of a
# diff (city names, roles, statuses); a first run of a long list passes each text once, and a
# bigger cache would only hold memory (16,384 entries are a few MB).
CACHED_TEXTS = 16384

_TAG = re.compile(
    r"</?(?:p|br|li|ol|ul|b|i|em|strong|sup|sub|div|span|a|u|table|tbody|thead|tr|td|th|h[1-6]"
    r"|pre|code|blockquote|hr|mark)\b[^<>]*>",
    re.IGNORECASE,
)
_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ol|ul|div|tr|h[1-6]|pre|blockquote|hr)\b[^<>]*>", re.I)
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
# A run of backslashes in front of ASCII punctuation is a markdown escape, not text.
_MD_ESCAPE = re.compile(r"\\+(?=[!-/:-@\[-`{-~])")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_LIST_MARKER = re.compile(r"^(?:\d{1,3}[.)]|[-*+•·‣◦]|[a-zA-Z][.)]|\([a-zA-Z0-9]{1,3}\))\s+")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^#{1,6}\s+")
# C0/C1 control characters other than newline and tab, bidi overrides that can disguise text,
# and the noncharacters XML 1.0 forbids (U+FFFE, U+FFFF).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def strip_control(text: str) -> str:
    """Remove escape sequences whole (an OSC 8 hyperlink's URL with it), then control
    characters and bidi overrides, from untrusted text."""
    return _CONTROL.sub("", strip_escapes(text))


# UTF-8 read as Windows-1252 or Latin-1 ("HÃ´pital" for "Hôpital", "â€“" for "–"): a lead
# byte's character followed by a continuation byte's.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d"
    "\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022"
    "\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def unmojibake(text: str) -> str:
    """Text whose UTF-8 was read as Windows-1252 (or Latin-1), read back as UTF-8: an encoding
    flip in the registry is no change. The repair is ftfy's (it knows far more of the ways text
    is mangled, and when a text only looks mangled); the pattern above only spares the import
    and the work for the text that cannot need it."""
    if not _MOJIBAKE.search(text):
        return text
    import ftfy  # a few ms of start-up, paid only by text that needs it

    return ftfy.fix_encoding(text)


# What a reader cannot read in a damaged name: a non-ASCII letter (it may be the mangled form
# of another), and the stray symbols mangling leaves inside a word ("Hă"Pital", "Ă´").
_WILD = "?"
_DAMAGE_SIGN = re.compile(r"\w[^\w\s.,;:()'’‘&/+·–—-]+\w|\ufffd|\w\?\w")


def damage_key(text: str) -> str:
    """A name as a reader compares it when letters may be damaged: case, spaces and punctuation
    aside, every non-ASCII letter a wildcard ("Hôpital Foch", "Hă\"Pital Foch" and "Hăpital
    Foch" all read ``h?pitalfoch``)."""
    out = []
    for ch in display_text(text):
        if ch.isascii():
            if ch.isalnum():
                out.append(ch.lower())
        elif ch.isalpha() and (not out or out[-1] != _WILD):
            out.append(_WILD)
    return "".join(out)


def alike_but_damage(a: str, b: str) -> bool:
    """Two names that differ only where a letter may be damaged: a wildcard on either side
    stands for one to three characters of the other."""
    x, y = damage_key(a), damage_key(b)
    if x == y:
        return True
    if _WILD not in x and _WILD not in y:
        return False

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(x) or j == len(y):
            return i == len(x) and j == len(y)
        if x[i] == _WILD:
            return any(match(i + 1, j + k) for k in (1, 2, 3) if j + k <= len(y))
        if y[j] == _WILD:
            return any(match(i + k, j + 1) for k in (1, 2, 3) if i + k <= len(x))
        return x[i] == y[j] and match(i + 1, j + 1)

    return match(0, 0)


def looks_damaged(text: str) -> bool:
    """Signs of mangled characters a repair could not mend: a replacement character, a stray
    symbol or question mark inside a word ("Hă"Pital")."""
    return bool(_DAMAGE_SIGN.search(display_text(text)))


def _once(text: str) -> str:
    if "<" in text and _TAG.search(text):
        text = _BLOCK_TAG.sub("\n", text)
        text = _TAG.sub("", text)
    if "&" in text and _ENTITY.search(text):
        import html  # here, not at the top: it loads the 2,000 named entities (3 ms of start-up)

        text = html.unescape(text)
    if "\\" in text:
        text = _MD_ESCAPE.sub("", text)
    text = unmojibake(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_control(text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    # Keep paragraph breaks as one blank line; drop leading and trailing blank lines.
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return unicodedata.normalize("NFC", "\n".join(out))


# Text display_text and text_key leave as it is: printable ASCII words, single spaces between
# them, and none of the characters markup starts with (<, &, \\ for display_text; *, _, # and
# a list marker besides for text_key). Most of a record's texts are such (codes, dates, names,
# short titles); one fullmatch, at C speed, spares them the passes below.
_PLAIN = re.compile(r"[!-%'-;=-\[\]-~]+(?: [!-%'-;=-\[\]-~]+)*")
_PLAIN_KEY = re.compile(r"[!\"$%'()+-;=-@A-Z\[\]^`-~]+(?: [!\"$%'()+-;=-@A-Z\[\]^`-~]+)*")


@lru_cache(maxsize=CACHED_TEXTS)
def display_text(text: str) -> str:
    """Unescape markdown, turn HTML into lines, normalise spaces and line endings. Idempotent."""
    if _PLAIN.fullmatch(text):
        return text
    return _display_text(text)


def _display_text(text: str) -> str:
    for _ in range(6):
        new = _once(text)
        if new == text:
            break
        text = new
    return text


@lru_cache(maxsize=CACHED_TEXTS)
def text_key(text: str) -> str:
    """What two texts are compared by: no markup, no list numbering, no emphasis, one space."""
    if _PLAIN_KEY.fullmatch(text) and not _LIST_MARKER.match(text):
        return text
    words: list[str] = []
    for line in display_text(text).split("\n"):
        line = _HEADING.sub("", line)
        # "* c) Cohort 5" in markdown is "<li>c) Cohort 5" in HTML: every marker goes.
        for _ in range(3):
            bare = _LIST_MARKER.sub("", line)
            if bare == line:
                break
            line = bare
        line = _EMPHASIS.sub(r"\2", line)
        if line:
            words.extend(line.split())
    return " ".join(words)


def one_line(text: str, limit: int = 160) -> str:
    """A single-line excerpt of text for a sentence."""
    flat = " ".join(display_text(text).split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def fold_key(value: object) -> str:
    """What two names or titles are compared by, case aside: text_key, case-folded (text_key
    already keeps one space between words)."""
    return text_key(str(value or "")).casefold()
