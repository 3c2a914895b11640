"""``trialwatch sync``: the whole registry, or a population of it, kept current in the store.

1. **Bootstrap.** From the registry's bulk file (``--from-file``, or ``--download`` to fetch it):
   each study not yet stored becomes its baseline, in batches (one transaction each, the files
   of a folder store made durable once a batch); a study already stored is queued for
   comparison. Or from paged ``/studies`` for a query's population (``--query``).
2. **Incremental.** Later syncs ask only for what moved: ``filter.advanced=
   AREA[LastUpdatePostDate]RANGE[<last date seen − 1 day>,MAX]`` (the day of overlap AACT
   uses: the registry posts a day's updates in one go, and a page read during the posting
   misses some), page by page, each record queued with the record itself.
3. **Sweep.** Every ``sweep_days`` (or with ``--sweep``) the population's ids alone
   (``fields=NCTId``, a thousand a request) are listed; a stored trial missing from it is
   queued to be fetched by id: a 404 files that it left the registry.
4. **Work.** Jobs are compared by the same change model as ``check`` (Observer): a change is
   stored and its events filed as rows, not printed (``trialwatch events`` reads them). The
   sync works the queue itself unless ``--no-work``; ``trialwatch worker`` processes share it.

A sync killed at any point resumes: what was queued stays queued, the date it pages from moves
on only once every page is queued, a job is done in the transaction that stores its change."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue as queue_
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trialwatch.changes.match import forget_texts
from trialwatch.errors import FetchError, InputError, NotInRegistryError, TrialwatchError
from trialwatch.model import Outcome, TrialReport
from trialwatch.pipeline.compare import CheckOptions, Observer
from trialwatch.record import Fetched, last_update, utc_now
from trialwatch.registry.client import RegistryClient
from trialwatch.search.members import listed_ids
from trialwatch.store import events
from trialwatch.store.jobs import LEASE_SECONDS, Job
from trialwatch.store.port import Store
from trialwatch.store.unit import SqlUnit
from trialwatch.sync import bulk

log = logging.getLogger("trialwatch")

OVERLAP_DAYS = 1
BATCH = 250  # studies a bootstrap stores in one transaction (memory: a batch or two)
WORK_BATCH = 50  # jobs a worker claims at once
META = "sync"  # the meta key of the sync's own state


@dataclass
class SyncState:
    """What the store remembers of its sync between runs."""

    population: dict[str, str] = field(default_factory=dict)  # query params; {}: everything
    through: str | None = None  # the latest last-update date every page up to it was queued
    last_sync: str | None = None
    last_sweep: str | None = None
    source: str | None = None  # how it was bootstrapped

    @classmethod
    def load(cls, store: Store) -> SyncState:
        data = store.meta(META)
        if not isinstance(data, dict):
            return cls()
        pop = data.get("population")
        return cls(
            population={str(k): str(v) for k, v in pop.items()} if isinstance(pop, dict) else {},
            through=data.get("through") if isinstance(data.get("through"), str) else None,
            last_sync=data.get("last_sync") if isinstance(data.get("last_sync"), str) else None,
            last_sweep=data.get("last_sweep") if isinstance(data.get("last_sweep"), str) else None,
            source=data.get("source") if isinstance(data.get("source"), str) else None,
        )

    def save(self, unit: SqlUnit) -> None:
        unit.set_meta(META, self.__dict__)

    @property
    def started(self) -> bool:
        return self.through is not None or self.source is not None


@dataclass
class Tally:
    """What the comparisons of a sync (or a worker) found."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    events: int = 0
    gone: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Subscriptions' digests that could not go out at the end of the run (sent next time).
    undelivered: list[str] = field(default_factory=list)

    def add(self, report: TrialReport) -> None:
        if report.outcome is Outcome.NEW:
            self.new += 1
        elif report.outcome is Outcome.CHANGED:
            self.changed += 1
            # The rows its step filed: its events, and the changes no event explains.
            explained = {i for e in report.events for i in e.changes}
            self.events += len(report.events) + sum(
                1 for c in report.changes if c.material and c.id not in explained
            )
        elif report.outcome is Outcome.ERROR:
            self.errors.append((report.nct_id, report.error or "failed"))
        else:
            self.unchanged += 1

    def merge(self, other: Tally) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.events += other.events
        self.gone += other.gone
        self.errors += other.errors


