"""The site's pages as self-contained HTML: inline CSS, links between the pages relative (so
the folder reads from ``file://``, any web server or GitHub Pages), no request to any other
host. The index's table is sortable and filterable by a small inline script and readable
without it. Registry text is escaped everywhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from trialwatch.audit.signals import Signal
from trialwatch.changes.sentences import counted
from trialwatch.changes.words import status_words
from trialwatch.model import TrialReport
from trialwatch.render.common import status_line, study_url
from trialwatch.render.html import CSS as REPORT_CSS
from trialwatch.render.html import change_blocks
from trialwatch.render.worddiff import CSS as DIFF_CSS
from trialwatch.sanitize import html_text as h
from trialwatch.timeline.render import Story
from trialwatch.timeline.svg import EXPLAINED, story_sections, timeline_svg

SITE_CSS = (
    "nav{font-size:.9em;margin-bottom:.6em}nav a{margin-right:1em}"
    ".meta{color:#57606a}.signal{margin:.3em 0}.alert{color:#cf222e;font-weight:600}"
    ".warning-signal{color:#9a6700;font-weight:600}.note-signal{color:#0969da}"
    "table.list{width:100%;font-size:.92em}table.list th{text-align:left;"
    "border-bottom:2px solid #d0d7de;white-space:nowrap}table.list td{border-bottom:1px solid "
    "#eaeef2;padding:.25em .6em .25em 0}th[data-sort]{cursor:pointer}"
    "#filter{margin:.4em 0;padding:.3em;width:20em;max-width:100%}"
    ".change-set{border-left:3px solid #d0d7de;padding-left:.8em;margin:1.2em 0}"
    ".change-set h3{font-size:1em;margin:.2em 0}.legend{font-size:.9em;color:#57606a}"
    ".legend span{display:inline-block;width:.9em;height:.9em;vertical-align:middle;"
    "margin:0 .3em 0 .8em;border-radius:2px}"
    # On a phone: the history picture scales to the page, and lists stack their cells (no
    # sideways scrolling at 390 px).
    "svg.timeline{max-width:100%;height:auto}.scroll{overflow-x:auto;max-width:100%}"
    "@media (max-width:600px){table.list thead{display:none}"
    "table.list,table.list tbody,table.list tr,table.list td{display:block;width:auto}"
    "table.list tr{border-bottom:1px solid #d0d7de;padding:.3em 0}"
    "table.list td{border:0;padding:.1em 0}}"
)

# Sort by a header's column (numbers and dates as text sort right when ISO), filter by any text.
_SCRIPT = """
(function () {
  var table = document.querySelector("table.list");
  if (!table) return;
  var body = table.tBodies[0];
  var box = document.createElement("input");
  box.id = "filter"; box.type = "search"; box.placeholder = "Filter the table: any word";
  box.setAttribute("aria-label", "Filter the table");
  table.parentNode.insertBefore(box, table);
  box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    for (var i = 0; i < body.rows.length; i++) {
      var row = body.rows[i];
      row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
    }
  });
  var heads = table.tHead.rows[0].cells;
  for (var c = 0; c < heads.length; c++) {
    (function (col, th) {
      th.setAttribute("data-sort", "");
      th.title = "Sort";
      th.addEventListener("click", function () {
        var down = th.getAttribute("data-dir") !== "down";
        th.setAttribute("data-dir", down ? "down" : "up");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-key") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-key") || b.cells[col].textContent;
          return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    })(c, heads[c]);
  }
})();
"""


def page(title: str, body: list[str], *, feed: str | None = None, script: bool = False) -> str:
    head = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(title)}</title>",
        f"<style>{REPORT_CSS}{DIFF_CSS}{SITE_CSS}</style>",
    ]
    if feed:
        head.append(
            f'<link rel="alternate" type="application/atom+xml" title="{h(title)}" '
            f'href="{h(feed)}">'
        )
    tail = f"<script>{_SCRIPT}</script>" if script else ""
    return "".join(head) + "</head><body>\n" + "\n".join(body) + f"\n{tail}</body></html>\n"


@dataclass
class ChangeSet:
    """One reported change of a trial: a version and what changed since the one before."""

    anchor: str
    date: str  # the day the version was made
    seen: str  # when it was seen (RFC 3339)
    source: str  # "registry version 3", "seen by trialwatch"
    report: TrialReport

    @property
    def headline(self) -> str:
        shown = [e for e in self.report.events if not e.silent]
        if shown:
            more = len(shown) - 1
            return shown[0].headline + (f" (+{more} more)" if more else "")
        material = [c for c in self.report.changes if c.material]
        return material[0].sentence if material else "changed"


@dataclass
class TrialPage:
    nct_id: str
    title: str | None
    label: str | None
    status: str | None
    signals: list[Signal]
    story: Story
    changes: list[ChangeSet]  # newest first
    today: dt.date
    deadline: str | None = None
    notes: list[str] = field(default_factory=list)


def _signal_html(s: Signal) -> str:
    cls = {"alert": "alert", "warning": "warning-signal"}.get(s.level.value, "note-signal")
    evidence = "".join(f"<li>{h(e)}</li>" for e in s.evidence)
    # A headline that already starts with the signal's name is not given it twice.
    said = s.headline
    if said.casefold().startswith(s.name.casefold() + ":"):
        said = said[len(s.name) + 1 :].lstrip()
    return (
        f'<div class="signal"><span class="{cls}">{h(s.name[:1].upper() + s.name[1:])}:</span> '
        f'{h(said)}<ul>{evidence}<li class="meta">Rule: {h(s.rule)}</li></ul></div>'
    )


def with_code(text: str) -> str:
    """Text escaped for HTML, a command given in backticks shown as code, not as backticks."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd backtick: no code span, the text as it is
        return h(text)
    return "".join(f"<code>{h(p)}</code>" if k % 2 else h(p) for k, p in enumerate(parts))


