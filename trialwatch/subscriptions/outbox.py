"""Each subscription's outbox: for each of its addresses, the position in the store's event rows
up to which it was told (a cursor), the period it last had a digest for, and a lease while a run
sends to it. Kept in the store's state, so every run and worker of a store shares it:

- an event is told to an address once, whichever run or worker stored it: a run takes the
  address's lease before sending, and moves its cursor on only once the digest was accepted;
- nothing is lost: a run killed (even kill -9) before delivering leaves the cursor where it was,
  and the next run (or ``trialwatch subscription send``) sends what follows it; a channel that is
  down gets it all next time;
- a new subscription starts from the events stored after it was first seen (a trial's first
  baseline is no event: a subscription is told changes, never the bootstrap).

A run killed after the service accepted a digest but before the cursor moved sends it again
when the lease runs out (``LEASE_SECONDS``): at least once, never lost."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trialwatch.changes.baseline import title_of
from trialwatch.errors import NotifyError, TrialwatchError
from trialwatch.store import events
from trialwatch.store.port import Store
from trialwatch.subscriptions.digest import Digest, Told
from trialwatch.subscriptions.model import Facets, Subscription
from trialwatch.subscriptions.severity import at_least, severity
from trialwatch.subscriptions.slice import facets, holds_facets

LEASE_SECONDS = 300.0
PREFIX = "subscription-outbox:"


def key(sub: Subscription, target: str) -> str:
    return f"{PREFIX}{sub.name}:{hashlib.sha256(target.encode()).hexdigest()[:12]}"


def period(every: str, now: dt.datetime) -> str:
    """The period a digest covers: the run's moment, the day, or the ISO week (UTC)."""
    if every == "day":
        return now.date().isoformat()
    if every == "week":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    return now.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Sent:
    subscription: str
    target: str
    told: int  # events in the digest (0: nothing to tell, the cursor moved on)
    error: str | None = None
    waiting: str | None = None  # why nothing was sent now (another run holds it, not due)


class Reader:
    """What deciding needs, read once a delivery: each trial's latest record, each search's
    members."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records: dict[str, dict[str, Any] | None] = {}
        self.searches: dict[str, set[str] | None] = {}

    def read(self, nct: str) -> dict[str, Any] | None:
        """A trial's latest record, not kept (None: the store holds none it can read)."""
        try:
            latest = self.store.latest(nct)
        except TrialwatchError:
            return None
        return latest.record if latest is not None else None

    def record(self, nct: str) -> dict[str, Any] | None:
        """``read``, kept for the rest of the delivery."""
        if nct not in self.records:
            self.records[nct] = self.read(nct)
        return self.records[nct]

    def members(self, sub: Subscription) -> set[str] | None:
        if not sub.search:
            return None
        from trialwatch.search.query import build

        query = build(list(sub.search))
        if query.id not in self.searches:
            try:
                self.searches[query.id] = self.store.queries().members(query.id)
            except TrialwatchError:
                self.searches[query.id] = None
        return self.searches[query.id]


def fields(row: events.Row, found: Facets | None, level: str) -> dict[str, Any]:
    """What a rule sees of an event (subscriptions/rules.py lists the fields), with the
    trial's facets (None: no record of it)."""
    body: dict[str, Any] = row.body if isinstance(row.body, dict) else {}
    found_data = body.get("data")
    data: dict[str, Any] = found_data if isinstance(found_data, dict) else {}
    old = data.get("old", body.get("old"))
    new = data.get("new", body.get("new"))
    return {
        "type": row.type,
        "category": row.category,
        "kind": row.kind,
        "flags": list(body.get("flags") or []),
        "headline": row.headline,
        "severity": level,
        "nct_id": row.nct,
        "status": found.status if found else None,
        "phase": list(found.phase) if found else [],
        "sponsor": found.sponsor[0] if found and found.sponsor else None,
        "conditions": list(found.condition) if found else [],
        "change_pct": data.get("change_percent") if row.type == "enrollment_changed" else None,
        "days": data.get("slip_days"),
        "old": old,
        "new": new,
    }


def tells(sub: Subscription, row: events.Row, reader: Reader) -> Told | None:
    """Whether the subscription tells an event row, and what it says with it."""
    record = reader.record(row.nct)
    found = facets(record) if record is not None else None
    title = title_of(record) if record is not None else None
    return told(sub, row, found, title, reader.members(sub))


