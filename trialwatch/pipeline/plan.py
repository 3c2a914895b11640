"""Plan: a watch list — ids and search watches — checked in two phases.

Phase one asks the registry only for ids and last-update dates: a query's members come with
theirs (``members``), the other watched ids in batches of 500 (``last_updates``). Phase two
fetches whole records only for the trials that need it: no snapshot yet, a last-update date
that moved (or was never recorded), a change a killed run left unreported, a trial new to a
query or gone from it (to say why), and everything at the periodic full re-check, which catches
the registry's own edits that leave the last-update date alone. The rest are unchanged without
their records crossing the network."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trialwatch.changes.baseline import baseline
from trialwatch.errors import FetchError, InputError, StoreError
from trialwatch.model import Match, Outcome, QueryReport, RunReport, TrialReport
from trialwatch.pipeline.compare import CheckOptions, Observer, read_snapshots
from trialwatch.pipeline.deliver import error_report
from trialwatch.pipeline.fetch import check_batched, check_each, ids_digest_of, record_run, skipped
from trialwatch.record import utc_now
from trialwatch.registry.client import RegistryClient
from trialwatch.search.members import Listing, last_updates, members
from trialwatch.search.query import Query
from trialwatch.store.port import Store

log = logging.getLogger("trialwatch")


@dataclass
class ListOptions:
    two_phase: bool = True
    full_every_days: float = 7.0  # 0: every run fetches every record
    max_query_results: int = 10_000
    force: bool = False  # check even when the registry's data did not change
    full: bool = False  # fetch every record this run
    batch_size: int = 500
    # False (check --no-batch): each whole record with its own request.
    batch: bool = True
    # Whether the record of a trial skipped by phase one is still wanted (its transparency
    # signals may have changed with the calendar): read from its latest snapshot.
    wants_record: Callable[[str], bool] | None = None


@dataclass
class ListRun:
    """A run over the watch list, with what the search watches need to tell each output."""

    report: RunReport
    queries: list[Query] = field(default_factory=list)
    memberships: dict[str, set[str]] = field(default_factory=dict)  # query id -> members now
    before: dict[str, set[str] | None] = field(default_factory=dict)  # as last seen
    summaries: dict[str, Match] = field(default_factory=dict)  # one line per trial read
    member_reports: list[TrialReport] = field(default_factory=list)  # query-only members


def full_check_due(state: dict[str, Any], every_days: float, now: dt.datetime) -> bool:
    if every_days <= 0:
        return True
    last = state.get("last_full_check")
    if not isinstance(last, str):
        return True
    try:
        when = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    except ValueError:
        return True
    return now - when >= dt.timedelta(days=every_days)


def summary(nct: str, record: dict[str, Any]) -> Match:
    b = baseline(record)
    posted = record.get("protocolSection", {}).get("statusModule", {})
    posted = posted.get("studyFirstPostDateStruct") if isinstance(posted, dict) else None
    return Match(
        nct,
        title=b.title,
        phases=tuple(b.phases),
        status=b.status,
        sponsor=b.lead_sponsor,
        first_posted=posted.get("date") if isinstance(posted, dict) else None,
    )


def _needs_record(row: dict[str, Any] | None, date: str | None) -> bool:
    if not row or not row.get("latest"):
        return True  # no snapshot (or a state that lost it): fetch and see
    stored = row.get("last_update")
    return stored is None or date is None or stored != date


def check_list(
    ids: list[str],
    queries: list[Query],
    client: RegistryClient,
    store: Store,
    options: CheckOptions,
    lo: ListOptions,
    observer: Observer | None = None,
) -> ListRun:
    run = RunReport(generated_at=utc_now())
    run.trials.extend(options.extra_errors)
    result = ListRun(run, list(queries))
    with store.locked():
        observer = observer or Observer(store, options)
        digest = ids_digest_of([*ids, *(q.id for q in queries)])
        # A full check asked for is never skipped.
        stamp = skipped(run, store, client, observer, digest, lo.force or lo.full)
        if run.skipped:
            return result
        state = store.run_state()
        now = dt.datetime.now(dt.UTC)
        full = lo.full or not lo.two_phase or full_check_due(state, lo.full_every_days, now)
        known: dict[str, str | None] = {}
        troubles = _read_searches(client, store, lo, stamp, result, known)
        if not full:
            try:
                known.update(_dates_on_record(client, store, ids, known))
            except FetchError as exc:
                # The registry is failing (retries already spent): a gap, never "unchanged".
                run.trials.extend(error_report(n, exc, store) for n in ids)
                record_run(store, client, False, stamp, digest, len(ids))
                return result
        plan = _plan(ids, result, store, observer, known, full)
        watched = set(ids)
        summarised = plan.entered | plan.departed
        part = _fetch(plan.fetch, watched, summarised, client, store, options, lo, observer, result)
        _file(part.trials[len(options.extra_errors) :], watched, plan.departed, result)
        fetched = set(plan.fetch)
        rest = [n for n in plan.everyone if n not in fetched]
        _unchanged(rest, plan.rows, watched, known, store, options, lo, run)
        qstore = store.queries()
        for q in queries:
            if q.id in result.memberships:
                try:
                    qstore.save(q, result.memberships[q.id], at=run.generated_at)
                except StoreError as exc:
                    run.notes.append(f"could not record the members of {q.name!r}: {exc}")
        complete = troubles == 0 and not any(t.error for t in part.trials)
        extra: dict[str, Any] = {}
        if full and complete:
            extra["last_full_check"] = now.isoformat().replace("+00:00", "Z")
        elif isinstance(state.get("last_full_check"), str):
            extra["last_full_check"] = state["last_full_check"]
        record_run(store, client, complete, stamp, digest, len(plan.everyone), **extra)
    return result


def _read_searches(
    client: RegistryClient,
    store: Store,
    lo: ListOptions,
    stamp: str | None,
    result: ListRun,
    known: dict[str, str | None],
) -> int:
    """Each search's members and their dates (into ``known``); how many could not be read."""
    qstore = store.queries()
    troubles = 0
    for q in result.queries:
        report = QueryReport(q.id, q.label, q.as_params())
        result.report.queries.append(report)
        try:
            result.before[q.id] = qstore.members(q.id)
            listing: Listing = members(client, q.as_params(), q.name, lo.max_query_results, stamp)
        except (FetchError, InputError, StoreError) as exc:
            report.error = str(exc)
            troubles += 1
            continue
        result.memberships[q.id] = set(listing.dates)
        report.matches = len(listing.dates)
        report.baseline = result.before[q.id] is None
        known.update(listing.dates)
        if listing.reruns:
            result.report.notes.append(
                f"the registry's data changed while {q.name!r} was read; read again"
            )
    return troubles


