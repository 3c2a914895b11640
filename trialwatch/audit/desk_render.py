"""An organisation's desk in every format: text (and the colour terminal) for the office, CSV
for its spreadsheet (one row a trial, one results state to sort on), Markdown, JSON, and an
HTML page fit to print for the dean (counts by state, the overdue list oldest first, the
calendar, what moved). Registry text is escaped for each."""

from __future__ import annotations

import csv
import io

from trialwatch.audit.desk import ORDER, STATE_WORDS, DeskTrial, ResultsState, Transition
from trialwatch.audit.render import Line, in_colour
from trialwatch.audit.report import DeskReport
from trialwatch.audit.signals import STANDING_NOTE, signal_names
from trialwatch.changes.dates import months_words
from trialwatch.changes.textnorm import one_line
from trialwatch.changes.words import status_words
from trialwatch.render.common import study_url
from trialwatch.sanitize import dumps, spreadsheet_cell, terminal
from trialwatch.sanitize import html_text as h
from trialwatch.sanitize import markdown as md

_STYLE = {
    ResultsState.OVERDUE: "bold red",
    ResultsState.RETURNED: "yellow",
    ResultsState.DUE: "yellow",
    ResultsState.IN_QC_REVIEW: "cyan",
    ResultsState.POSTED: "green",
    ResultsState.NOT_DUE: "dim",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def title_line(report: DeskReport) -> str:
    return f"{' / '.join(report.sponsors)}: results obligations on {report.audit.today}"


def count_line(report: DeskReport) -> str:
    states = report.states()
    parts = [f"{n} {STATE_WORDS[s]}" for s, n in states.items() if n]
    text = _plural(len(report.trials), "trial") + (": " + ", ".join(parts) if parts else "")
    if report.audit.errors:
        text += f"; {len(report.audit.errors)} not read"
    return text


def since_line(report: DeskReport) -> str:
    if report.first:
        return (
            "First audit of this organisation: from the next one on, each trial that moves is "
            "told once, with the reason."
        )
    if not report.transitions:
        return f"Nothing moved since the audit of {report.since}."
    return f"Since the audit of {report.since}:"


def _verified(t: DeskTrial) -> str:
    if not t.verified:
        return "never verified"
    if t.verified_months is None:
        return f"verified {t.verified}"
    ago = "this month" if t.verified_months <= 0 else f"{months_words(t.verified_months)} ago"
    return f"verified {t.verified} ({ago})"


def _facts(t: DeskTrial) -> str:
    parts = [status_words(t.status) if t.status else "status not given", _verified(t)]
    if t.estimated_past:
        parts.append("estimated dates already past: " + ", ".join(t.estimated_past))
    return " · ".join(parts)


def _due(t: DeskTrial) -> str:
    return t.obligation.due.isoformat() if t.obligation.due else "—"


def _transition(t: Transition) -> str:
    return f"{t.nct_id}  {t.reason}"


def lines(report: DeskReport, verbose: bool = True) -> list[Line]:
    out: list[Line] = [[(terminal(title_line(report)), "bold")]]
    out.append([(terminal(count_line(report)), "")])
    out.extend([(terminal(n), "dim")] for n in report.audit.notes)
    out.append([])
    out.append([(since_line(report), "bold")])
    for tr in report.transitions:
        style = "red" if tr.started and tr.after is ResultsState.OVERDUE else ""
        out.append([("  ", ""), (terminal(_transition(tr)), style)])
    out.append([])
    if report.calendar:
        out.append([("Due in the next 90 days:", "bold")])
        for week in report.calendar:
            items = ", ".join(f"{n} (due {d.isoformat()})" for n, d in week.trials)
            out.append([(f"  week of {week.starts.isoformat()}: ", "dim"), (terminal(items), "")])
    else:
        out.append([("Nothing falls due in the next 90 days.", "dim")])
    out.append([])
    if report.trials:
        out.append([("Trials, worst first:", "bold")])
    for t in report.trials:
        state = t.obligation.state
        out.append(
            [
                (f"  {t.nct_id}  ", "bold"),
                (STATE_WORDS[state], _STYLE[state]),
                (f"  due {_due(t)}" if t.obligation.due else "", ""),
            ]
        )
        if t.title:
            out.append([("      " + terminal(one_line(t.title, 100)), "")])
        out.append([("      " + terminal(t.obligation.reason), "dim")])
        if verbose:
            out.append([("      " + terminal(_facts(t)), "dim")])
            if t.owners:
                out.append([("      answers for it: " + terminal("; ".join(t.owners)), "dim")])
            if t.signals:
                out.append([("      signals: " + terminal(signal_names(t.signals)), "dim")])
    for e in report.audit.errors:
        out.append([(terminal(f"{e.nct_id}: {e.error}"), "bold red")])
    out.append([])
    out.append([(STANDING_NOTE, "dim")])
    return out


def render_text(report: DeskReport, verbose: bool = True) -> str:
    return "".join(
        "".join(seg for seg, _ in line).rstrip() + "\n" for line in lines(report, verbose)
    )


def render_terminal(report: DeskReport, verbose: bool = True) -> str:
    return in_colour(lines(report, verbose))


def render_json(report: DeskReport) -> str:
    return dumps(report.to_json(), indent=2) + "\n"


def _cell(text: str) -> str:
    return md(text).replace("\n", " ")


def _link_md(nct: str) -> str:
    url = study_url(nct)
    return f"[{md(nct)}]({url})" if url else md(nct)


def render_markdown(report: DeskReport) -> str:
    out = [f"## {md(title_line(report))}", "", md(count_line(report)), ""]
    out.extend(f"> {md(n)}" for n in report.audit.notes)
    out += [f"**{md(since_line(report))}**", ""]
    out.extend(f"- {_link_md(t.nct_id)}: {_cell(t.reason)}" for t in report.transitions)
    if report.transitions:
        out.append("")
    if report.calendar:
        out += ["**Due in the next 90 days**", ""]
        for week in report.calendar:
            items = ", ".join(f"{_link_md(n)} (due {d.isoformat()})" for n, d in week.trials)
            out.append(f"- week of {week.starts.isoformat()}: {items}")
        out.append("")
    if report.trials:
        out += ["| Trial | Results | Due | Why | Status |", "|---|---|---|---|---|"]
        for t in report.trials:
            out.append(
                f"| {_link_md(t.nct_id)} {_cell(t.title or '')} | "
                f"{STATE_WORDS[t.obligation.state]} | {_due(t)} | {_cell(t.obligation.reason)} | "
                f"{_cell(_facts(t))} |"
            )
        out.append("")
    if report.audit.errors:
        out.append("**Not read:**")
        out.extend(f"- {md(t.nct_id)}: {md(t.error or '')}" for t in report.audit.errors)
        out.append("")
    out += [f"_{md(STANDING_NOTE)}_", ""]
    return "\n".join(out)


CSV_COLUMNS = (
    "nct_id",
    "title",
    "status",
    "results_state",
    "results_rank",  # 1 overdue … 6 not due: the states in the order of what needs doing
    "due",
    "rule",
    "reason",
    "submitted",
    "returned",
    "returns",
    "posted",
    "verified",
    "verified_months_ago",
    "estimated_dates_past",
    "answers_for_it",
    "matched",
    "signals",
    "error",
)


def render_csv(report: DeskReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in report.trials:
        o = t.obligation
        row = [
            t.nct_id, t.title, t.status, o.state.value, ORDER[o.state] + 1,
            _due(t) if o.due else "", o.rule,
            o.reason, o.submitted, o.returned, o.returns, o.posted, t.verified,
            t.verified_months, "; ".join(t.estimated_past), "; ".join(t.owners), t.matched,
            "; ".join(s.type.value for s in t.signals), "",
        ]  # fmt: skip
        writer.writerow([spreadsheet_cell(v) for v in row])
    for e in report.audit.errors:
        row = [e.nct_id, *[""] * (len(CSV_COLUMNS) - 2), e.error]
        writer.writerow([spreadsheet_cell(v) for v in row])
    return buffer.getvalue()


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;max-width:60em;
margin:1em auto;padding:0 1em;line-height:1.4;font-size:15px}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.05em;margin:1em 0 .3em}
.counts{display:flex;flex-wrap:wrap;gap:.5em;margin:.6em 0}
.count{border:1px solid #d0d7de;border-radius:6px;padding:.3em .8em;text-align:center;
min-width:5.5em}
.count b{display:block;font-size:1.5em}.overdue b{color:#cf222e}.returned b,.due b{color:#9a6700}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;
padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.n{white-space:nowrap}.small{color:#57606a;font-size:.88em}ul{margin:.2em 0;padding-left:1.2em}
.standing{color:#57606a;font-style:italic;font-size:.85em}.errors{color:#cf222e}
a{color:#0969da;text-decoration:none}
@media (max-width:600px){table,tbody,tr,td,th{display:block}th{display:none}
td{border:0;padding:.1em 0}tr{border-bottom:1px solid #d0d7de;padding:.3em 0}}
@media print{body{margin:0;max-width:none;font-size:10.5pt}a{color:inherit}.noprint{display:none}
@page{size:A4;margin:14mm}}
"""


def _link(nct: str) -> str:
    url = study_url(nct)
    return f'<a href="{h(url)}">{h(nct)}</a>' if url else h(nct)


def render_html(report: DeskReport, nav: list[tuple[str, str]] | None = None) -> str:
    """The page; ``nav``: (link, words) pairs above it (the site's way back)."""
    states = report.states()
    body = []
    if nav:
        links = " · ".join(f'<a href="{h(href)}">{h(words)}</a>' for href, words in nav)
        body.append(f'<p class="small noprint">{links}</p>')
    body += [f"<h1>{h(title_line(report))}</h1>", f'<p class="small">{h(count_line(report))}</p>']
    body.append('<div class="counts">')
    for state, n in states.items():
        body.append(
            f'<div class="count {state.value.replace("_", "-")}"><b>{n}</b>'
            f"{h(STATE_WORDS[state])}</div>"
        )
    body.append("</div>")
    body.extend(f'<p class="small">{h(n)}</p>' for n in report.audit.notes)
    overdue = sorted(
        (t for t in report.trials if t.obligation.state is ResultsState.OVERDUE),
        key=lambda t: (t.obligation.due.isoformat() if t.obligation.due else "", t.nct_id),
    )
    body.append(f"<h2>Overdue, oldest first ({len(overdue)})</h2>")
    if overdue:
        body.append("<table><tr><th>Trial</th><th>Due</th><th>Why</th><th>Answers for it</th></tr>")
        for t in overdue:
            body.append(
                f'<tr><td class="n">{_link(t.nct_id)}</td><td class="n">{h(_due(t))}</td>'
                f'<td>{h(t.title or "")}<div class="small">{h(t.obligation.reason)}</div></td>'
                f'<td class="small">{h("; ".join(t.owners))}</td></tr>'
            )
        body.append("</table>")
    else:
        body.append('<p class="small">None.</p>')
    body.append("<h2>Due in the next 90 days</h2>")
    if report.calendar:
        body.append("<table><tr><th>Week of</th><th>Trials</th></tr>")
        for week in report.calendar:
            items = ", ".join(f"{_link(n)} (due {d.isoformat()})" for n, d in week.trials)
            body.append(f'<tr><td class="n">{week.starts.isoformat()}</td><td>{items}</td></tr>')
        body.append("</table>")
    else:
        body.append('<p class="small">Nothing falls due.</p>')
    body.append(f"<h2>{h(since_line(report))}</h2>")
    if report.transitions:
        body.append("<ul>")
        body.extend(f"<li>{_link(t.nct_id)}: {h(t.reason)}</li>" for t in report.transitions)
        body.append("</ul>")
    others = [t for t in report.trials if t.obligation.state is not ResultsState.OVERDUE]
    if others:
        body.append("<h2>The other trials</h2>")
        body.append("<table><tr><th>Trial</th><th>Results</th><th>Due</th><th>Why</th></tr>")
        for t in others:
            body.append(
                f'<tr><td class="n">{_link(t.nct_id)}</td>'
                f'<td class="n">{h(STATE_WORDS[t.obligation.state])}</td>'
                f'<td class="n">{h(_due(t))}</td><td>{h(t.title or "")}'
                f'<div class="small">{h(t.obligation.reason)}</div></td></tr>'
            )
        body.append("</table>")
    if report.audit.errors:
        body.append('<ul class="errors">')
        body.extend(f"<li>{h(t.nct_id)}: {h(t.error or '')}</li>" for t in report.audit.errors)
        body.append("</ul>")
    body.append(f'<p class="standing">{h(STANDING_NOTE)}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title_line(report))}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
