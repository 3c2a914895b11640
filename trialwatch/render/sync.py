"""What a sync, a worker and ``sync --status`` say: a few lines of counts (the changes
themselves are rows; ``trialwatch events`` reads them), or JSON (schema ``trialwatch.sync/1``)."""

from __future__ import annotations

from typing import Any

from trialwatch.sanitize import dumps, terminal
from trialwatch.store.jobs import Progress
from trialwatch.sync.run import SyncReport, SyncState, Tally

SCHEMA = "trialwatch.sync/1"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def tally_words(t: Tally) -> str:
    parts = [
        f"{t.changed:,} changed ({_n(t.events, 'event')} stored)",
        f"{t.new:,} new",
        f"{t.unchanged:,} unchanged",
        _n(len(t.errors), "error"),
    ]
    if t.gone:
        parts.append(f"{len(t.gone):,} left the registry")
    return ", ".join(parts)


def report_text(r: SyncReport) -> str:
    lines = [f"Synced {r.what}: {_n(r.read, 'record')} read, {r.queued:,} to compare."]
    if r.swept is not None:
        lines.append(f"Sweep: the registry lists {_n(r.swept, 'trial')}.")
    lines.append(f"Stored: {tally_words(r.tally)}.")
    if r.left:
        lines.append(
            f"{_n(r.left, 'trial')} still to compare: trialwatch worker processes do them "
            "(trialwatch sync --status shows how far they are)."
        )
    if r.through:
        lines.append(f"Next sync asks for updates posted since the day before {r.through}.")
    for nct, error in r.tally.errors[:20]:
        lines.append(f"  {nct}: {error}")
    if r.tally.changed or r.tally.gone:
        lines.append("What changed: trialwatch events (--since DATE, --type T), or SQL.")
    return terminal("\n".join(lines)) + "\n"


def tally_json(t: Tally) -> dict[str, Any]:
    return {
        "new": t.new,
        "changed": t.changed,
        "unchanged": t.unchanged,
        "events": t.events,
        "left_registry": sorted(t.gone),
        "errors": [{"nct_id": n, "error": e} for n, e in t.errors],
    }


def report_json(r: SyncReport) -> str:
    data = {
        "schema": SCHEMA,
        "what": r.what,
        "read": r.read,
        "queued": r.queued,
        "swept": r.swept,
        "stored": tally_json(r.tally),
        "left": r.left,
        "through": r.through,
        "seconds": round(r.seconds, 3),
    }
    return dumps(data, indent=2) + "\n"


def worker_text(t: Tally) -> str:
    return (
        terminal(f"Compared {_n(t.new + t.changed + t.unchanged, 'trial')}: {tally_words(t)}.")
        + "\n"
    )


def status_text(state: SyncState, p: Progress, bar: bool = False) -> str:
    if not state.started and not p.total:
        return (
            "Nothing synced into this store yet (trialwatch sync --from-file "
            "ctg-studies.json.zip, or --query cond=…).\n"
        )
    what = "a population" if state.population else "the whole registry"
    lines = [f"Sync of {what} (started from {state.source or 'an earlier sync'})."]
    when = []
    if state.through:
        when.append(f"updates posted up to {state.through}")
    if state.last_sync:
        when.append(f"last sync {state.last_sync[:16].replace('T', ' ')} UTC")
    if state.last_sweep:
        when.append(f"last sweep {state.last_sweep[:10]}")
    if when:
        lines.append("  " + "; ".join(when) + ".")
    queue = [f"{p.done:,} done", f"{p.todo:,} waiting"]
    if p.claimed:
        queue.append(f"{p.claimed:,} being compared")
    if p.expired:
        queue.append(f"{p.expired:,} whose worker stopped (another takes them over)")
    if p.failed:
        queue.append(f"{p.failed:,} failed")
    lines.append(f"  Queue: {', '.join(queue)}.")
    if bar and p.total:
        width = 40
        filled = round(width * (p.done + p.failed) / p.total)
        share = 100 * (p.done + p.failed) / p.total
        lines.append(f"  [{'█' * filled}{'░' * (width - filled)}] {share:.0f}%")
    for nct, error in p.errors or []:
        lines.append(f"  failed: {nct}: {error}")
    return terminal("\n".join(lines)) + "\n"


def status_json(state: SyncState, p: Progress) -> str:
    data = {
        "schema": SCHEMA,
        "population": state.population,
        "source": state.source,
        "through": state.through,
        "last_sync": state.last_sync,
        "last_sweep": state.last_sweep,
        "done": p.done,
        "claimed": p.claimed,
        "expired": p.expired,
        "todo": p.todo,
        "failed": p.failed,
        "left": p.left,
        "errors": [{"nct_id": n, "error": e} for n, e in p.errors or []],
    }
    return dumps(data, indent=2) + "\n"