def told(
    sub: Subscription,
    row: events.Row,
    found: Facets | None,
    title: str | None,
    members: set[str] | None,
) -> Told | None:
    """``tells``, from the trial's facets and title (the site keeps them between builds)."""
    if not holds_facets(sub, row.nct, found, members):
        return None
    level, reason = severity(row.kind, row.type, row.body if isinstance(row.body, dict) else {})
    if not at_least(level, sub.severity):
        return None
    if sub.when is not None and not sub.when(fields(row, found, level.value)):
        return None
    return Told(row, title, level, reason, sub.when.text if sub.when else None)


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _held(lease: Any, now: float) -> bool:
    """Whether another run holds a lease: not ours, not run out, and not of a process of this
    machine that is gone (a run killed while sending: its lease is free at once)."""
    if not isinstance(lease, dict) or lease.get("by") == _me():
        return False
    if float(lease.get("until") or 0) <= now:
        return False
    host, _, pid = str(lease.get("by")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
    return True


def fresh(start: int) -> dict[str, Any]:
    """An address's state before it was told anything: it starts at ``start``."""
    return {"cursor": start, "told": 0}


def begin(store: Store, sub: Subscription, owners: Mapping[str, list[str]], start: int) -> None:
    """Start each of a new subscription's addresses at ``start`` (told what is stored from
    now on); an address that has a state keeps it."""
    for target in targets(sub, owners):
        k = key(sub, target)
        with store.unit(key=k) as unit:
            if unit.meta(k) is None:
                unit.set_meta(k, fresh(start))


def _take(store: Store, k: str, start: int, now: float, due: str | None) -> dict[str, Any] | None:
    """The address's state with its lease taken; None when another run holds it, or when its
    digest for this period went out already (``due``: the period, for day and week)."""
    with store.unit(key=k) as unit:
        kept = unit.meta(k)
        ok = isinstance(kept, dict) and isinstance(kept.get("cursor"), int)
        state: dict[str, Any] = kept if ok else fresh(start)
        if _held(state.get("lease"), now):
            return None
        if due is not None and state.get("period") == due:
            unit.set_meta(k, state)
            return None
        state["lease"] = {"by": _me(), "until": now + LEASE_SECONDS}
        unit.set_meta(k, state)
        return state


def _settle(store: Store, k: str, changes: Mapping[str, Any]) -> None:
    """Let go of the lease, with the state moved on by ``changes``."""
    with store.unit(key=k) as unit:
        state = unit.meta(k)
        state = state if isinstance(state, dict) else {}
        lease = state.get("lease")
        if isinstance(lease, dict) and lease.get("by") not in (None, _me()):
            return  # taken over after our lease ran out: the other run settles it
        state.update(changes)
        state.pop("lease", None)
        unit.set_meta(k, state)


def last_position(store: Store) -> int:
    value = store.meta(events.POSITION)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def targets(sub: Subscription, owners: Mapping[str, list[str]]) -> list[str]:
    """Where a subscription's digests go: its own addresses and URLs, and with ``owners`` each
    address of the config's [owners] table (told only the trials its person answers for)."""
    found = list(sub.notify)
    if sub.owners:
        for addresses in owners.values():
            found += [a for a in addresses if a not in found]
    return found


def _answers(owners: Mapping[str, list[str]], target: str, record: dict[str, Any] | None) -> bool:
    """Whether the person at ``target`` answers for the trial of ``record``."""
    from trialwatch.audit.desk import owners as people
    from trialwatch.audit.owners import answers_for

    return record is not None and target in answers_for(owners, people(record))


def deliver(
    store: Store,
    subs: list[Subscription],
    send: Callable[[Subscription, str, Digest], None],
    *,
    start: int,
    now: dt.datetime | None = None,
    force: bool = False,
    owners: Mapping[str, list[str]] | None = None,
    site_url: str = "",
) -> list[Sent]:
    """Send each subscription's due digests through ``send`` (subscription, target, digest;
    NotifyError when it was not accepted). ``start``: where a subscription seen for the first
    time begins (the last position stored before the run). ``force``: a day's or week's digest
    now, whatever went out this period. ``owners``: the config's [owners] table, for the
    subscriptions that tell each person their trials. ``site_url``: where the site is published
    (a digest that cannot show everything links to the subscription's page)."""
    now = now or dt.datetime.now(dt.UTC)
    reader = Reader(store)
    table = owners or {}
    out: list[Sent] = []
    for sub in subs:
        rows_after: dict[int, list[events.Row]] = {}
        for target in targets(sub, table):
            personal = target not in sub.notify
            k = key(sub, target)
            this = period(sub.every, now)
            state = _take(
                store, k, start, time.time(), None if force or sub.every == "run" else this
            )
            if state is None:
                out.append(Sent(sub.name, target, 0, waiting="not due, or another run sends it"))
                continue
            cursor = int(state["cursor"])
            if cursor not in rows_after:
                rows_after[cursor] = store.query_events(after=cursor)
            rows = rows_after[cursor]
            last = events.next_cursor(rows, cursor)
            told = [t for t in (tells(sub, r, reader) for r in rows) if t is not None]
            if personal:
                told = [t for t in told if _answers(table, target, reader.record(t.row.nct))]
            if not told:
                _settle(store, k, {"cursor": last})
                out.append(Sent(sub.name, target, 0))
                continue
            try:
                send(sub, target, Digest(sub, told, cursor, this, site_url))
            except (NotifyError, TrialwatchError, OSError) as exc:
                _settle(store, k, {"error": str(exc)})
                out.append(Sent(sub.name, target, 0, error=str(exc)))
                continue
            _settle(
                store,
                k,
                {
                    "cursor": last,
                    "period": this,
                    "sent_at": now.isoformat(timespec="seconds"),
                    "told": int(state.get("told") or 0) + len(told),
                    "last_told": len(told),
                    "error": None,
                },
            )
            out.append(Sent(sub.name, target, len(told)))
    return out


def status(
    store: Store, sub: Subscription, owners: Mapping[str, list[str]] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Each address and what its outbox holds (cursor, period, when last sent, how many told)."""
    found = []
    for target in targets(sub, owners or {}):
        state = store.meta(key(sub, target))
        found.append((target, state if isinstance(state, dict) else {}))
    return found
