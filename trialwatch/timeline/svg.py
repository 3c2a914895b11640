"""`trialwatch history --format html` (and the site's trial pages): the story with its picture.

The picture is inline SVG (no script, no network): time runs left to right along a date axis
with yearly ticks (monthly for a short life), from the first version to today. At the top, one
band per status, named in the band where it fits and in a legend under it. Below, the key dates
as registered at each version, drawn as staircases against their own date scale: a date that
slips climbs. Then the enrollment as registered, with its numbers where it changed, and a mark
at every version (red: it changed an outcome, or moved a date after the fact), with its events
as the mark's title (a tooltip in a browser). A dashed line is today; a dotted line the results
deadline where the record gives one. :data:`EXPLAINED` says all this in words, beside the
picture. All registry text is escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from trialwatch.changes.dates import day_of, first_day, parse_partial
from trialwatch.changes.words import status_words
from trialwatch.sanitize import html_text
from trialwatch.timeline.render import HEADERS, Story, _summary_lines, _value, rows
from trialwatch.timeline.story import KEY_DATES, Step

WIDTH, LEFT, RIGHT = 960, 150, 20
BAND_Y, BAND_H = 30, 22
LEGEND_Y = 68
DATES_Y, DATES_H = 92, 196
ENROL_Y, ENROL_H = 330, 56
MARKS_Y = 414
AXIS_Y = 432
HEIGHT = 470

EXPLAINED = (
    "How to read the picture: time runs left to right along the date axis at the bottom, from "
    "the first version known to today. The band at the top is the overall status at each "
    "version, one colour per status (the legend under it names them). Below, each key date "
    "as it was registered at each version, on its own date scale: a line that climbs is a date "
    "that slipped later. Then the enrollment as registered, with its numbers where it changed. "
    "Each mark at the bottom is a version; a red mark is a version that changed an outcome or "
    "moved a date after the fact, and its headlines show when you point at it. The dashed line "
    "is today; the dotted line, where there is one, is the day results are due under FDAAA "
    "(primary completion + 1 year) if the law applies to the trial."
)

_STATUS_COLOURS = {
    "NOT_YET_RECRUITING": "#d0d7de",
    "RECRUITING": "#2da44e",
    "ENROLLING_BY_INVITATION": "#6cc644",
    "ACTIVE_NOT_RECRUITING": "#218bff",
    "SUSPENDED": "#d4a72c",
    "COMPLETED": "#8250df",
    "TERMINATED": "#cf222e",
    "WITHDRAWN": "#6e7781",
    "UNKNOWN": "#afb8c1",
}
_DATE_COLOURS = {
    "startDateStruct": "#57606a",
    "primaryCompletionDateStruct": "#cf222e",
    "completionDateStruct": "#8250df",
}


def _t(value: str) -> str:
    """Registry text as XML/HTML text: escaped, control characters removed."""
    return html_text(value)


def _ordinal(day: dt.date) -> float:
    return float(day.toordinal())


def timeline_svg(story: Story, today: dt.date | None = None) -> str:
    dated = [(s, d) for s in story.steps if (d := day_of(s.date)) is not None]
    if not dated:
        return ""
    steps = [s for s, _ in dated]
    days = [d for _, d in dated]
    start = min(days)
    end = max(days)
    last_day = max(today or end, end)
    x0 = _ordinal(start)
    x1 = max(_ordinal(last_day) + 1, x0 + 30)  # a month at least: a one-day life is a line

    def x(day: dt.date) -> float:
        return LEFT + (_ordinal(day) - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    # Where each version holds on the time axis: from its day to the next version's day (the
    # last one to the right edge). Bands and staircases are drawn over these.
    ends = [x(d) for d in days[1:]] + [WIDTH - RIGHT]
    spans = [(x(d), right) for d, right in zip(days, ends, strict=True)]

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_t(story.nct_id)} timeline" font-family="sans-serif" font-size="11">',
        f"<title>{_t(story.nct_id)}: status, key dates and enrollment at each version</title>",
    ]
    # Status bands.
    out.append(f'<text x="8" y="{BAND_Y + 15}">Status</text>')
    for i, (step, (left, right)) in enumerate(zip(steps, spans, strict=True)):
        status = step.status() or "UNKNOWN"
        words = status_words(status)
        out.append(
            f'<rect class="status" data-status="{_t(status)}" x="{left:.1f}" y="{BAND_Y}" '
            f'width="{max(right - left, 1):.1f}" height="{BAND_H}" '
            f'fill="{_STATUS_COLOURS.get(status, "#afb8c1")}"><title>{_t(words)} from '
            f"{_t(step.date)}</title></rect>"
        )
        previous = steps[i - 1].status() if i else None
        if status != previous and right - left > 8 * len(words):  # named where it begins
            dark = status in ("NOT_YET_RECRUITING", "UNKNOWN")
            out.append(
                f'<text class="status-name" x="{left + 4:.1f}" y="{BAND_Y + 15}" '
                f'fill="{"#1f2328" if dark else "#ffffff"}">{_t(words)}</text>'
            )
    # The legend of the status colours, in the order the trial went through them.
    seen: list[str] = []
    for step in steps:
        status = step.status() or "UNKNOWN"
        if status not in seen:
            seen.append(status)
    lx = LEFT
    for status in seen:
        words = status_words(status)
        out.append(
            f'<rect class="legend" x="{lx}" y="{LEGEND_Y - 9}" width="10" height="10" '
            f'fill="{_STATUS_COLOURS.get(status, "#afb8c1")}"/>'
            f'<text class="legend" x="{lx + 14}" y="{LEGEND_Y}">{_t(words)}</text>'
        )
        lx += 24 + 6 * len(words)
    # Key dates as registered: staircases.
    registered = []
    for field_name in KEY_DATES:
        for step in steps:
            value = parse_partial(step.key_date(field_name)[0])
            if value is not None:
                registered.append(first_day(value))
    if registered:
        low, high = min(registered), max(registered)
        if low == high:
            high = low + dt.timedelta(days=30)

        def y(day: dt.date) -> float:
            return DATES_Y + DATES_H - (day - low).days / (high - low).days * DATES_H

        out.append(f'<text x="8" y="{DATES_Y + 12}">Key dates as</text>')
        out.append(f'<text x="8" y="{DATES_Y + 26}">registered</text>')
        out.append(f'<text x="{LEFT - 6}" y="{DATES_Y + 4}" text-anchor="end">{high}</text>')
        out.append(f'<text x="{LEFT - 6}" y="{DATES_Y + DATES_H}" text-anchor="end">{low}</text>')
        for row, (field_name, name) in enumerate(KEY_DATES.items()):

            def registered_at(step: Step, field_name: str = field_name) -> float | None:
                value = parse_partial(step.key_date(field_name)[0])
                return None if value is None else y(first_day(value))

            points = _stairs(steps, spans, registered_at)
            if points:
                colour = _DATE_COLOURS[field_name]
                out.append(
                    f'<polyline class="key-date" data-field="{field_name}" fill="none" '
                    f'stroke="{colour}" stroke-width="2" points="{" ".join(points)}">'
                    f"<title>{_t(name)}</title></polyline>"
                )
                out.append(
                    f'<text x="{LEFT + 8 + row * 150}" y="{DATES_Y + DATES_H + 16}" '
                    f'fill="{colour}">— {_t(name)}</text>'
                )
    # Enrollment as registered.
    counts = [(s, s.enrollment()[0]) for s in steps]
    known = [c for _, c in counts if c is not None]
    if known:
        top = max(known) or 1
        out.append(f'<text x="8" y="{ENROL_Y + 14}">Enrollment</text>')

        def enrolled(step: Step) -> float | None:
            count = step.enrollment()[0]
            return None if count is None else ENROL_Y + ENROL_H - count / top * ENROL_H

        points = _stairs(steps, spans, enrolled)
        out.append(
            f'<polyline class="enrollment" fill="none" stroke="#0969da" stroke-width="2" '
            f'points="{" ".join(points)}"><title>enrollment, {min(known)} to {max(known)}'
            "</title></polyline>"
        )
        # The numbers, where the count changed (and at the first version), kept apart.
        last_count, last_x = None, -1e9
        for step, (left, _right) in zip(steps, spans, strict=True):
            count, kind = step.enrollment()
            if count is None or count == last_count:
                continue
            level = ENROL_Y + ENROL_H - count / top * ENROL_H
            if left - last_x >= 40:
                word = " est." if kind == "ESTIMATED" else ""
                out.append(
                    f'<text class="enrollment-count" x="{left + 2:.1f}" y="{level - 4:.1f}" '
                    f'fill="#0969da">{count:,}{word}</text>'
                )
                last_x = left
            last_count = count
    # One mark per version; its events are its title.
    out.append(f'<text x="8" y="{MARKS_Y + 4}">Versions</text>')
    for step, (left, _right) in zip(steps, spans, strict=True):
        said = "; ".join(step.events) or ("registered" if step is steps[0] else "no event")
        flagged = any(t.startswith("outcome_") or "after" in t for t in step.event_types)
        out.append(
            f'<circle class="version{" flagged" if flagged else ""}" data-label="'
            f'{_t(step.label)}" cx="{left:.1f}" cy="{MARKS_Y}" r="{5 if flagged else 3.5}" '
            f'fill="{"#cf222e" if flagged else "#57606a"}"><title>{_t(step.label)} '
            f"({_t(step.date)}): {_t(said)}</title></circle>"
        )
    # The date axis, with ticks at each year (each month for a life under two years).
    out.append(
        f'<line x1="{LEFT}" y1="{AXIS_Y}" x2="{WIDTH - RIGHT}" y2="{AXIS_Y}" stroke="#8c959f"/>'
    )
    for tick, label in _ticks(start, dt.date.fromordinal(int(x1))):
        tx = x(tick)
        out.append(
            f'<line class="tick" x1="{tx:.1f}" y1="{AXIS_Y}" x2="{tx:.1f}" y2="{AXIS_Y + 5}" '
            f'stroke="#8c959f"/><text class="tick" x="{tx:.1f}" y="{AXIS_Y + 17}" '
            f'text-anchor="middle">{label}</text>'
        )
    # Today, and the day results are due where the record gives a completion date.
    if today is not None and start <= today:
        tx = x(today)
        out.append(
            f'<line class="today" x1="{tx:.1f}" y1="{BAND_Y - 6}" x2="{tx:.1f}" y2="{AXIS_Y}" '
            f'stroke="#1f2328" stroke-dasharray="4 3"><title>today, {today}</title></line>'
            f'<text x="{tx - 3:.1f}" y="{BAND_Y - 9}" text-anchor="end">today</text>'
        )
    due = _results_due(steps[-1])
    if due is not None and start <= due <= dt.date.fromordinal(int(x1)):
        dx = x(due)
        out.append(
            f'<line class="deadline" x1="{dx:.1f}" y1="{BAND_Y - 17}" x2="{dx:.1f}" '
            f'y2="{AXIS_Y}" stroke="#cf222e" stroke-dasharray="1 3" stroke-width="2">'
            f"<title>results due {due} if FDAAA applies</title></line>"
        )
        # On a row of its own above today's label; right-aligned near the right edge.
        anchor, label_x = ("end", dx - 3) if dx > WIDTH - RIGHT - 140 else ("start", dx + 3)
        out.append(
            f'<text x="{label_x:.1f}" y="{BAND_Y - 20}" text-anchor="{anchor}" fill="#cf222e">'
            f"results due {due}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _ticks(start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
    """Yearly ticks (1 January), or monthly ones for a span under two years."""
    if (end - start).days >= 730:
        return [(dt.date(y, 1, 1), str(y)) for y in range(start.year + 1, end.year + 1)]
    out: list[tuple[dt.date, str]] = []
    y, m = start.year, start.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        day = dt.date(y, m, 1)
        if day > end:
            return out
        out.append((day, f"{y}-{m:02d}" if m == 1 or not out else f"{m:02d}"))


def _results_due(step: Step) -> dt.date | None:
    from trialwatch.changes.events.results import deadline

    try:
        found = deadline(step.record)
    except (TypeError, ValueError):
        return None
    return found.due if found is not None else None


def _stairs(
    steps: list[Step],
    spans: list[tuple[float, float]],
    level: Callable[[Step], float | None],
) -> list[str]:
    """Polyline points of a value as registered at each version, held until the next one."""
    points = []
    for step, (left, right) in zip(steps, spans, strict=True):
        height = level(step)
        if height is not None:
            points.append(f"{left:.1f},{height:.1f}")
            points.append(f"{right:.1f},{height:.1f}")
    return points


_CSS = (
    "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328;"
    "max-width:62em;margin:1em auto;padding:0 1em}table{border-collapse:collapse;font-size:.9em}"
    "td,th{padding:.2em .6em;border-bottom:1px solid #d0d7de;vertical-align:top;text-align:left}"
    ".note{color:#57606a}svg{max-width:100%;height:auto}.scroll{overflow-x:auto}"
)


def render_html(story: Story, today: dt.date | None = None) -> str:
    body = [f"<h1>{_t(story.nct_id)} — {_t(story.title or '')}</h1>"]
    body += [f'<p class="note">{_t(note)}</p>' for note in story.notes]
    body.append(timeline_svg(story, today))
    body.append(f'<p class="note">{_t(EXPLAINED)}</p>')
    body += story_sections(story)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_t(story.nct_id)} history</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def story_sections(story: Story) -> list[str]:
    """The versions table, the ledger and the original against the current registration."""
    # Each table in a box of its own width: on a narrow screen it scrolls within the box, the
    # page never sideways.
    body = ['<h2>Versions</h2><div class="scroll"><table><tr>']
    body.append("".join(f"<th>{_t(h)}</th>" for h in [*HEADERS, "what changed"]) + "</tr>")
    for step, row in zip(story.shown, rows(story), strict=True):
        cells = [_t(c) for c in row[:-1]]
        what = "<br>".join(_t(e) for e in step.events) or _t(row[-1])
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in [*cells, what]) + "</tr>")
    body.append("</table></div><h2>Ledger</h2><ul>")
    body += [f"<li>{_t(line)}</li>" for line in _summary_lines(story)]
    body += [f"<li>{_t(at)}: {_t(text)}</li>" for at, text in story.outcomes_after_start]
    body.append("</ul>")
    if story.original is not None:
        body.append('<h2>Original and current</h2><div class="scroll"><table>')
        body.append("<tr><th>field</th><th>original</th><th>current</th></tr>")
        for r in story.original:
            current = "unchanged" if r["same"] else _t(_value(r["current"]))
            body.append(
                f"<tr><td>{_t(r['name'])}</td><td>{_t(_value(r['original']))}</td>"
                f"<td>{current}</td></tr>"
            )
        body.append("</table></div>")
    return body
