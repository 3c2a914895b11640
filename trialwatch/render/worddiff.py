"""Word-level changes in HTML: the words taken out in ``<del>``, the words put in in ``<ins>``,
the rest as it was; a long passage side by side (before | after), line by line. Registry text
is escaped here, word by word."""

from __future__ import annotations

from difflib import SequenceMatcher

from trialwatch.changes.textnorm import display_text
from trialwatch.sanitize import html_text as h

# Unchanged words kept on each side of an edit in an inline diff; longer runs are elided.
CONTEXT = 6
# Texts longer than this (or with several lines) are shown side by side.
LONG = 120

CSS = (
    "del{background:#ffebe9;color:#82071e;text-decoration:line-through}"
    "ins{background:#dafbe1;color:#116329;text-decoration:none}"
    ".diff{font-size:.92em;margin:.2em 0 .5em;font-weight:400}"
    ".sbs{border-collapse:collapse;width:100%;table-layout:fixed;font-size:.9em;margin:.3em 0}"
    ".sbs th{text-align:left;color:#57606a;font-weight:600;border-bottom:1px solid #d0d7de}"
    ".sbs td{vertical-align:top;padding:.15em .5em;border-bottom:1px solid #eaeef2;"
    "overflow-wrap:anywhere}"
)


def worth_showing(old: object, new: object) -> bool:
    """Two texts whose word diff says more than the sentence: both text, sharing words."""
    if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
        return False
    a, b = display_text(old).split(), display_text(new).split()
    if len(a) < 3 and len(b) < 3:
        return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.3


def is_long(old: str, new: str) -> bool:
    return max(len(old), len(new)) > LONG or "\n" in display_text(old) + display_text(new)


def _pieces(a: list[str], b: list[str], elide: bool) -> list[tuple[str, str]]:
    """The edit from words a to words b as HTML pieces, each with the side it belongs to:
    "both" (words kept; with ``elide``, a long run cut to its ends around "…"), "old"
    (``<del>``) or "new" (``<ins>``)."""
    out: list[tuple[str, str]] = []
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            words = a[i1:i2]
            if elide and len(words) > 2 * CONTEXT:
                head = words[:CONTEXT] if n else []
                tail = words[-CONTEXT:] if n < len(ops) - 1 else []
                words = [*head, "…", *tail]
            out.append(("both", " ".join(h(w) for w in words).strip()))
            continue
        if i2 > i1:
            out.append(("old", f"<del>{' '.join(h(w) for w in a[i1:i2])}</del>"))
        if j2 > j1:
            out.append(("new", f"<ins>{' '.join(h(w) for w in b[j1:j2])}</ins>"))
    return out


def _joined(pieces: list[tuple[str, str]], sides: tuple[str, ...]) -> str:
    return " ".join(html for side, html in pieces if side in sides and html)


def inline(old: str, new: str) -> str:
    """One line: the new text with the removed words struck through before the added ones."""
    pieces = _pieces(display_text(old).split(), display_text(new).split(), elide=True)
    return f'<div class="diff">{_joined(pieces, ("both", "old", "new"))}</div>'


def side_by_side(old: str, new: str) -> str:
    """A table, before | after, one row per line (or sentence) that changed; lines edited in
    place show their words marked."""
    a = [ln for ln in display_text(old).split("\n") if ln.strip()]
    b = [ln for ln in display_text(new).split("\n") if ln.strip()]
    rows: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        olds, news = a[i1:i2], b[j1:j2]
        for k in range(max(len(olds), len(news))):
            x = olds[k] if k < len(olds) else ""
            y = news[k] if k < len(news) else ""
            if x and y:
                pieces = _pieces(x.split(), y.split(), elide=False)
                left, right = _joined(pieces, ("both", "old")), _joined(pieces, ("both", "new"))
            else:
                left = f"<del>{h(x)}</del>" if x else ""
                right = f"<ins>{h(y)}</ins>" if y else ""
            rows.append(f"<tr><td>{left}</td><td>{right}</td></tr>")
    if not rows:
        return ""
    return '<table class="sbs"><tr><th>Before</th><th>After</th></tr>' + "".join(rows) + "</table>"


def html_diff(old: str, new: str) -> str:
    """The word-level change between two texts, inline or side by side by length."""
    return side_by_side(old, new) if is_long(old, new) else inline(old, new)