@dataclass
class SyncReport:
    what: str  # in words: "the bulk file ctg-studies.json.zip", "updates since 2026-11-30"
    read: int = 0  # records read from the file or the pages
    queued: int = 0  # of them, queued for comparison
    swept: int | None = None  # ids the sweep listed, when it ran
    tally: Tally = field(default_factory=Tally)
    left: int = 0  # jobs left for workers (--no-work, or another worker holds them)
    through: str | None = None
    seconds: float = 0.0


# -- staging a record with its job ---------------------------------------------------------


def envelope(fetched: Fetched) -> str:
    """A fetched record as its job holds it (with what tells an unchanged one at once): the
    record's own text where it is kept, not encoded again."""
    if fetched.text is None:
        return _compact(_about(fetched) | {"study": fetched.record})
    return f"{_study_head(_about(fetched))}{fetched.text.strip()}}}"


def _about(fetched: Fetched) -> dict[str, Any]:
    return _about_of(fetched.url, fetched.fetched_at, fetched.fingerprint)


def _about_of(url: Any, fetched_at: Any, fingerprint: Any) -> dict[str, Any]:
    """What an envelope says of its record, in the order it says it."""
    return {"url": url, "fetched_at": fetched_at, "fingerprint": fingerprint}


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _study_head(about: dict[str, Any]) -> str:
    """An envelope's text up to its record: the record's text follows, then ``}``."""
    return f'{_compact(about)[:-1]},"study":'


def unpack(nct: str, text: str) -> Fetched:
    """The record a job holds, with its text when the envelope is laid out as envelope()
    lays it out (so a database stores that text as the snapshot, not encoded again)."""
    from trialwatch.sanitize import loads as safe_loads
    from trialwatch.sanitize import needs_repair

    data = safe_loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("study"), dict):
        raise InputError(f"the queued record of {nct} is damaged; it is fetched again")
    fingerprint = data.get("fingerprint") if isinstance(data.get("fingerprint"), str) else None
    head = _study_head(_about_of(data.get("url"), data.get("fetched_at"), data.get("fingerprint")))
    study_text = None
    # Text that needed mending is not the record's (safe_loads mended the record).
    if len(data) == 4 and text.startswith(head) and text.endswith("}") and not needs_repair(text):
        study_text = text[len(head) : -1]
    return Fetched(
        nct,
        data["study"],
        str(data.get("url") or ""),
        str(data.get("fetched_at") or utc_now()),
        nct,
        fingerprint=fingerprint,
        text=study_text,
    )


# -- reading the registry ----------------------------------------------------------------


def _latest(current: str | None, fetched: Fetched) -> str | None:
    day = last_update(fetched.record)
    if day is None:
        return current
    return day if current is None or day > current else current


def keeps_text(store: Store) -> bool:
    """Whether the store keeps a record's text as served as its snapshot (a database's row),
    rather than writing the parsed record (a folder's file, indented)."""
    return "files" not in store.capabilities


def parallel_read(store: Store) -> bool:
    """Whether a bulk file is read in a second process: when this process does the store's
    writing itself (a folder), or when the machine has cores to spare beside a database
    server's. Measured on 2 cores (benchmarks/bench_sync.py, 30,000 records): a folder 22%
    faster, PostgreSQL 24% slower (its server needs the second core for the COPY)."""
    import os

    return "files" in store.capabilities or (os.cpu_count() or 1) > 2


