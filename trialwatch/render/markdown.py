"""Markdown for GitHub job summaries, issue and pull-request comments."""

from __future__ import annotations

from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.render.common import (
    LIST_UNCHANGED_UP_TO,
    baseline_rows,
    category_title,
    grouped,
    ordered,
    status_line,
    study_url,
    summary_line,
)
from trialwatch.sanitize import markdown as md


def trial_markdown(t: TrialReport) -> list[str]:
    title = f" — {md(t.title)}" if t.title else ""
    url = study_url(t.nct_id)
    name = f"[{t.nct_id}]({url})" if url else md(t.nct_id)
    lines = [f"### {name}{title}", ""]
    lines.append(f"*{md(status_line(t))}*")
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
    for category, changes in grouped(t.changes):
        lines.append(f"**{category_title(category)}**")
        lines.append("")
        for c in changes:
            text = f"**{md(c.sentence)}**" if c.headline else md(c.sentence)
            admin = " _(administrative)_" if not c.material else ""
            lines.append(f"- {text}{admin}")
            for detail in c.details[:40]:
                lines.append(f"  - {md(detail)}")
            if len(c.details) > 40:
                lines.append(f"  - … {len(c.details) - 40} more")
        lines.append("")
    return lines


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
        status = t.baseline.status if t.baseline and t.baseline.status else ""
        lines.append(f"| {md(t.nct_id)} | {md(status)} | {md(t.title or '')} |")
    if len(new) > NEW_TABLE_ROWS:
        lines.append(f"| … | | and {len(new) - NEW_TABLE_ROWS} more |")
    lines.append("")
    return lines


def render_markdown(report: RunReport) -> str:
    changed = report.changed
    lines = ["## trialwatch report", ""]
    lines.append(md(summary_line(report)))
    lines.append("")
    for note in report.notes:
        lines.append(f"> {md(note)}")
        lines.append("")
    if report.errors:
        lines.append("### Errors (not checked this run)")
        lines.append("")
        for t in report.errors:
            lines.append(f"- **{md(t.nct_id)}**: {md(t.error or '')}")
        lines.append("")
    new = [t for t in report.by_outcome(Outcome.NEW) if not t.notes]
    compact = len(report.trials) > LIST_UNCHANGED_UP_TO and len(new) > 1
    for t in ordered(report):
        if t.outcome is Outcome.ERROR:
            continue
        if t.outcome is Outcome.UNCHANGED and not t.changes:
            continue
        if compact and t in new:
            continue
        lines.extend(trial_markdown(t))
    if compact:
        lines.extend(_new_table(new))
    unchanged = [t.nct_id for t in report.by_outcome(Outcome.UNCHANGED) if not t.changes]
    if unchanged:
        lines.append(f"<details><summary>{len(unchanged)} unchanged</summary>")
        lines.append("")
        lines.append(md(", ".join(unchanged)))
        lines.append("")
        lines.append("</details>")
        lines.append("")
    if not changed and not report.errors and not report.by_outcome(Outcome.NEW):
        lines.append("No changes.")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
