"""Markdown for GitHub job summaries, issue and pull-request comments."""

from __future__ import annotations

from trialwatch.changes.sentences import counted
from trialwatch.changes.words import status_words, words
from trialwatch.model import Outcome, RunReport, TrialReport
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
    study_url,
    summary,
    summary_line,
    who,
)
from trialwatch.sanitize import markdown as md


def trial_markdown(t: TrialReport, with_details: bool = True) -> list[str]:
    title = f" — {md(t.title)}" if t.title else ""
    url = study_url(t.nct_id)
    name = f"[{t.nct_id}]({url})" if url else md(t.nct_id)
    if t.label:
        name += f" ({md(t.label)})"
    lines = [f"### {name}{title}", ""]
    lines.append(f"*{md(status_line(t))}*")
    lines.append("")
    if t.warning:
        lines.append(f"> **Warning:** {md(t.warning)}")
        lines.append("")
    for note in t.notes:
        lines.append(f"> {md(note)}")
        lines.append("")
    if t.baseline is not None:
        lines.append("| Field | Value |")
        lines.append("| --- | --- |")
        lines.extend(f"| {label} | {md(value)} |" for label, value in baseline_rows(t.baseline))
        lines.append("")
    for context in t.context:
        lines.append(f"- _{md(context)}_")
    if t.context:
        lines.append("")
    events = summary(t)
    if events:
        lines.append("**Summary**")
        lines.append("")
        for e in events:
            by = f" _({who(e)})_" if who(e) else ""
            lines.append(f"- **{md(e.headline)}**{by}")
            lines.extend(_details(e.details, FOLD_DETAILS_AT))
        lines.append("")
    rest = details(t)
    if not rest:
        return lines
    if not with_details:
        lines.append(f"_{counted(len(rest), 'more change')} left out to fit the size limit._")
        lines.append("")
        return lines
    body: list[str] = []
    for category, changes in grouped(rest):
        body.append(f"**{category_title(category)}**")
        body.append("")
        for c in changes:
            text = f"**{md(c.sentence)}**" if c.headline and not events else md(c.sentence)
            admin = " _(administrative)_" if not c.material else ""
            body.append(f"- {text}{admin}")
            body.extend(_details(c.details, FOLD_DETAILS_AT))
        body.append("")
    if events:  # the summary said what matters: the details are one click away
        lines.append(f"<details><summary>Details ({counted(len(rest), 'change')})</summary>")
        lines.append("")
        lines.extend(body)
        lines.append("</details>")
        lines.append("")
    else:
        lines.extend(body)
    return lines


def _details(items: tuple[str, ...], fold_at: int) -> list[str]:
    """Lines under a change or an event; a long list folded."""
    shown = [f"  - {md(d)}" for d in items[:DETAILS_SHOWN]]
    if len(items) > DETAILS_SHOWN:
        shown.append(f"  - … {len(items) - DETAILS_SHOWN} more")
    if len(items) <= fold_at:
        return shown
    return [
        f"  <details><summary>{counted(len(items), 'line')}</summary>",
        "",
        *shown,
        "",
        "  </details>",
    ]


# GitHub refuses an issue or pull-request comment longer than this many characters.
COMMENT_LIMIT = 65536
CUT_NOTE_RESERVE = 1200
# An event's or a change's lines past this many are folded.
FOLD_DETAILS_AT = 10

# A first run of a long list: baselines in one table, at most this many rows (a GitHub job
# summary holds 1 MiB).
NEW_TABLE_ROWS = 500


def _new_table(new: list[TrialReport]) -> list[str]:
    lines = [
        f"### Baselines recorded ({len(new)})",
        "",
        "| Trial | Status | Title |",
        "| --- | --- | --- |",
    ]
    for t in sorted(new, key=lambda t: t.nct_id)[:NEW_TABLE_ROWS]:
        status = status_words(t.baseline.status) if t.baseline and t.baseline.status else ""
        lines.append(f"| {md(t.nct_id)} | {md(status)} | {md(t.title or '')} |")
    if len(new) > NEW_TABLE_ROWS:
        lines.append(f"| … | | and {len(new) - NEW_TABLE_ROWS} more |")
    lines.append("")
    return lines