def take(
    store: Store,
    found: Iterable[Fetched],
    reason: str,
    report: SyncReport,
    on_batch: Callable[[int], None] | None = None,
) -> str | None:
    """Store what is new as its baseline and queue the rest, a batch at a time; returns the
    latest last-update date read. The next batch is read (parsed, or fetched) while this one
    is written."""
    through: str | None = None
    for batch in ahead(batches(found, BATCH)):
        report.read += len(batch)
        for fetched in batch:
            through = _latest(through, fetched)
        report.queued += _store_batch(store, batch, reason, report.tally)
        if on_batch is not None:
            on_batch(len(batch))
    return through


def batches(found: Iterable[Fetched], size: int) -> Iterator[list[Fetched]]:
    batch: list[Fetched] = []
    for fetched in found:
        batch.append(fetched)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ahead(items: Iterator[list[Fetched]], depth: int = 1) -> Iterator[list[Fetched]]:
    """The items of ``items``, made in a thread up to ``depth`` ahead of their use (reading
    holds Python while the database works); its error is raised where the item would be."""
    out: queue_.Queue[tuple[list[Fetched] | None, BaseException | None]] = queue_.Queue(depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                out.put((item, None))
            out.put((None, None))
        except BaseException as exc:  # handed to the reader, raised there
            out.put((None, exc))

    worker = threading.Thread(target=make, name="trialwatch-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = out.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item
    finally:
        stop.set()
        for _ in range(20):  # let a blocked put finish, so the thread ends (a request under
            if not worker.is_alive():  # way is left to finish alone: the thread is a daemon)
                break
            with contextlib.suppress(queue_.Empty):
                out.get_nowait()
            worker.join(0.05)


def _store_batch(store: Store, batch: list[Fetched], reason: str, tally: Tally) -> int:
    """One batch: baselines of the studies never stored, jobs for the others."""
    known = store.rows([f.nct_id for f in batch])
    # A database writes a trial's state with its first snapshot; a folder may hold snapshots
    # its state lost (a state.db rebuilt).
    files = "files" in store.capabilities
    fresh = {
        f.nct_id: f
        for f in batch
        if f.nct_id not in known and not (files and store.snapshots(f.nct_id))
    }  # one baseline a trial
    chosen = {id(f) for f in fresh.values()}
    later = [f for f in batch if id(f) not in chosen]
    with store.unit() as unit:
        unit.baselines(list(fresh.values()))  # durable before the state commits
        unit.enqueue([(f.nct_id, reason, envelope(f)) for f in later])
    tally.new += len(fresh)  # their checks were written with them (first_check)
    return len(later)


def updated_since(
    client: RegistryClient, population: dict[str, str], since: str
) -> Iterator[Fetched]:
    """Every study of the population whose last update was posted on ``since`` or later."""
    window = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    params = dict(population)
    mine = params.get("filter.advanced")
    params["filter.advanced"] = f"({mine}) AND {window}" if mine else window
    return client.fetch_pages(params, f"the updates posted since {since}")


def sweep(store: Store, client: RegistryClient, state: SyncState, report: SyncReport) -> None:
    """Queue the stored trials the registry no longer lists (to be fetched: gone, or moved)."""
    ids = listed_ids(client, state.population, "the population's ids")
    report.swept = len(ids)
    if not ids:
        raise FetchError(
            "the registry listed no study for the sweep; nothing is taken for gone (try again "
            "later)"
        )
    stored = store.trials()
    rows = store.rows(stored)
    missing = [n for n in stored if n not in ids and rows.get(n, {}).get("last_outcome") != "gone"]
    with store.unit() as unit:
        unit.enqueue([(n, "sweep", None) for n in missing])
        state.last_sweep = utc_now()
        state.save(unit)
    report.queued += len(missing)


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day[:10]) - dt.timedelta(days=OVERLAP_DAYS)).isoformat()


def sweep_due(state: SyncState, every_days: float, now: dt.datetime | None = None) -> bool:
    if every_days <= 0:
        return False
    if state.last_sweep is None:
        return state.through is not None
    last = dt.datetime.fromisoformat(state.last_sweep.replace("Z", "+00:00"))
    return (now or dt.datetime.now(dt.UTC)) - last >= dt.timedelta(days=every_days)


