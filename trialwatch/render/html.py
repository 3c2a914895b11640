"""One self-contained HTML page (inline CSS), for mail and for a browser."""

from __future__ import annotations

from trialwatch.model import Change, Kind, Outcome, RunReport, TrialReport
from trialwatch.render.common import (
    DETAILS_SHOWN,
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
from trialwatch.render.worddiff import CSS as DIFF_CSS
from trialwatch.render.worddiff import html_diff, worth_showing
from trialwatch.sanitize import html_text as h

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;max-width:60em;
margin:1em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
.status{color:#57606a;font-style:italic}.cat{font-weight:600;margin:.8em 0 .2em}
ul{margin:.2em 0 .6em 1.2em;padding:0}.headline{font-weight:600}
.added{color:#1a7f37}.removed{color:#cf222e}.admin{color:#57606a}
.detail{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;list-style:none}
.errors{background:#fff8f8;border:1px solid #cf222e;padding:.5em 1em}
table{border-collapse:collapse}td{padding:.1em .8em .1em 0;vertical-align:top}
.context{color:#57606a;font-size:.9em}.warning{color:#9a6700}.by{color:#57606a;font-weight:400}
.summary{background:#f6f8fa;padding:.4em 1.6em;border-radius:6px}
"""


def _trial(t: TrialReport) -> list[str]:
    out = [
        (
            f'<h2><a href="{h(study_url(t.nct_id))}">{h(t.nct_id)}</a>'
            if study_url(t.nct_id)
            else f"<h2>{h(t.nct_id)}"
        )
        + (f" ({h(t.label)})" if t.label else "")
        + (f" — {h(t.title)}" if t.title else "")
        + "</h2>",
        f'<p class="status">{h(status_line(t))}</p>',
    ]
    if t.warning:
        out.append(f'<p class="warning"><strong>Warning:</strong> {h(t.warning)}</p>')
    out.extend(f'<p class="context">{h(note)}</p>' for note in t.notes)
    if t.baseline is not None:
        rows = "".join(
            f"<tr><td>{h(k)}</td><td>{h(v)}</td></tr>" for k, v in baseline_rows(t.baseline)
        )
        out.append(f"<table>{rows}</table>")
    out.extend(f'<p class="context">({h(c)})</p>' for c in t.context)
    out.extend(change_blocks(t))
    return out


def change_blocks(t: TrialReport) -> list[str]:
    """A trial's summary (its events) and details (every change, by category) as HTML, with
    word-level changes marked: the body of a report, a mail and a site page."""
    out: list[str] = []
    events = summary(t)
    by_id = {c.id: c for c in t.changes}
    if events:
        out.append('<div class="cat">Summary</div><ul class="summary">')
        for e in events:
            by = f' <span class="by">({h(who(e))})</span>' if who(e) else ""
            out.append(f'<li class="headline">{h(e.headline)}{by}')
            out.extend(_detail_list(e.details))
            # The texts it covers, their words marked (the details do not repeat them).
            diffs = [d for i in e.changes if i in by_id and (d := _text_diff(by_id[i]))]
            out.extend(diffs[:DETAILS_SHOWN])
            out.append("</li>")
        out.append("</ul>")
    rest = details(t)
    if events and rest:
        out.append('<div class="cat">Details</div>')
    for category, changes in grouped(rest):
        out.append(f'<div class="cat">{h(category_title(category))}</div><ul>')
        for c in changes:
            classes = []
            if c.headline:
                classes.append("headline")
            if c.kind is Kind.ADDED:
                classes.append("added")
            elif c.kind is Kind.REMOVED:
                classes.append("removed")
            if not c.material:
                classes.append("admin")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            out.append(f"<li{cls}>{h(c.sentence)}")
            diff = _text_diff(c)
            if diff:
                out.append(diff)  # the words, not brackets
            else:
                out.extend(_detail_list(c.details))
            out.append("</li>")
        out.append("</ul>")
    return out


def _text_diff(c: Change) -> str | None:
    """A text change's words marked up (<del>/<ins>), or None when it is no such change."""
    if c.kind is Kind.CHANGED and worth_showing(c.old, c.new):
        return html_diff(str(c.old), str(c.new))
    return None


def _detail_list(items: tuple[str, ...]) -> list[str]:
    if not items:
        return []
    out = ["<ul>"]
    for d in items[:DETAILS_SHOWN]:
        dc = "added" if d.startswith("+") else "removed" if d.startswith("−") else "note"
        out.append(f'<li class="detail {dc}">{h(d)}</li>')
    if len(items) > DETAILS_SHOWN:
        out.append(f'<li class="detail">… {len(items) - DETAILS_SHOWN} more</li>')
    out.append("</ul>")
    return out


def _queries(report: RunReport) -> list[str]:
    out: list[str] = []
    for q in report.queries:
        out.append(f"<h2>{h(query_heading(q))}</h2>")
        status = query_status(q)
        if status is not None:
            out.append(f'<p class="{"errors" if q.error else "context"}">{h(status)}</p>')
            continue
        for name, items, cls in (("New", q.new, "added"), ("Left the search", q.left, "removed")):
            if not items:
                continue
            out.append(f'<div class="cat">{h(name)} ({len(items)})</div><ul>')
            for m in items[:MATCHES_SHOWN]:
                url = study_url(m.nct_id)
                link = f'<a href="{h(url)}">{h(m.nct_id)}</a>' if url else h(m.nct_id)
                rest = match_line(m)[len(m.nct_id) :]
                out.append(f'<li class="{cls}">{link}{h(rest)}</li>')
            if len(items) > MATCHES_SHOWN:
                out.append(f"<li>… and {len(items) - MATCHES_SHOWN} more</li>")
            out.append("</ul>")
        if q.updated:
            out.append(
                f'<p><span class="cat">Updated ({len(q.updated)}):</span> '
                f"{h(', '.join(q.updated))}</p>"
            )
    return out


def render_html(report: RunReport, title: str = "trialwatch report") -> str:
    body = [f"<h1>{h(title)}</h1>", f"<p>{h(summary_line(report))}</p>"]
    body.extend(f"<p>{h(note)}</p>" for note in report.notes)
    body.extend(_queries(report))
    if report.errors:
        body.append('<div class="errors"><b>Errors (not checked this run)</b><ul>')
        body.extend(f"<li><b>{h(t.nct_id)}</b>: {h(t.error or '')}</li>" for t in report.errors)
        body.append("</ul></div>")
    for t in ordered(report):
        if t.outcome is Outcome.ERROR or (t.outcome is Outcome.UNCHANGED and not t.changes):
            continue
        body.extend(_trial(t))
    unchanged = [t.nct_id for t in report.by_outcome(Outcome.UNCHANGED) if not t.changes]
    if unchanged:
        body.append(f'<p class="context">Unchanged: {h(", ".join(unchanged))}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{h(title)}</title><style>{CSS}{DIFF_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
