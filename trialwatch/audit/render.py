"""An audit in every format: text (and the colour terminal), Markdown (a table), JSON, HTML and
CSV for spreadsheets. Registry text is escaped for each."""

from __future__ import annotations

import csv
import io

from trialwatch.audit.report import AuditedTrial, AuditReport
from trialwatch.audit.signals import STANDING_NOTE, Level
from trialwatch.changes.words import status_words
from trialwatch.render.common import study_url
from trialwatch.sanitize import dumps, spreadsheet_cell, terminal
from trialwatch.sanitize import html_text as h
from trialwatch.sanitize import markdown as md

Segment = tuple[str, str]
Line = list[Segment]

_STYLE = {Level.ALERT: "bold red", Level.WARNING: "yellow", Level.NOTE: "cyan"}
_MARK = {Level.ALERT: "!!", Level.WARNING: "! ", Level.NOTE: "· "}


def summary_line(report: AuditReport) -> str:
    counts = report.counts()
    flagged = sum(1 for t in report.trials if t.signals)
    parts = [
        f"{len(report.trials)} trial{'s' if len(report.trials) != 1 else ''} audited on "
        f"{report.today}",
        f"{flagged} with signals",
        f"{counts[Level.ALERT]} alert{'s' if counts[Level.ALERT] != 1 else ''}",
        f"{counts[Level.WARNING]} warning{'s' if counts[Level.WARNING] != 1 else ''}",
        f"{counts[Level.NOTE]} note{'s' if counts[Level.NOTE] != 1 else ''}",
    ]
    if report.errors:
        parts.append(f"{len(report.errors)} not audited")
    return ", ".join(parts)


def _heading(t: AuditedTrial) -> str:
    text = t.nct_id
    if t.label:
        text += f" [{t.label}]"
    if t.title:
        text += f" — {t.title}"
    return text


def _status(t: AuditedTrial) -> str:
    return status_words(t.status) if t.status else "status not given"


def lines(report: AuditReport, verbose: bool = False) -> list[Line]:
    out: list[Line] = [[(terminal(summary_line(report)), "bold")]]
    out.extend([(terminal(n), "dim")] for n in report.notes)
    for t in report.trials:
        if t.error:
            out.append([(terminal(f"{t.nct_id}: not audited: {t.error}"), "bold red")])
            continue
        if not t.signals:
            continue
        out.append([])
        out.append([(terminal(_heading(t)), "bold"), (f"  ({terminal(_status(t))})", "dim")])
        for s in t.signals:
            out.append([(f"  {_MARK[s.level]} ", _STYLE[s.level]), (terminal(s.headline), "")])
            if verbose:
                out.extend([(f"       {terminal(e)}", "dim")] for e in s.evidence)
                out.append([(f"       rule: {terminal(s.rule)}", "dim")])
    quiet = [t.nct_id for t in report.trials if not t.signals and not t.error]
    if quiet:
        out.append([])
        out.append([(f"No signals: {', '.join(quiet)}", "dim")])
    out.append([])
    out.append([(STANDING_NOTE, "dim")])
    return out


def render_text(report: AuditReport, verbose: bool = False) -> str:
    return "".join("".join(seg for seg, _ in line) + "\n" for line in lines(report, verbose))


def render_terminal(report: AuditReport, verbose: bool = False) -> str:
    return in_colour(lines(report, verbose))


