"""`trialwatch history`: a trial's story in text, Markdown and JSON (HTML with its picture is
in :mod:`trialwatch.timeline.svg`). Registry text is cleaned for each format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from trialwatch.changes.baseline import title_of
from trialwatch.changes.dates import span_words
from trialwatch.changes.sentences import counted, fmt, kind_word
from trialwatch.changes.words import status_words
from trialwatch.sanitize import markdown as md
from trialwatch.sanitize import terminal as clean
from trialwatch.timeline.story import (
    KEY_DATES,
    DateLedger,
    Step,
    date_ledgers,
    original_vs_current,
    outcome_changes_after_start,
    status_time,
)

SCHEMA = "trialwatch.history/1"


@dataclass
class Story:
    nct_id: str
    title: str | None
    steps: list[Step]  # all, oldest first (ledgers are over all of them)
    shown: list[Step]  # those after --since
    ledgers: list[DateLedger]
    statuses: list[tuple[str, int]]
    first_start: str | None
    outcomes_after_start: list[tuple[str, str]]
    original: list[dict[str, Any]] | None
    notes: list[str] = field(default_factory=list)
    # The posted results against the outcomes as first registered, in words (since 0.5).
    results_vs_original: list[str] = field(default_factory=list)
    registry_versions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "nct_id": self.nct_id,
            "title": self.title,
            "notes": list(self.notes),
            "registry_versions": self.registry_versions,
            "steps": [s.to_json() for s in self.shown],
            "date_ledger": [ledger.to_json() for ledger in self.ledgers],
            "status_time": [{"status": s, "days": d} for s, d in self.statuses],
            "first_registered_start": self.first_start,
            "outcome_changes_after_start": [
                {"at": at, "event": text} for at, text in self.outcomes_after_start
            ],
            "original": self.original,
            "results_vs_original": list(self.results_vs_original),
        }


def tell(
    nct_id: str,
    steps: list[Step],
    original_data: dict[str, Any] | None,
    *,
    since: str | None = None,
    with_original: bool = False,
    today: dt.date | None = None,
) -> Story:
    first_start, after = outcome_changes_after_start(steps)
    registry = sum(1 for s in steps if s.source == "registry")
    notes = []
    if not registry:
        notes.append(
            f"only trialwatch's own snapshots: `trialwatch backfill {nct_id}` adds the "
            "registry's versions since registration"
        )
    return Story(
        nct_id=nct_id,
        title=title_of(steps[-1].record) if steps else None,
        steps=steps,
        shown=[s for s in steps if not since or s.date >= since],
        ledgers=date_ledgers(steps),
        statuses=status_time(steps, today),
        first_start=first_start,
        outcomes_after_start=after,
        original=original_vs_current(steps, original_data) if with_original else None,
        results_vs_original=_results_vs_original(steps),
        notes=notes,
        registry_versions=registry,
    )


def since_registration(steps: list[Step]) -> str:
    """One line for a trial's first report: "since registration (2019-04-29): 6 versions;
    primary completion moved 3 times, 2021-12-31 → 2025-01-29 in all (later by …)"."""
    registry = [s for s in steps if s.source == "registry"]
    if not registry:
        return "the registry holds no earlier version"
    parts = [f"since registration ({registry[0].date}): {counted(len(registry), 'version')}"]
    for ledger in date_ledgers(registry):
        if ledger.field == "primaryCompletionDateStruct" and ledger.first:
            sentence = ledger.sentence()
            parts.append(sentence[0].lower() + sentence[1:])
    first, last = registry[0].enrollment(), registry[-1].enrollment()
    if first[0] is not None and last[0] is not None and first[0] != last[0]:
        parts.append(f"enrollment {first[0]} → {last[0]}")
    _start, after = outcome_changes_after_start(registry)
    if after:
        parts.append(f"{len(after)} outcome change{'s' if len(after) != 1 else ''} after the start")
    return "; ".join(parts)


def _date(step: Step, field_name: str) -> str:
    date, kind = step.key_date(field_name)
    if not date:
        return ""
    return f"{date} ({kind_word(kind)})" if kind else date


def _enrollment(step: Step) -> str:
    count, kind = step.enrollment()
    if count is None:
        return ""
    return f"{count} ({kind_word(kind)})" if kind else str(count)


def _what(step: Step, first: bool) -> str:
    if step.events:
        return "; ".join(step.events)
    if first:
        return "(registered)" if step.version == 0 else "(first seen)"
    if step.changes:
        return f"{step.changes} field change{'s' if step.changes != 1 else ''}"
    return "no change a reader would see"


def rows(story: Story) -> list[list[str]]:
    out = []
    for step in story.shown:
        label = step.label + (f" = {', '.join(step.also)}" if step.also else "")
        out.append(
            [
                label,
                step.date,
                status_words(step.status()) if step.status() else "",
                *(_date(step, f) for f in KEY_DATES),
                _enrollment(step),
                _what(step, step is story.steps[0]),
            ]
        )
    return out


