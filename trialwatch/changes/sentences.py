"""How values and texts read in a sentence: shared by the change builder and the handlers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.labels import humanize
from trialwatch.changes.match import is_empty, item_label
from trialwatch.changes.textnorm import display_text, one_line


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
        return text if is_code(text) else f"“{text}”"
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


def is_code(text: str) -> bool:
    """Enum values, dates and numbers read best unquoted."""
    if not text or " " in text:
        return False
    return text.replace("_", "").isupper() or text[:4].isdigit() or bool(_NUMBER.match(text))


def kind_word(t: Any) -> str:
    """A date's or an enrollment's type, in words."""
    return str(t).lower() if t else "type not given"


def counted(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
        if tag in ("replace", "delete"):
            out.extend(f"− {line}" for line in a[i1:i2])
        if tag in ("replace", "insert"):
            out.extend(f"+ {line}" for line in c[j1:j2])
    return out