def query_markdown(report: RunReport) -> list[str]:
    """Each search watch: a table of new trials, the trials that left it, the updated ones."""
    lines: list[str] = []
    for q in report.queries:
        lines += [f"### {md(query_heading(q))}", ""]
        status = query_status(q)
        if status is not None:
            lines += [md(status), ""]
            continue
        if q.new:
            lines += [
                f"**New ({len(q.new)})**",
                "",
                "| Trial | Title | Phase | Status | Sponsor | First posted |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for m in q.new[:MATCHES_SHOWN]:
                phase = ", ".join(words(p, "phases") for p in m.phases)
                status_text = status_words(m.status) if m.status else ""
                url = study_url(m.nct_id)
                trial = f"[{md(m.nct_id)}]({url})" if url else md(m.nct_id)
                lines.append(
                    f"| {trial} | {md(m.title or '')} | {md(phase)} | {md(status_text)} | "
                    f"{md(m.sponsor or '')} | {md(m.first_posted or '')} |"
                )
            if len(q.new) > MATCHES_SHOWN:
                lines.append(f"| … | and {len(q.new) - MATCHES_SHOWN} more | | | | |")
            lines.append("")
        if q.left:
            lines += [f"**Left the search ({len(q.left)})**", ""]
            lines += [f"- {md(match_line(m))}" for m in q.left[:MATCHES_SHOWN]]
            if len(q.left) > MATCHES_SHOWN:
                lines.append(f"- … and {len(q.left) - MATCHES_SHOWN} more")
            lines.append("")
        if q.updated:
            lines += [f"**Updated ({len(q.updated)}):** {md(', '.join(q.updated))}", ""]
    return lines


def render_markdown(report: RunReport, limit: int | None = COMMENT_LIMIT) -> str:
    """The report; with ``limit``, cut to at most that many characters (GitHub refuses a
    comment over 65,536): trials that do not fit lose their details, then their place, and the
    report says which."""
    changed = report.changed
    lines = ["## trialwatch report", ""]
    lines.append(md(summary_line(report)))
    lines.append("")
    for note in report.notes:
        lines.append(f"> {md(note)}")
        lines.append("")
    lines.extend(query_markdown(report))
    if report.errors:
        lines.append("### Errors (not checked this run)")
        lines.append("")
        for t in report.errors:
            lines.append(f"- **{md(t.nct_id)}**: {md(t.error or '')}")
        lines.append("")
    blocks: list[tuple[TrialReport, list[str]]] = []
    new = [t for t in report.by_outcome(Outcome.NEW) if not t.notes]
    compact = len(report.trials) > LIST_UNCHANGED_UP_TO and len(new) > 1
    for t in ordered(report):
        if t.outcome is Outcome.ERROR:
            continue
        if t.outcome is Outcome.UNCHANGED and not t.changes:
            continue
        if compact and t in new:
            continue
        blocks.append((t, trial_markdown(t)))
    tail: list[str] = []
    if compact:
        tail.extend(_new_table(new))
    unchanged = [t.nct_id for t in report.by_outcome(Outcome.UNCHANGED) if not t.changes]
    if unchanged:
        tail.append(f"<details><summary>{len(unchanged)} unchanged</summary>")
        tail.append("")
        tail.append(md(", ".join(unchanged)))
        tail.append("")
        tail.append("</details>")
        tail.append("")
    news = any(q.news for q in report.queries)
    if not changed and not report.errors and not report.by_outcome(Outcome.NEW) and not news:
        tail.append("No changes.")
        tail.append("")
    return _fit(lines, blocks, tail, limit)


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fit(
    head: list[str],
    blocks: list[tuple[TrialReport, list[str]]],
    tail: list[str],
    limit: int | None,
) -> str:
    def text(lines: list[str]) -> str:
        return "\n".join(lines).rstrip("\n") + "\n"

    everything = head + [line for _, block in blocks for line in block] + tail
    if limit is None or len(text(everything)) <= limit:
        return text(everything)
    budget = limit - _size(head) - CUT_NOTE_RESERVE
    if _size(tail) > budget // 2:  # a long list of unchanged trials or baselines goes first
        tail = []
    budget -= _size(tail)
    out = list(head)
    shortened, left_out = [], []
    for t, block in blocks:
        if _size(block) <= budget:
            out.extend(block)
            budget -= _size(block)
            continue
        short = trial_markdown(t, with_details=False)
        if _size(short) <= budget:
            out.extend(short)
            budget -= _size(short)
            shortened.append(t.nct_id)
        else:
            left_out.append(t.nct_id)
    out.extend(tail)
    note = "Cut to fit GitHub's 65,536-character limit"
    parts = []
    if shortened:
        parts.append(f"details left out for {len(shortened)}")
    if left_out:
        parts.append(
            f"{counted(len(left_out), 'trial')} left out ({', '.join(left_out[:50])}"
            + (", …" if len(left_out) > 50 else "")
            + ")"
        )
    out.append(
        f"> {note}: {md('; '.join(parts) or 'bookkeeping left out')}. "
        "`--format json` has everything."
    )
    result = text(out)
    return result if len(result) <= limit else result[: limit - 2] + "…\n"