HEADERS = ["version", "date", "status", "start", "primary completion", "completion", "enrollment"]


def _results_vs_original(steps: list[Step]) -> list[str]:
    """With the registry's versions stored, the posted results against the registration as
    first made (the current protocol's own comparison is the results events')."""
    from trialwatch.changes.events.reported import against

    if len(steps) < 2 or steps[0].source != "registry":
        return []
    try:
        return against(steps[-1].record, steps[0].record, f"first registered ({steps[0].date})")
    except (TypeError, ValueError, AttributeError, KeyError):
        return []


def _summary_lines(story: Story) -> list[str]:
    lines = [ledger.sentence() for ledger in story.ledgers]
    if story.statuses:
        lines.append(
            "Time in each status: "
            + "; ".join(f"{status_words(s)} {span_words(d)}" for s, d in story.statuses)
        )
    lines += story.results_vs_original
    if story.first_start:
        if story.outcomes_after_start:
            lines.append(
                f"Outcome changes after the trial started ({story.first_start}, as first "
                f"registered): {len(story.outcomes_after_start)}"
            )
        else:
            lines.append(
                f"No outcome change after the trial started ({story.first_start}, as first "
                "registered)"
            )
    return lines


def render_text(story: Story) -> str:
    out = [clean(f"{story.nct_id}  {story.title or ''}").rstrip()]
    out += [clean(f"  ({note})") for note in story.notes]
    versions = len(story.steps)
    out.append(
        f"  {versions} version{'s' if versions != 1 else ''} known"
        f" ({story.registry_versions} from the registry)"
    )
    out.append("")
    for step, row in zip(story.shown, rows(story), strict=True):
        label, date, status, start, pcd, completion, enrollment, what = row
        out.append(clean(f"{label:<8} {date:<10}  {status}"))
        facts = [
            f"start {start}" if start else "",
            f"primary completion {pcd}" if pcd else "",
            f"completion {completion}" if completion else "",
            f"enrollment {enrollment}" if enrollment else "",
        ]
        out.append(clean("    " + "; ".join(f for f in facts if f)))
        for piece in step.events or [what]:
            out.append(clean(f"    ▸ {piece}"))
    out.append("")
    out.append("Ledger")
    out += [clean(f"  {line}") for line in _summary_lines(story)]
    for at, text in story.outcomes_after_start:
        out.append(clean(f"    {at}: {text}"))
    if story.original is not None:
        out.append("")
        out.append("Original and current")
        for row_ in story.original:
            if row_["same"]:
                out.append(clean(f"  {row_['name'].capitalize()}: unchanged since registration"))
            else:
                out.append(
                    clean(
                        f"  {row_['name'].capitalize()}: {_value(row_['original'])} → "
                        f"{_value(row_['current'])} (original from {row_['source']})"
                    )
                )
    return "\n".join(out) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        names = []
        for v in value:
            name = fmt(v.get("measure") or v.get("name") or "", 120)
            if v.get("timeFrame"):
                name += f" ({fmt(v.get('timeFrame'), 60)})"
            names.append(name)
        return "; ".join(names) or fmt(value)
    if isinstance(value, dict):
        if "count" in value:
            kind = value.get("type")
            return f"{value.get('count')}" + (f" ({kind_word(kind)})" if kind else "")
        if "date" in value:
            kind = value.get("type")
            return f"{value.get('date')}" + (f" ({kind_word(kind)})" if kind else "")
        if "name" in value:
            return fmt(value.get("name"))
    return fmt(value, 200)


def render_markdown(story: Story) -> str:
    out = [f"## {md(story.nct_id)} — {md(story.title or '')}", ""]
    out += [f"> {md(note)}" for note in story.notes]
    if story.notes:
        out.append("")
    out.append("| " + " | ".join([*HEADERS, "what changed"]) + " |")
    out.append("|" + " --- |" * (len(HEADERS) + 1))
    for row in rows(story):
        out.append("| " + " | ".join(md(cell) for cell in row) + " |")
    out.append("")
    out.append("**Ledger**")
    out.append("")
    out += [f"- {md(line)}" for line in _summary_lines(story)]
    out += [f"  - {md(at)}: {md(text)}" for at, text in story.outcomes_after_start]
    if story.original is not None:
        out += ["", "**Original and current**", "", "| field | original | current |"]
        out.append("| --- | --- | --- |")
        for r in story.original:
            current = "unchanged" if r["same"] else md(_value(r["current"]))
            out.append(f"| {md(r['name'])} | {md(_value(r['original']))} | {current} |")
    return "\n".join(out) + "\n"


def render_json(story: Story) -> str:
    from trialwatch.sanitize import dumps

    return dumps(story.to_json(), indent=2) + "\n"
