"""How values and texts read in a sentence: shared by the change builder and the handlers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.labels import LABELS, humanize
from trialwatch.changes.match import is_empty, item_label
from trialwatch.changes.textnorm import display_text, one_line
from trialwatch.changes.words import ENUM_FIELDS, is_enum_code, known_code, words


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


def fmt(value: Any, limit: int = 120, field: str | None = None) -> str:
    """A value as it reads in a sentence. ``field`` (the field's name) lets an enum code be said
    in words: ``ACTIVE_NOT_RECRUITING`` reads "Active, not recruiting"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        text = one_line(value, limit)
        if is_enum_code(text) and (field in ENUM_FIELDS or (field is None and known_code(text))):
            return words(text, field)
        return text if is_code(text) else f"“{text}”"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) and abs(value) >= 10000 else str(value)
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ", ".join(fmt(v, 60, field) for v in value) or "none"
        names = [item_label(v, [], i) for i, v in enumerate(value[:5])]
        if any(n.startswith("#") for n in names):
            return counted(len(value), "item")
        more = f" and {len(value) - 5} more" if len(value) > 5 else ""
        return ", ".join(names) + more
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            if is_empty(v):
                continue
            name = LABELS.get(k, humanize(k)).lower()
            if isinstance(v, list):
                parts.append(f"{len(v)} {name}" + ("s" if len(v) != 1 else ""))
            elif isinstance(v, dict):
                parts.append(name)
            else:
                parts.append(f"{name}: {fmt(v, 60, k)}")
        text = "; ".join(parts[:4]) or "empty"
        return text if len(parts) <= 4 else text + "; …"
    return one_line(str(value), limit)


_NUMBER = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?%?$")


def is_code(text: str) -> bool:
    """Enum values, dates and numbers read best unquoted."""
    if not text or " " in text:
        return False
    return text.replace("_", "").isupper() or text[:4].isdigit() or bool(_NUMBER.match(text))


def kind_word(t: Any) -> str:
    """A date's or an enrollment's type, in words."""
    return words(str(t), "type").lower() if t else "type not given"


def percent(part: float, whole: float) -> int:
    """``part`` as a percentage of ``whole``, rounded half up (round() rounds half to even:
    12.5% would read 12%). A ratio past any real enrollment (a count of 1e308) is capped at
    a billion percent instead of overflowing."""
    value = abs(part) / whole * 100 + 0.5
    return int(value) if math.isfinite(value) and value < 1e9 else 1_000_000_000


def counted(n: int, word: str, plural: str | None = None) -> str:
    """ "1 trial", "2 trials"; "1 search", "2 searches" with the plural given."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def line_details(old: str, new: str) -> list[str]:
    """Lines (or sentences, for one-paragraph texts) removed and added."""

    def units(text: str) -> list[str]:
        lines = [ln for ln in display_text(text).split("\n") if ln.strip()]
        if len(lines) <= 2:
            lines = [s for s in re.split(r"(?<=[.!?;])\s+", " ".join(lines)) if s.strip()]
        return lines

    a, c = units(old), units(new)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, c, autojunk=False).get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            # A long passage edited in place: the words that changed, not both paragraphs.
            pairs = list(zip(a[i1:i2], c[j1:j2], strict=True))
            if all(_in_place(x, y) for x, y in pairs):
                out.extend(f"~ {word_change(x, y)}" for x, y in pairs)
                continue
        if tag in ("replace", "delete"):
            out.extend(f"− {line}" for line in a[i1:i2])
        if tag in ("replace", "insert"):
            out.extend(f"+ {line}" for line in c[j1:j2])
    return out


def _in_place(old: str, new: str) -> bool:
    """A long passage whose words mostly stayed: shown as its edit."""
    if max(len(old), len(new)) <= 100:
        return False
    matcher = SequenceMatcher(None, old.split(), new.split(), autojunk=False)
    return matcher.ratio() >= 0.8


def word_change(old: str, new: str, context: int = 4) -> str:
    """An edit of a text shown as the words that changed with a few words around them:
    “…adults with [prior → previous] treatment for…”. Short or wholly rewritten texts are shown
    whole (old → new)."""
    a = one_line(old, 10**6).split()
    b = one_line(new, 10**6).split()
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if max(len(old), len(new)) <= 100 or matcher.ratio() < 0.5:
        return f"{fmt(old, 200)} → {fmt(new, 200)}"
    # Edits two words or less apart read as one: "[objective response rate → overall response]".
    spans: list[list[int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if spans and i1 - spans[-1][1] <= 2 and j1 - spans[-1][3] <= 2:
            spans[-1][1], spans[-1][3] = i2, j2
        else:
            spans.append([i1, i2, j1, j2])
    pieces = []
    for i1, i2, j1, j2 in spans:
        was, now = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        change = f"[{was} → {now}]" if was and now else f"[+ {now}]" if now else f"[− {was}]"
        left, right = a[max(0, i1 - context) : i1], a[i2 : i2 + context]
        piece = " ".join([*left, change, *right])
        pieces.append(
            ("…" if i1 - context > 0 else "") + piece + ("…" if i2 + context < len(a) else "")
        )
    shown = " ".join(pieces[:4])
    if len(pieces) > 4:
        shown += f" (and {len(pieces) - 4} more edits)"
    return f"“{one_line(shown, 600)}”"