def trial_page(p: TrialPage) -> str:
    url = study_url(p.nct_id)
    name = h(p.nct_id) + (f" ({h(p.label)})" if p.label else "")
    body = [
        '<nav><a href="../index.html">All trials</a>'
        f'<a href="{h(p.nct_id)}.atom">Feed of this trial</a>'
        + (f'<a href="{h(url)}">On ClinicalTrials.gov</a>' if url else "")
        + "</nav>",
        f"<h1>{name} — {h(p.title or 'no title')}</h1>",
        f'<p class="meta">Status: {h(status_words(p.status))}</p>',
    ]
    body += [f'<p class="meta">{with_code(n)}</p>' for n in p.notes]
    body.append("<h2>Transparency signals</h2>")
    if p.signals:
        body += [_signal_html(s) for s in p.signals]
        body.append(
            '<p class="meta">Signals are read from the registry record by published rules; '
            "they are not a legal determination.</p>"
        )
    else:
        body.append('<p class="meta">None in force.</p>')
    body.append("<h2>History</h2>")
    body.append(timeline_svg(p.story, p.today))
    body.append(f'<p class="legend">{h(EXPLAINED)}</p>')
    body.append("<h2>Changes, newest first</h2>")
    if not p.changes:
        body.append(
            '<p class="meta">No change recorded yet: the first version is the baseline.</p>'
        )
    for cs in p.changes:
        body.append(f'<div class="change-set" id="{h(cs.anchor)}">')
        body.append(f"<h3>{h(cs.date)} — {h(cs.headline)}</h3>")
        body.append(f'<p class="meta">{h(cs.source)}; {h(status_line(cs.report))}</p>')
        body += change_blocks(cs.report)
        body.append("</div>")
    body += story_sections(p.story)
    return page(f"{p.nct_id} — {p.title or ''}", body, feed=f"{p.nct_id}.atom")


@dataclass
class IndexRow:
    nct_id: str
    label: str | None
    title: str | None
    status: str | None
    last_change: str | None  # day
    headline: str | None
    signals: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "label": self.label,
            "title": self.title,
            "status": self.status,
            "last_change": self.last_change,
            "headline": self.headline,
            "signals": list(self.signals),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IndexRow:
        return cls(
            str(d["nct_id"]),
            d.get("label"),
            d.get("title"),
            d.get("status"),
            d.get("last_change"),
            d.get("headline"),
            [str(s) for s in d.get("signals") or []],
        )