def _dates_on_record(
    client: RegistryClient, store: Store, ids: list[str], known: dict[str, str | None]
) -> dict[str, str | None]:
    """Phase one for the watched ids no search covered: only for trials with a last-update
    date on record to compare with (the others are fetched whole anyway)."""
    rows = store.rows(ids)
    rest = [
        n
        for n in ids
        if n not in known and rows.get(n, {}).get("latest") and rows[n].get("last_update")
    ]
    return last_updates(client, rest).dates if rest else {}


@dataclass
class _Plan:
    everyone: list[str]  # every trial to account for: watched ids, then search members
    fetch: list[str]  # those to fetch whole
    entered: set[str]  # joined a search since it was last read
    departed: set[str]  # left one
    rows: dict[str, dict[str, Any]]  # what the store knows of everyone


def _plan(
    ids: list[str],
    result: ListRun,
    store: Store,
    observer: Observer,
    known: dict[str, str | None],
    full: bool,
) -> _Plan:
    """Everyone to account for, whom to fetch whole, who joined a search, who left one."""
    entered: set[str] = set()
    departed: set[str] = set()
    for qid, now_members in result.memberships.items():
        before = result.before.get(qid)
        if before is not None:
            entered |= now_members - before
            departed |= before - now_members
    in_searches = (n for m in result.memberships.values() for n in sorted(m))
    everyone = list(dict.fromkeys([*ids, *in_searches]))
    rows = store.rows(everyone)
    fetch = [
        n
        for n in everyone
        if full
        or n in observer.pending_at_start
        or n in entered
        or n not in known
        or _needs_record(rows.get(n), known.get(n))
    ]
    fetch += sorted(departed - set(fetch))
    return _Plan(everyone, fetch, entered, departed, rows)


def _fetch(
    fetch: list[str],
    watched: set[str],
    summarised: set[str],
    client: RegistryClient,
    store: Store,
    options: CheckOptions,
    lo: ListOptions,
    observer: Observer,
    result: ListRun,
) -> RunReport:
    """Phase two: the whole records, a one-line summary of those that joined or left a search,
    and the records of watched trials handed on (signals follow watched ids, not members)."""
    inner = options.on_record

    def on_record(nct: str, record: dict[str, Any]) -> None:
        if nct in summarised:
            result.summaries[nct] = summary(nct, record)
        if inner is not None and nct in watched:
            inner(nct, record)

    options.on_record = on_record
    try:
        if not lo.batch:
            return check_each(fetch, client, store, options, observer)
        return check_batched(
            fetch,
            client,
            store,
            options,
            batch_size=lo.batch_size,
            watch_list=False,
            observer=observer,
        )
    finally:
        options.on_record = inner