# -- working the queue -------------------------------------------------------------------------


# A worker claims at most this share of what waits, so a short queue is shared among the
# workers instead of taken whole by the first one.
SHARE = 4


def claim_size(waiting: int, most: int, lease: float, interval: float) -> int:
    """How many jobs to claim at once: at most ``most``, at most a quarter of what waits (a
    short queue spreads over the workers), and no more than the pace lets one worker do in
    half its lease (a claim is never taken over while its worker is still on it); at least 1."""
    by_queue = waiting // SHARE
    by_lease = int(lease / (2 * interval)) if interval > 0 else most
    return max(1, min(most, by_queue, by_lease))


class Worker:
    """Claims jobs and compares their records with the store, one transaction a job."""

    def __init__(
        self,
        store: Store,
        client: RegistryClient | None,
        options: CheckOptions,
        watched: set[str],
        keep_for: tuple[str, ...],
        name: str | None = None,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.client = client
        self.lease = lease  # the store's lease_seconds, for every claim this worker makes
        self.name = name or store.run_id
        # Trials someone watches keep their changes pending for the outputs in use, so the
        # next check reports what a sync stored; the rest of the registry is only filed.
        self.watched = watched
        self.quiet = Observer(store, replace(options, outputs=(), keep_for=()))
        self.told = Observer(store, replace(options, outputs=(), keep_for=keep_for))

    def run(
        self,
        *,
        wait: float = 0.0,
        limit: int | None = None,
        on_job: Callable[[str], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> Tally:
        """Work until the queue is empty (``wait``: poll for that many seconds more first);
        ``on_idle`` is called each time the queue runs dry after work (a waiting worker tells
        the subscriptions what it stored, not only when it stops)."""
        tally = Tally()
        idle_since: float | None = None
        done = 0
        worked = False
        try:
            while limit is None or done < limit:
                most = WORK_BATCH if limit is None else min(WORK_BATCH, limit - done)
                interval = self.client.limiter.interval if self.client is not None else 0.0
                waiting = self.store.jobs_waiting()
                n = claim_size(waiting, most, self.lease, interval)
                jobs = self.store.claim_jobs(self.name, n, self.lease) if waiting else []
                if not jobs:
                    if wait <= 0:
                        break
                    if worked and on_idle is not None:
                        on_idle()
                    worked = False
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > wait:
                        break
                    time.sleep(min(1.0, wait))
                    continue
                idle_since = None
                worked = True
                for job in jobs:
                    self._one(job, tally)
                    done += 1
                    if on_job is not None:
                        on_job(job.nct)
                self.store.flush_checks()
                forget_texts()  # memory stays flat however many records a sync compares
        except BaseException:
            self.store.release_jobs(self.name)
            raise
        return tally

    def _fetch(self, job: Job) -> Fetched:
        if job.record is not None:
            try:
                return unpack(job.nct, job.record)
            except (InputError, ValueError) as exc:
                log.warning("%s", exc)
        if self.client is None:
            raise FetchError("no registry client to fetch it with")
        return self.client.fetch_study(job.nct)

    def _one(self, job: Job, tally: Tally) -> None:
        store, nct = self.store, job.nct
        try:
            fetched = self._fetch(job)
        except NotInRegistryError:
            self._gone(job, tally)
            return
        except TrialwatchError as exc:
            store.job_failed(nct, self.name, str(exc))
            tally.errors.append((nct, str(exc)))
            return
        observer = self.told if fetched.nct_id in self.watched else self.quiet
        with store.unit(key=nct) as unit:
            if not unit.still_mine(nct, self.name):
                return  # taken over after the lease, or queued again with a newer record
            report = observer.observe(fetched)
            if report.outcome is Outcome.ERROR:
                ok = False
            else:
                unit.job_done(nct, self.name)
                ok = True
        if ok:
            tally.add(report)
        else:
            store.job_failed(nct, self.name, report.error or "failed")
            tally.errors.append((nct, report.error or "failed"))

    def _gone(self, job: Job, tally: Tally) -> None:
        """The registry answers 404 for a stored trial: filed as an event, once."""
        store, nct = self.store, job.nct
        now = utc_now()
        latest = store.snapshots(nct)
        row = events.Row(
            nct, now, None, latest[-1].name if latest else None, "",
            "event", "left_registry", "status",
            "Left the registry: ClinicalTrials.gov no longer serves this trial", 5,
            {"type": "left_registry", "headline": "Left the registry"},
        )  # fmt: skip
        with store.unit(key=nct) as unit:
            if not unit.still_mine(nct, self.name):
                return
            unit.file_events([row])
            unit.put_state(nct, {"last_outcome": "gone", "last_checked": now})
            unit.job_done(nct, self.name)
        tally.gone.append(nct)


# -- the command ---------------------------------------------------------------------------


def run_sync(
    store: Store,
    client: RegistryClient,
    worker: Worker,
    *,
    from_file: Path | None = None,
    download_to: Path | None = None,
    query: dict[str, str] | None = None,
    force_sweep: bool = False,
    sweep_days: float = 7.0,
    work: bool = True,
    on_progress: Callable[[str, int], None] | None = None,
) -> SyncReport:
    started = time.monotonic()
    state = SyncState.load(store)
    if query is not None and state.started and query != state.population:
        raise InputError(
            "this store already syncs another population; sync it without --query, or use "
            "another store for this one"
        )
    with store.unit() as unit:
        unit.forget_done_jobs()

    def batch_done(n: int) -> None:
        if on_progress is not None:
            on_progress("read", n)

    first_read = not state.started  # the bulk file, or a query's population, read whole
    if from_file is not None or download_to is not None:
        if download_to is not None:
            bulk.download(client, download_to)
            from_file = download_to
        assert from_file is not None
        report = SyncReport(f"the bulk file {from_file.name}")
        # A store that keeps each record's text has it checked by whoever reads it back.
        found = bulk.records(from_file, parallel_read(store), checked=not keeps_text(store))
        through = take(store, found, "bulk file", report, batch_done)
        state.population, state.source = {}, f"bulk file {from_file.name}"
    elif query is not None and not state.started:
        report = SyncReport("the population's first read")
        through = take(
            store, client.fetch_pages(dict(query), "the population"), "query", report, batch_done
        )
        state.population, state.source = dict(query), "query"
    elif state.through is not None or state.source is not None:
        since = _day_before(state.through) if state.through else "MIN"
        report = SyncReport(f"the updates posted since {since}")
        through = take(
            store, updated_since(client, state.population, since), "updated", report, batch_done
        )
    else:
        raise InputError(
            "nothing synced into this store yet: start from the registry's bulk file "
            "(trialwatch sync --from-file ctg-studies.json.zip, or --download to fetch it), "
            "or from a query's population (trialwatch sync --query cond=asthma)"
        )
    # Every page is queued: the next sync pages from here (a killed sync pages again).
    if through is not None and (state.through is None or through > state.through):
        state.through = through
    state.last_sync = utc_now()
    if first_read and state.last_sweep is None:
        # A first read lists the whole population as it is now: the sweep's work, done. The
        # next sweep is due sweep_days later, not the day after a bootstrap.
        state.last_sweep = state.last_sync
    with store.unit() as unit:
        state.save(unit)
    report.through = state.through
    if force_sweep or (from_file is None and sweep_due(state, sweep_days)):
        sweep(store, client, state, report)
    if work:

        def job_done(_nct: str) -> None:
            if on_progress is not None:
                on_progress("compared", 1)

        report.tally.merge(worker.run(on_job=job_done))
    report.left = store.job_progress().left
    report.seconds = time.monotonic() - started
    return report