@dataclass
class SearchRow:
    id: str
    name: str
    members: int | None
    last_news: str | None


def index_page(
    trials: list[IndexRow],
    searches: list[SearchRow],
    built: str,
    missing: list[str],
    subscriptions: list[str] | None = None,
) -> str:
    body = [
        '<nav><a href="feed.atom">Feed of every change</a></nav>',
        "<h1>trialwatch</h1>",
        f'<p class="meta">{counted(len(trials), "watched trial")}, '
        f"{counted(len(searches), 'search', 'searches')}; built {h(built)}.</p>",
    ]
    if missing:
        body.append(f'<p class="meta">Not checked yet (no snapshot): {h(", ".join(missing))}.</p>')
    body.append('<table class="list"><thead><tr><th>Trial</th><th>Title</th><th>Status</th>')
    body.append("<th>Last change</th><th>Signals in force</th></tr></thead><tbody>")
    for r in trials:
        name = f'<a href="trials/{h(r.nct_id)}.html">{h(r.nct_id)}</a>'
        if r.label:
            name += f'<br><span class="meta">{h(r.label)}</span>'
        change = f"{h(r.last_change)}: {h(r.headline or '')}" if r.last_change else "none yet"
        body.append(
            f'<tr><td data-key="{h(r.nct_id)}">{name}</td><td>{h(r.title or "")}</td>'
            f"<td>{h(status_words(r.status))}</td>"
            f'<td data-key="{h(r.last_change or "")}">{change}</td>'
            f"<td>{h(', '.join(r.signals)) or '—'}</td></tr>"
        )
    body.append("</tbody></table>")
    if searches:
        body.append("<h2>Searches</h2><ul>")
        for s in searches:
            members = "not checked yet" if s.members is None else counted(s.members, "trial")
            news = f"; last joined or left {h(s.last_news)}" if s.last_news else ""
            body.append(
                f'<li><a href="searches/{h(s.id)}.html">{h(s.name)}</a> — {members}{news}</li>'
            )
        body.append("</ul>")
    body += subscriptions or []
    return page("trialwatch: watched trials", body, feed="feed.atom", script=True)


@dataclass
class SearchPage:
    id: str
    name: str
    described: str  # what it asks, in words: condition “asthma”
    members: list[tuple[str, str | None, str | None]]  # (id, title, joined)
    departed: list[tuple[str, str | None, str]]  # (id, title, left)
    logged: bool


def search_page(p: SearchPage) -> str:
    body = [
        '<nav><a href="../index.html">All trials</a>'
        f'<a href="{h(p.id)}.atom">Feed of this search</a></nav>',
        f"<h1>{h(p.name)}</h1>",
        f'<p class="meta">Trials the registry finds for {h(p.described)}.</p>',
        f"<h2>Members ({len(p.members)})</h2>",
    ]
    if not p.logged:
        body.append(
            '<p class="meta">Who joined when is known from trialwatch 0.5 on; earlier '
            "members show no date.</p>"
        )
    body.append('<table class="list"><thead><tr><th>Trial</th><th>Title</th><th>Joined</th>')
    body.append("</tr></thead><tbody>")
    for nct, title, joined in p.members:
        url = study_url(nct)
        link = f'<a href="{h(url)}">{h(nct)}</a>' if url else h(nct)
        body.append(
            f"<tr><td>{link}</td><td>{h(title or '')}</td>"
            f'<td data-key="{h(joined or "")}">{h(joined or "")}</td></tr>'
        )
    body.append("</tbody></table>")
    if p.departed:
        body.append(f"<h2>Left the search ({len(p.departed)})</h2><ul>")
        for nct, title, left in p.departed:
            body.append(f"<li>{h(nct)} {h(title or '')} — left {h(left)}</li>")
        body.append("</ul>")
    return page(p.name, body, feed=f"{p.id}.atom", script=True)