def in_colour(found: list[Line]) -> str:
    """Styled lines for the colour terminal (registry text already made safe in them)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True, force_terminal=True)
    with console.capture() as captured:
        for line in found:
            text = Text()
            for seg, style in line:
                text.append(seg, style=style or None)
            console.print(text, soft_wrap=True, highlight=False, markup=False)
    return captured.get()


def _cell(text: str) -> str:
    return md(text).replace("\n", " ")


def render_markdown(report: AuditReport) -> str:
    out = ["## Transparency audit", "", md(summary_line(report)), ""]
    out.extend(f"> {md(n)}" for n in report.notes)
    rows = [(t, s) for t in report.trials for s in t.signals]
    if rows:
        out += ["| Trial | Status | Level | Signal | Evidence |", "|---|---|---|---|---|"]
        for t, s in rows:
            url = study_url(t.nct_id)
            trial = f"[{md(t.nct_id)}]({url})" if url else md(t.nct_id)
            if t.label:
                trial += f" ({_cell(t.label)})"
            evidence = "<br>".join(_cell(e) for e in s.evidence)
            out.append(
                f"| {trial} | {_cell(_status(t))} | {s.level.value} | {_cell(s.headline)} | "
                f"{evidence} |"
            )
        out.append("")
    errors = report.errors
    if errors:
        out.append("**Not audited:**")
        out.extend(f"- {md(t.nct_id)}: {md(t.error or '')}" for t in errors)
        out.append("")
    quiet = [t.nct_id for t in report.trials if not t.signals and not t.error]
    if quiet:
        out += [f"No signals: {md(', '.join(quiet))}", ""]
    out += [f"_{md(STANDING_NOTE)}_", ""]
    return "\n".join(out)


def render_json(report: AuditReport) -> str:
    return dumps(report.to_json(), indent=2) + "\n"


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;max-width:70em;
margin:1em auto;padding:0 1em;line-height:1.45}h1{font-size:1.3em}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f6f8fa}.alert{color:#cf222e;font-weight:600}
.warning{color:#9a6700;font-weight:600}.note{color:#0969da}.ev{color:#57606a;font-size:.9em}
.standing{color:#57606a;font-style:italic}.errors{color:#cf222e}
"""


def render_html(report: AuditReport) -> str:
    body = ["<h1>Transparency audit</h1>", f"<p>{h(summary_line(report))}</p>"]
    body.extend(f"<p>{h(n)}</p>" for n in report.notes)
    rows = [(t, s) for t in report.trials for s in t.signals]
    if rows:
        body.append(
            "<table><tr><th>Trial</th><th>Status</th><th>Level</th><th>Signal</th>"
            "<th>Evidence and rule</th></tr>"
        )
        for t, s in rows:
            url = study_url(t.nct_id)
            trial = f'<a href="{h(url)}">{h(t.nct_id)}</a>' if url else h(t.nct_id)
            if t.title:
                trial += f'<br><span class="ev">{h(t.title)}</span>'
            evidence = "".join(f"<div>{h(e)}</div>" for e in s.evidence)
            body.append(
                f"<tr><td>{trial}</td><td>{h(_status(t))}</td>"
                f'<td class="{s.level.value}">{h(s.level.value)}</td><td>{h(s.headline)}</td>'
                f'<td class="ev">{evidence}<div>rule: {h(s.rule)}</div></td></tr>'
            )
        body.append("</table>")
    if report.errors:
        body.append('<ul class="errors">')
        body.extend(f"<li>{h(t.nct_id)}: {h(t.error or '')}</li>" for t in report.errors)
        body.append("</ul>")
    quiet = [t.nct_id for t in report.trials if not t.signals and not t.error]
    if quiet:
        body.append(f"<p>No signals: {h(', '.join(quiet))}</p>")
    body.append(f'<p class="standing">{h(STANDING_NOTE)}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>trialwatch audit</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


CSV_COLUMNS = (
    "nct_id",
    "label",
    "title",
    "status",
    "signal",
    "level",
    "headline",
    "evidence",
    "rule",
    "due",
    "error",
)


_safe = spreadsheet_cell


def render_csv(report: AuditReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in report.trials:
        base = [t.nct_id, t.label, t.title, _status(t) if not t.error else ""]
        if t.error or not t.signals:
            writer.writerow([_safe(v) for v in [*base, "", "", "", "", "", "", t.error]])
            continue
        for s in t.signals:
            row = [*base, s.type.value, s.level.value, s.headline, "; ".join(s.evidence)]
            row += [s.rule, s.dates.get("due"), None]
            writer.writerow([_safe(v) for v in row])
    return buffer.getvalue()
