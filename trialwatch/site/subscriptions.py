"""The site's section of each subscription: its page (the slice in words, the events it tells
newest first, the trials it holds) and its Atom feed, and for a subscription of an organisation
(one with a sponsor) the organisation's desk, fit to print::

    subscriptions/NAME.html, NAME.atom, NAME-desk.html

Built from the store alone, for any slice (the synced registry too). A rebuild costs what
changed: which subscriptions each trial belongs to is kept in the site's manifest by the
trial's latest snapshot, so only trials with a new snapshot are read again; the events are those
of the last ``WINDOW_DAYS``. The addresses a subscription tells are never published."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialwatch.changes.baseline import title_of
from trialwatch.changes.sentences import counted
from trialwatch.changes.words import status_words
from trialwatch.errors import TrialwatchError
from trialwatch.render.common import study_url
from trialwatch.sanitize import html_text as h
from trialwatch.site.atom import Entry, Feed, stable_id
from trialwatch.site.pages import page
from trialwatch.store.port import Store
from trialwatch.subscriptions.digest import Told
from trialwatch.subscriptions.model import Subscription
from trialwatch.subscriptions.outbox import Reader, told
from trialwatch.subscriptions.severity import Severity
from trialwatch.subscriptions.slice import facets, holds_facets

WINDOW_DAYS = 180  # the events a subscription's page and feed show
SHOWN = 300  # events on a page
FEED = 50  # entries in a feed

_CSS = (
    ".sev{font-size:.8em;padding:0 .4em;border-radius:3px;border:1px solid #d0d7de}"
    ".sev-high{color:#cf222e;border-color:#cf222e}.sev-medium{color:#9a6700}"
    "ol.told{padding-left:1.2em}ol.told li{margin:.5em 0}"
    "table.list td{overflow-wrap:break-word}table.list td:first-child{white-space:nowrap}"
)


@dataclass(frozen=True, slots=True)
class SubRow:
    name: str
    label: str
    described: str
    members: int
    told: int
    desk: bool


def slices_key(subs: list[Subscription]) -> str:
    """What the kept memberships were worked out for (a changed slice: all read again)."""
    text = json.dumps([[s.name, s.to_toml()] for s in subs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def memberships(
    store: Store, subs: list[Subscription], kept: dict[str, Any], reader: Reader
) -> tuple[dict[str, list[str]], dict[str, Any], dict[str, dict[str, Any]]]:
    """Each subscription's members; what to keep for the next build; each trial's state row.
    Only trials whose latest snapshot moved since the kept memberships are read."""
    ids = store.trials()
    rows = store.rows(ids)
    same = kept.get("key") == slices_key(subs)
    before: dict[str, Any] = kept.get("trials", {}) if same else {}
    searches = {s.name: reader.members(s) for s in subs}
    members: dict[str, list[str]] = {s.name: [] for s in subs}
    now: dict[str, Any] = {}
    for nct in ids:
        latest = rows.get(nct, {}).get("latest")
        old = before.get(nct)
        if isinstance(old, list) and len(old) == 2 and old[0] == latest and latest:
            field_names = set(old[1])
        else:
            # Read, matched and let go (the reader keeps only what the events need).
            record = reader.read(nct)
            found = facets(record) if record is not None else None
            field_names = {
                s.name for s in subs if s.fields and found is not None and holds_facets(
                    s, nct, found, None
                )
            }  # fmt: skip
        now[nct] = [latest, sorted(field_names)]
        for s in subs:
            search = searches[s.name]
            named = nct in s.trials or (search is not None and nct in search)
            if named or s.name in field_names or (not s.fields and not s.trials and not s.search):
                members[s.name].append(nct)
    return members, {"key": slices_key(subs), "trials": now}, rows


def _told(
    subs: list[Subscription],
    members: dict[str, list[str]],
    store: Store,
    reader: Reader,
    today: dt.date,
) -> dict[str, list[Told]]:
    since = (today - dt.timedelta(days=WINDOW_DAYS)).isoformat()
    rows = store.query_events(seen_since=since)
    sets = {s.name: set(members[s.name]) for s in subs}
    out: dict[str, list[Told]] = {s.name: [] for s in subs}
    for row in rows:
        wanted = [s for s in subs if row.nct in sets[s.name]]
        if not wanted:
            continue
        record = reader.record(row.nct)
        found = facets(record) if record is not None else None
        title = title_of(record) if record is not None else None
        for s in wanted:
            t = told(s, row, found, title, sets[s.name])
            if t is not None:
                out[s.name].append(t)
    for items in out.values():
        items.sort(key=lambda t: (t.row.seen, t.row.position or 0), reverse=True)
    return out


def _trial_link(nct: str, watched: set[str]) -> str:
    if nct in watched:
        return f'<a href="../trials/{h(nct)}.html">{h(nct)}</a>'
    url = study_url(nct)
    return f'<a href="{h(url)}">{h(nct)}</a>' if url else h(nct)


def _sev(t: Told) -> str:
    return f'<span class="sev sev-{t.severity.value}">{h(t.severity.value)}</span>'


def subscription_page(
    sub: Subscription,
    items: list[Told],
    trials: list[tuple[str, str | None, str | None]],
    watched: set[str],
    desk: bool,
) -> str:
    nav = ['<a href="../index.html">All trials</a>', f'<a href="{h(sub.name)}.atom">Feed</a>']
    if desk:
        nav.append(f'<a href="{h(sub.name)}-desk.html">Results desk</a>')
    body = [f"<style>{_CSS}</style><nav>{''.join(nav)}</nav>", f"<h1>{h(sub.label)}</h1>"]
    rule = f"; told when {h(sub.when.text)}" if sub.when else ""
    floor = "" if sub.severity is Severity.LOW else f"; at least {h(sub.severity.value)}"
    body.append(f'<p class="meta">The slice: {h(sub.describe())}{rule}{floor}.</p>')
    body.append(
        f"<h2>What it tells, newest first ({len(items)} in the last {WINDOW_DAYS} days)</h2>"
    )
    if items:
        body.append('<ol class="told">')
        for t in items[:SHOWN]:
            body.append(
                f"<li>{h(t.row.seen[:10])} {_trial_link(t.row.nct, watched)} "
                f"{h(t.title or '')}<br>{h(t.row.headline)} {_sev(t)} "
                f'<span class="meta">{h(t.reason)}</span></li>'
            )
        body.append("</ol>")
        if len(items) > SHOWN:
            body.append(f'<p class="meta">… and {len(items) - SHOWN} more: the feed and '
                        "trialwatch events have them all.</p>")  # fmt: skip
    else:
        body.append('<p class="meta">Nothing yet.</p>')
    body.append(f"<h2>Trials ({len(trials)})</h2>")
    body.append('<table class="list"><thead><tr><th>Trial</th><th>Title</th><th>Status</th>')
    body.append("</tr></thead><tbody>")
    for nct, title, status in trials:
        body.append(
            f'<tr><td data-key="{h(nct)}">{_trial_link(nct, watched)}</td>'
            f"<td>{h(title or '')}</td><td>{h(status_words(status))}</td></tr>"
        )
    body.append("</tbody></table>")
    return page(f"trialwatch: {sub.label}", body, feed=f"{sub.name}.atom", script=True)


def _entry(sub: Subscription, t: Told) -> Entry:
    from trialwatch.site.build import _rfc3339

    url = study_url(t.row.nct) or ""
    return Entry(
        stable_id("subscription", sub.name, str(t.row.position or t.row.seen)),
        f"{t.row.nct}: {t.row.headline}",
        _rfc3339(t.row.seen),
        url,
        f"<p>{h(t.title or '')}</p><p>{h(t.severity.value)}: {h(t.reason)}</p>",
        [t.row.category],
    )


def build_subscriptions(
    store: Store,
    subs: list[Subscription],
    out: Path,
    write: Callable[[Path, str], None],
    *,
    today: dt.date,
    grace_days: int,
    watched: set[str],
    kept: dict[str, Any],
) -> tuple[list[SubRow], dict[str, Any], list[str]]:
    """Every subscription's pages and feed: (the index's rows, what to keep, problems)."""
    if not subs:
        return [], {}, []
    folder = out / "subscriptions"
    folder.mkdir(parents=True, exist_ok=True)
    reader = Reader(store)
    members, keep, rows = memberships(store, subs, kept, reader)
    told_by = _told(subs, members, store, reader, today)
    index: list[SubRow] = []
    problems: list[str] = []
    for sub in subs:
        ids = members[sub.name]
        trials = [(n, rows.get(n, {}).get("title"), rows.get(n, {}).get("status")) for n in ids]
        desk = bool(sub.field("sponsor"))
        write(folder / f"{sub.name}.html", subscription_page(sub, told_by[sub.name], trials,
                                                              watched, desk))  # fmt: skip
        feed = Feed(
            stable_id("subscription", sub.name),
            f"trialwatch: {sub.label}",
            f"{sub.name}.html",
            f"{sub.name}.atom",
            [_entry(sub, t) for t in reversed(told_by[sub.name][:FEED])],
        )
        write(folder / f"{sub.name}.atom", feed.render(today.isoformat() + "T00:00:00Z"))
        if desk:
            latest = {n: rows.get(n, {}).get("latest") for n in ids}
            before = kept.get("desks", {}).get(sub.name, {})
            try:
                page_text, keep_desk = _desk(store, sub, ids, today, grace_days, before, latest)
            except TrialwatchError as exc:
                problems.append(f"subscription {sub.name}: its desk: {exc}; left as it was")
            else:
                write(folder / f"{sub.name}-desk.html", page_text)
                keep.setdefault("desks", {})[sub.name] = keep_desk
        index.append(
            SubRow(sub.name, sub.label, sub.describe(), len(ids), len(told_by[sub.name]), desk)
        )
    return index, keep, problems


def _desk(
    store: Store,
    sub: Subscription,
    ids: list[str],
    today: dt.date,
    grace: int,
    before: dict[str, Any],
    latest: dict[str, str | None],
) -> tuple[str, dict[str, Any]]:
    """The organisation's desk over the subscription's trials, as its last audit left it (the
    page records nothing: transitions stay the audit's to tell), and what to keep: each trial
    as worked out today, read again only when its snapshot moved (or the day did)."""
    from trialwatch.audit.desk import DeskTrial
    from trialwatch.audit.desk_render import render_html
    from trialwatch.audit.organisation import desk_report

    reuse: dict[str, DeskTrial] = {}
    if before.get("day") == today.isoformat():
        for nct, data in (before.get("trials") or {}).items():
            try:
                reuse[nct] = DeskTrial.from_json(data)
            except (KeyError, TypeError, ValueError):
                continue
    report = desk_report(
        store, list(sub.field("sponsor")), today, grace,
        trials=ids, record=False, strict=False, reuse=reuse, latest_names=latest,
    )  # fmt: skip
    page_text = render_html(
        report, nav=[("../index.html", "All trials"), (f"{sub.name}.html", sub.label)]
    )
    keep = {"day": today.isoformat(), "trials": {t.nct_id: t.to_json() for t in report.trials}}
    return page_text, keep


def index_section(rows: list[SubRow]) -> list[str]:
    """The index's list of subscriptions."""
    if not rows:
        return []
    out = ["<h2>Subscriptions</h2><ul>"]
    for r in rows:
        desk = (
            f' · <a href="subscriptions/{h(r.name)}-desk.html">results desk</a>' if r.desk else ""
        )
        out.append(
            f'<li><a href="subscriptions/{h(r.name)}.html">{h(r.label)}</a> — '
            f"{h(r.described)}; {counted(r.members, 'trial')}, "
            f"{counted(r.told, 'event')} told in the last {WINDOW_DAYS} days{desk}</li>"
        )
    out.append("</ul>")
    return out
