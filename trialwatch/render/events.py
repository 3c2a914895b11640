"""`trialwatch events`: the stored changes and events as text (a line each), JSON
(``trialwatch.events/1``), CSV (one row each, cells never formulas) or NDJSON (one JSON object
a line, each with its cursor, then ``{"next_cursor": N}``: what a consumer stores to ask for
the rows after it)."""

from __future__ import annotations

import csv
import io

from trialwatch.sanitize import dumps, spreadsheet_cell, terminal
from trialwatch.store.events import Row, next_cursor

SCHEMA = "trialwatch.events/1"
CSV_COLUMNS = (
    "nct_id",
    "date",
    "seen",
    "kind",
    "type",
    "category",
    "headline",
    "old_snapshot",
    "new_snapshot",
)


def day(row: Row) -> str:
    """The day a change was made: the sponsor's update, else the day trialwatch saw it."""
    return (row.made_on or row.seen)[:10]


def render_text(rows: list[Row]) -> str:
    if not rows:
        return "No stored change matches (trialwatch events --help lists the filters).\n"
    return "".join(f"{day(r)}  {terminal(r.nct)}  {terminal(r.headline)}\n" for r in rows)


def render_json(rows: list[Row]) -> str:
    return dumps({"schema": SCHEMA, "events": [r.to_json() for r in rows]}, indent=2) + "\n"


def render_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        values: list[str | None] = [r.nct, day(r), r.seen, r.kind, r.type, r.category]
        values.append(r.headline)
        values += [r.old_snapshot, r.new_snapshot]
        writer.writerow([spreadsheet_cell(v) for v in values])
    return buffer.getvalue()


def render_ndjson_rows(rows: list[Row]) -> str:
    """Each row on a line of its own, with its cursor."""
    return "".join(dumps({"schema": SCHEMA, **r.to_json()}) + "\n" for r in rows)


def render_ndjson(rows: list[Row], after: int = 0) -> str:
    return render_ndjson_rows(rows) + dumps({"next_cursor": next_cursor(rows, after)}) + "\n"
