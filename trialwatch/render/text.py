"""Plain text and the colour terminal: one list of styled segments, printed two ways."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialwatch.changes.words import status_words
from trialwatch.model import Kind, Outcome, RunReport, TrialReport
from trialwatch.render.common import (
    DETAILS_SHOWN,
    LIST_UNCHANGED_UP_TO,
    MATCHES_SHOWN,
    baseline_rows,
    category_title,
    details,
    grouped,
    match_line,
    ordered,
    query_heading,
    query_status,
    status_line,
    summary,
    who,
)
from trialwatch.sanitize import terminal as clean

if TYPE_CHECKING:
    from rich.console import Console

Segment = tuple[str, str]  # (text, rich style)
Line = list[Segment]

_OUTCOME_STYLE = {
    Outcome.NEW: "cyan",
    Outcome.CHANGED: "yellow",
    Outcome.UNCHANGED: "dim",
    Outcome.REMOVED: "magenta",
    Outcome.ERROR: "bold red",
}
_KIND_STYLE = {Kind.ADDED: "green", Kind.REMOVED: "red", Kind.CHANGED: ""}


def new_line(t: TrialReport) -> Line:
    """One line for a baseline, when many trials are new at once (a first run of a long list)."""
    b = t.baseline
    status = f"{status_words(b.status)}, " if b and b.status else ""
    title = f"  {clean(t.title)}" if t.title else ""
    return [
        (clean(t.nct_id), "bold"),
        (f"  baseline recorded ({clean(status)}{t.snapshot})", "cyan"),
        (title, "dim"),
    ]


def trial_lines(t: TrialReport) -> list[Line]:
    lines: list[Line] = []
    head: Line = [(clean(t.nct_id), "bold")]
    if t.label:
        head.append((f" ({clean(t.label)})", "bold cyan"))
    if t.title:
        head.append(("  " + clean(t.title), "bold"))
    lines.append(head)
    lines.append([("  " + status_line(t), _OUTCOME_STYLE[t.outcome])])
    if t.warning:
        lines.append([("  Warning: ", "bold yellow"), (clean(t.warning), "yellow")])
    for note in t.notes:
        lines.append([("  " + clean(note), "dim")])
    if t.baseline is not None:
        for label, value in baseline_rows(t.baseline):
            lines.append([(f"    {label}: ", "dim"), (value, "")])
    for line in t.context:
        lines.append([("  (" + clean(line) + ")", "dim")])
    events = summary(t)
    if events:
        lines.append([("  ", ""), ("Summary", "bold underline")])
        for e in events:
            by = who(e)
            lines.append(
                [("    ▸ ", ""), (clean(e.headline), "bold"), (f" ({by})" if by else "", "dim")]
            )
            lines.extend(_detail_lines(e.details))
    rest = details(t)
    if events and rest:
        lines.append([("  ", ""), ("Details", "bold underline")])
    for category, changes in grouped(rest):
        lines.append([("  ", ""), (category_title(category), "bold underline")])
        for c in changes:
            style = "bold " + _KIND_STYLE[c.kind] if c.headline else _KIND_STYLE[c.kind]
            admin = "" if c.material else " [administrative]"
            said = arrow_segments(clean(c.sentence), clean(c.label), style.strip())
            lines.append([("    • ", ""), *said, (admin, "dim")])
            lines.extend(_detail_lines(c.details))
    return lines


def _detail_lines(items: tuple[str, ...]) -> list[Line]:
    lines: list[Line] = []
    for detail in items[:DETAILS_SHOWN]:
        style = "green" if detail.startswith("+") else "red" if detail.startswith("−") else "dim"
        lines.append([("        " + clean(detail), style)])
    if len(items) > DETAILS_SHOWN:
        lines.append([(f"        … {len(items) - DETAILS_SHOWN} more", "dim")])
    return lines


def query_lines(report: RunReport, quiet: bool = False) -> list[Line]:
    lines: list[Line] = []
    for q in report.queries:
        status = query_status(q)
        if quiet and status is not None and not q.error:
            continue
        if lines:
            lines.append([])
        lines.append([(clean(query_heading(q)), "bold")])
        if status is not None:
            lines.append([("  " + clean(status), "bold red" if q.error else "dim")])
            continue
        for title, items, style in (
            ("New", q.new, "green"),
            ("Left the search", q.left, "magenta"),
        ):
            if not items:
                continue
            lines.append([(f"  {title} ({len(items)})", f"bold {style}")])
            for m in items[:MATCHES_SHOWN]:
                lines.append([("    • ", ""), (clean(match_line(m)), "")])
            if len(items) > MATCHES_SHOWN:
                lines.append([(f"    … and {len(items) - MATCHES_SHOWN} more", "dim")])
        if q.updated:
            ids = ", ".join(q.updated)
            lines.append([(f"  Updated ({len(q.updated)}): ", "bold yellow"), (clean(ids), "")])
    return lines


def report_lines(report: RunReport, quiet: bool = False) -> list[Line]:
    lines: list[Line] = query_lines(report, quiet)
    errors = report.errors
    if errors and lines:
        lines.append([])
    if errors:  # kept apart from changes: a gap in monitoring, not a change
        lines.append([("Errors (not checked this run)", "bold red")])
        for t in errors:
            lines.append([(f"  {clean(t.nct_id)}: ", "bold"), (clean(t.error or ""), "red")])
    many = len(report.trials) > LIST_UNCHANGED_UP_TO
    for t in ordered(report):
        if t.outcome is Outcome.ERROR:
            continue
        if quiet and t.outcome in (Outcome.UNCHANGED, Outcome.NEW):
            continue
        if many and t.outcome is Outcome.UNCHANGED and not t.changes and not t.notes:
            continue
        if many and t.outcome is Outcome.NEW and not t.notes:
            lines.append(new_line(t))
            continue
        if lines:
            lines.append([])
        lines.extend(trial_lines(t))
    return lines


def render_text(report: RunReport, quiet: bool = False) -> str:
    lines = report_lines(report, quiet)
    return "".join("".join(seg for seg, _ in line) + "\n" for line in lines)


def print_terminal(console: Console, report: RunReport, quiet: bool = False) -> None:
    """The report on a terminal: each line wrapped at word boundaries to the terminal's width,
    continued under its text (a hanging indent past the bullet), never cut mid-word."""
    from rich.text import Text  # only a terminal pays for rich

    width = max(console.width, 20)
    for line in report_lines(report, quiet):
        lead = _lead(line)
        body = Text()
        for seg, style in line:
            body.append(seg, style=style or None)
        if body.cell_len <= width or lead >= width - 10:
            console.print(body, soft_wrap=True, highlight=False, markup=False)
            continue
        head, rest = body[:lead], body[lead:]
        for i, part in enumerate(rest.wrap(console, width - lead, overflow="fold")):
            part.rstrip()
            out = Text.assemble(head if i == 0 else " " * lead, part)
            console.print(out, soft_wrap=True, highlight=False, markup=False)


_BULLETS = "•▸−+~…"


def _lead(line: Line) -> int:
    """How far a wrapped line's continuation is indented: past its leading spaces and bullet
    ("    • ", "        + "), or past a short label segment ("  NCT…: ")."""
    text = "".join(seg for seg, _ in line)
    n = len(text) - len(text.lstrip(" "))
    if n < len(text) and text[n] in _BULLETS and text[n + 1 : n + 2] == " ":
        n += 2
    return n


def arrow_segments(sentence: str, label: str, style: str) -> list[tuple[str, str]]:
    """A change sentence with its old value in red and its new value in green on a terminal:
    "Enrollment target: 300 → 180" (the label keeps the sentence's own style)."""
    before, arrow, after = sentence.partition(" → ")
    if not arrow or " → " in after:
        return [(sentence, style)]
    cut = 0
    if ": " in before:
        cut = before.index(": ") + 1
    elif before.startswith(label):
        cut = len(label)
    if cut == 0 or cut >= len(before):
        return [(before + arrow, style), (after, f"{style} green".strip())]
    return [
        (before[:cut], style),
        (before[cut:], f"{style} red".strip()),
        (arrow, style),
        (after, f"{style} green".strip()),
    ]