def _file(
    reports: list[TrialReport], watched: set[str], departed: set[str], result: ListRun
) -> None:
    """Each fetched trial's report where it belongs: a watched trial's in the report; a
    member's in the report only when it has something to say (a search's news says the rest);
    a departed member's as why it left."""
    run = result.report
    for t in reports:
        key = t.alias_of or t.nct_id
        if key in watched:
            run.trials.append(t)
        elif key in departed and t.outcome is Outcome.ERROR:
            why = f"its record could not be read ({t.error})"
            if "is not in the registry" in (t.error or ""):
                why = "not found in the registry any more"
            result.summaries[key] = Match(key, why=why)
        elif t.outcome in (Outcome.CHANGED, Outcome.ERROR, Outcome.REMOVED):
            run.trials.append(t)
            result.member_reports.append(t)
        else:
            result.member_reports.append(t)
        if key in departed and t.outcome is not Outcome.ERROR:
            result.summaries[key] = _departure(result.summaries.get(key), t)


def _unchanged(
    skipped_ids: list[str],
    rows: dict[str, dict[str, Any]],
    watched: set[str],
    known: dict[str, str | None],
    store: Store,
    options: CheckOptions,
    lo: ListOptions,
    run: RunReport,
) -> None:
    """The trials phase one showed unchanged: checked without their records; a watched one
    is reported unchanged, and read from its snapshot when its signals may have changed."""
    checked_at = utc_now()
    for n in skipped_ids:
        row = rows.get(n) or {}
        store.note_check(n, checked_at, Outcome.UNCHANGED.value, last_update=known.get(n))
        if n not in watched:
            continue
        if options.on_record is not None and lo.wants_record is not None:
            read_snapshots(store, [n], lo.wants_record, options.on_record)
        title, latest = row.get("title"), row.get("latest")
        run.trials.append(TrialReport(n, Outcome.UNCHANGED, title=title, previous_snapshot=latest))


def _departure(known: Match | None, t: TrialReport) -> Match:
    """A trial that left a query, and what in its record most likely took it out."""
    base = known or Match(t.nct_id, title=t.title)
    headlines = [e.headline for e in t.events if not e.silent][:2]
    if not headlines:
        headlines = [c.sentence for c in t.changes if c.material][:2]
    if headlines:
        why = "its record changed: " + "; ".join(headlines)
    else:
        why = "its record did not change since the last check: the registry's search changed"
    return Match(
        base.nct_id,
        title=base.title or t.title,
        phases=base.phases,
        status=base.status,
        sponsor=base.sponsor,
        first_posted=base.first_posted,
        why=why,
    )


def news_for(result: ListRun, store: Store, output: str, changed: set[str]) -> list[QueryReport]:
    """Each query's news for one output, against what that output was last told (a mail that
    did not go out keeps its news for the next digest). ``changed``: the trials whose change
    reports this output carries."""
    qstore = store.queries()
    out: list[QueryReport] = []
    for qr in result.report.queries:
        news = QueryReport(qr.id, qr.label, qr.params, qr.matches, error=qr.error)
        out.append(news)
        now = result.memberships.get(qr.id)
        if qr.error or now is None:
            continue
        told = qstore.told(qr.id, output)
        if told is None:
            told = result.before.get(qr.id)
        if told is None:
            news.baseline = True
            continue
        gained, lost = sorted(now - told), sorted(told - now)
        rows = store.rows([*gained, *lost]) if gained or lost else {}
        news.new = [result.summaries.get(n) or _from_row(n, rows.get(n)) for n in gained]
        news.left = [result.summaries.get(n) or _from_row(n, rows.get(n)) for n in lost]
        news.updated = sorted(n for n in now & changed if n not in gained)
    return out


def told(result: ListRun, store: Store, output: str) -> None:
    """Remember that ``output`` now knows each query's members."""
    store.queries().tell([(qid, output, members) for qid, members in result.memberships.items()])


def _from_row(nct: str, row: dict[str, Any] | None) -> Match:
    row = row or {}
    return Match(nct, title=row.get("title"), status=row.get("status"))
