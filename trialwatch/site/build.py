"""``trialwatch site OUT_DIR``: a static site of the watch, built from the store.

Layout of OUT_DIR::

    index.html             every watched trial and search (sortable, filterable)
    feed.atom              every change of every watched trial and search, newest first
    trials/NCT….html       a trial: signals, the history picture, every change, the ledgers
    trials/NCT….atom       its feed
    searches/q….html       a search: members and when each joined; those that left, and when
    searches/q….atom       its feed
    .trialwatch-site.json  what each page was built from (for the next, incremental build)

Rebuilt incrementally: a trial's page and feed are written again only when its snapshots,
registry versions or label changed, or when the calendar may have changed its signals (the
day :func:`~trialwatch.audit.signals.next_change` gave has come); the index and the whole
watch's feed are built from what the manifest keeps of each trial."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trialwatch.audit.signals import audit_record, next_change, signal_list
from trialwatch.changes.baseline import title_of
from trialwatch.changes.differ import fill
from trialwatch.changes.sentences import get
from trialwatch.errors import StoreError, TrialwatchError
from trialwatch.model import Outcome, TrialReport
from trialwatch.render.html import change_blocks
from trialwatch.sanitize import html_text as h
from trialwatch.site.atom import Entry, Feed, stable_id
from trialwatch.site.pages import (
    ChangeSet,
    IndexRow,
    SearchPage,
    SearchRow,
    TrialPage,
    index_page,
    search_page,
    trial_page,
)
from trialwatch.store.atomic import write_atomic
from trialwatch.store.port import Store
from trialwatch.store.queries import QueryStore
from trialwatch.store.versions import VersionStore
from trialwatch.subscriptions.model import Subscription
from trialwatch.timeline.render import tell
from trialwatch.timeline.story import steps

# Bump when pages change shape: every page is rebuilt once.
SITE_FORMAT = 1
MANIFEST = ".trialwatch-site.json"
# Entries of a trial kept for the whole watch's feed.
KEPT_ENTRIES = 20


@dataclass
class Built:
    out: Path
    trials: int
    searches: int
    written: int  # trial and search pages (each with its feed) written this time
    kept: int  # left as they were
    seconds: float
    problems: list[str]


@dataclass
class WatchedTrial:
    nct_id: str
    label: str | None


def build_site(
    store: Store,
    trials: list[WatchedTrial],
    queries: list[Any],
    out: Path,
    *,
    today: dt.date,
    grace_days: int = 30,
    full: bool = False,
    subscriptions: list[Subscription] | None = None,
) -> Built:
    started = time.monotonic()
    out = Path(out)
    for folder in (out, out / "trials", out / "searches"):
        folder.mkdir(parents=True, exist_ok=True)
    # What the site shows now: the pages a full build would rebuild anyway, and those a fault
    # leaves as they were (never taken off the site).
    manifest = _read_manifest(out / MANIFEST)
    known: dict[str, Any] = manifest.get("trials", {}) if manifest else {}
    rows: list[IndexRow] = []
    entries: list[Entry] = []
    missing: list[str] = []
    problems: list[str] = []
    written = kept = 0
    new_manifest: dict[str, Any] = {"format": SITE_FORMAT, "trials": {}}
    versions = store.versions()
    for w in trials:
        before = known.get(w.nct_id)
        try:
            key = _trial_key(store, versions, w)
            gone = key is None and before is not None
            fault = "the store holds no snapshot of it, though the site shows it" if gone else None
        except StoreError as exc:
            key, fault = None, str(exc)
        due = before is not None and (before.get("next_day") or "9999") <= today.isoformat()
        pages_there = (out / "trials" / f"{w.nct_id}.html").exists()
        if fault is not None:
            # What a published page was built from cannot be read now: a fault to say, never
            # a page to take off the site.
            problems.append(
                f"{w.nct_id}: {fault}" + ("; its page is left as it was" * bool(before))
            )
            if before is None:
                continue
            item = before
        elif key is None:
            missing.append(w.nct_id)
            continue
        elif not full and before and before.get("key") == key and not due and pages_there:
            kept += 1
            item = before
        else:
            try:
                item = _build_trial(store, w, out, today, grace_days)
            except (TrialwatchError, RecursionError) as exc:
                problems.append(f"{w.nct_id}: {exc}")
                if before is None:
                    continue
                item = before  # its page, its row and its entries as they were
            else:
                item["key"] = key
                written += 1
        new_manifest["trials"][w.nct_id] = item
        rows.append(IndexRow.from_json(item["row"]))
        # Feeds take their entries oldest first (a trial keeps its newest first).
        entries += [_entry(e, prefix="trials/") for e in reversed(item["entries"])]
    search_rows: list[SearchRow] = []
    known_searches: dict[str, Any] = manifest.get("searches", {}) if manifest else {}
    new_manifest["searches"] = {}
    qstore = store.queries()
    for q in queries:
        try:
            row, feed_entries = _build_search(qstore, store, q, out, today)
        except TrialwatchError as exc:
            problems.append(f"{q.name}: {exc}")
            kept_search = known_searches.get(q.id)
            if kept_search is None:
                continue
            row, feed_entries = SearchRow(**kept_search["row"]), kept_search["entries"]
        else:
            written += 1
        new_manifest["searches"][q.id] = {"row": asdict(row), "entries": feed_entries}
        search_rows.append(row)
        entries += [_entry(e, prefix="searches/") for e in feed_entries]
    from trialwatch.site.subscriptions import build_subscriptions, index_section

    sub_rows, new_manifest["subscriptions"], sub_problems = build_subscriptions(
        store, subscriptions or [], out, _write,
        today=today, grace_days=grace_days, watched={w.nct_id for w in trials},
        kept={} if full or not manifest else manifest.get("subscriptions", {}),
    )  # fmt: skip
    problems += sub_problems
    built = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    _write(
        out / "index.html",
        index_page(rows, search_rows, built, missing, index_section(sub_rows)),
    )
    watch_feed = Feed(
        stable_id("watch", str(store.folder.resolve()) if store.folder else store.label),
        "trialwatch: every change of the watch",
        "index.html",
        "feed.atom",
        entries,
    )
    _write(out / "feed.atom", watch_feed.render(built))
    # Compact: the C encoder (an indented dump is pure Python, and the manifest grows with the
    # trials it keeps).
    _write(out / MANIFEST, json.dumps(new_manifest, sort_keys=True, separators=(",", ":")) + "\n")
    return Built(
        out, len(rows), len(search_rows), written, kept, time.monotonic() - started, problems
    )


def _write(path: Path, text: str) -> None:
    """Write a page only when it differs (a web server's caches and rsync see no change)."""
    data = text.encode("utf-8")
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    write_atomic(path, data, durable=False)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != SITE_FORMAT:
        return {}
    return data


def _trial_key(store: Store, versions: VersionStore, w: WatchedTrial) -> str | None:
    """What a trial's page is built from, cheaply: its snapshot and version file names and
    sizes, and its label. None when the store holds nothing of it."""
    files = store.snapshots(w.nct_id)
    if not files:
        return None
    names = [p.name for p in files]
    parts = [str(SITE_FORMAT), w.label or "", *names]
    parts += versions.key_parts(w.nct_id)
    if isinstance(files[-1], Path):  # a file a person may have edited in place
        with contextlib.suppress(OSError):
            parts.append(str(files[-1].stat().st_size))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _build_trial(
    store: Store, w: WatchedTrial, out: Path, today: dt.date, grace_days: int
) -> dict[str, Any]:
    nct = w.nct_id
    found = steps(store, nct)
    index = store.versions().index(nct)
    story = tell(nct, found, index.original if index else None, with_original=True, today=today)
    record = found[-1].record
    status = get(record, "protocolSection", "statusModule", "overallStatus")
    try:
        signals = audit_record(record, today, grace_days=grace_days)
    except Exception:  # a signal is never worth a trial's page
        signals = []
    try:
        next_day = next_change(record, today, grace_days)
    except Exception:
        next_day = None
    sets: list[ChangeSet] = []
    for step in found[1:]:
        if step.found is None:
            continue
        report = TrialReport(nct, Outcome.UNCHANGED, title=title_of(step.record))
        fill(report, step.found, show_admin=False)
        if report.outcome is not Outcome.CHANGED:
            continue
        source = (
            f"registry version {step.version}"
            if step.source == "registry"
            else f"seen by trialwatch ({step.snapshot})"
        )
        seen = step.seen or f"{step.date}T00:00:00Z"
        sets.append(ChangeSet(step.label.replace(".json", ""), step.date, seen, source, report))
    sets.reverse()
    page = TrialPage(
        nct, title_of(record), w.label, status if isinstance(status, str) else None,
        signals, story, sets, today, notes=list(story.notes),
    )  # fmt: skip
    _write(out / "trials" / f"{nct}.html", trial_page(page))
    trial_entries = [_change_entry(nct, w.label, cs) for cs in sets]
    feed = Feed(
        stable_id("trial", nct),
        f"trialwatch: {nct}" + (f" ({w.label})" if w.label else "") + f" — {title_of(record)}",
        f"{nct}.html",
        f"{nct}.atom",
        [_entry(e) for e in reversed(trial_entries)],
    )
    _write(out / "trials" / f"{nct}.atom", feed.render(found[-1].seen or today.isoformat()))
    row = IndexRow(
        nct, w.label, title_of(record), page.status,
        sets[0].date if sets else None, sets[0].headline if sets else None,
        signal_list(signals),
    )  # fmt: skip
    return {
        "row": row.to_json(),
        "entries": trial_entries[:KEPT_ENTRIES],
        "next_day": next_day,
    }


def _change_entry(nct: str, label: str | None, cs: ChangeSet) -> dict[str, Any]:
    name = nct + (f" ({label})" if label else "")
    html = "".join(change_blocks(cs.report))
    return {
        "id": stable_id("trial", nct, cs.anchor),
        "title": f"{name}: {cs.headline}",
        "updated": _rfc3339(cs.seen),
        "link": f"{nct}.html#{cs.anchor}",
        "html": f"<p>{cs.date} — {cs.source}</p>{html}",
        "categories": sorted({c.category.value for c in cs.report.changes if c.material}),
    }


def _entry(data: dict[str, Any], prefix: str = "") -> Entry:
    return Entry(
        data["id"], data["title"], data["updated"], prefix + data["link"], data["html"],
        list(data.get("categories", [])),
    )  # fmt: skip


def _rfc3339(when: str) -> str:
    """An RFC 3339 UTC time from what a snapshot records (already one) or a day."""
    if len(when) == 10:
        return f"{when}T00:00:00Z"
    try:
        parsed = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return when
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _build_search(
    qstore: QueryStore, store: Store, q: Any, out: Path, today: dt.date
) -> tuple[SearchRow, list[dict[str, Any]]]:
    members = qstore.members(q.id)
    log = qstore.membership_log(q.id)
    joined: dict[str, str] = {}
    left: dict[str, str] = {}
    for at, nct, change, _batch in log:
        if change == "joined":
            joined[nct] = at
            left.pop(nct, None)
        else:
            left[nct] = at
    titles = {
        n: r.get("title") for n, r in store.rows(sorted((members or set()) | set(left))).items()
    }
    current = sorted(members or set(), key=lambda n: (joined.get(n, ""), n), reverse=True)
    page = SearchPage(
        q.id,
        q.name,
        q.describe(),
        [(n, titles.get(n), joined.get(n, "")[:10] or None) for n in current],
        sorted(
            ((n, titles.get(n), at[:10]) for n, at in left.items() if n not in (members or set())),
            key=lambda x: x[2],
            reverse=True,
        ),
        logged=bool(log),
    )
    _write(out / "searches" / f"{q.id}.html", search_page(page))
    by_check: dict[tuple[int, str], tuple[list[str], list[str]]] = {}
    for at, nct, change, batch in log:
        pair = by_check.setdefault((batch, at), ([], []))
        (pair[0] if change == "joined" else pair[1]).append(nct)
    entries = []
    for (batch, at), (came, went) in by_check.items():
        parts = []
        if came:
            parts.append(f"{len(came)} joined")
        if went:
            parts.append(f"{len(went)} left")
        lines = [f"<li>joined: {h(n)} {h(titles.get(n) or '')}</li>" for n in came]
        lines += [f"<li>left: {h(n)} {h(titles.get(n) or '')}</li>" for n in went]
        entries.append(
            {
                "id": stable_id("search", q.id, at, str(batch)),
                "title": f"{q.name}: {', '.join(parts)}",
                "updated": _rfc3339(at),
                "link": f"{q.id}.html",
                "html": "<ul>" + "".join(lines) + "</ul>",
            }
        )
    feed = Feed(
        stable_id("search", q.id), f"trialwatch: {q.name}", f"{q.id}.html", f"{q.id}.atom",
        [_entry(e) for e in entries],
    )  # fmt: skip
    _write(out / "searches" / f"{q.id}.atom", feed.render(today.isoformat() + "T00:00:00Z"))
    last = max((at for at, _, _, _ in log), default=None)
    row = SearchRow(
        q.id, q.name, None if members is None else len(members), (last or "")[:10] or None
    )
    return row, entries
