"""trialwatch sync and worker: the whole registry kept current, its queue worked at one pace."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from trialwatch.registry.client import RegistryClient
    from trialwatch.store.jobs import Progress as SyncProgress
    from trialwatch.sync.run import SyncReport, SyncState, Tally
    from trialwatch.sync.run import Worker as SyncWorker

from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.store.open import open_store
from trialwatch.store.port import Store
from trialwatch.store.watchlist import watched_trials
from trialwatch.subscriptions.outbox import last_position
from trialwatch.usecases.common import (
    _counter,
    build_client,
    check_options,
    config_trials,
    kept_outputs,
)

log = logging.getLogger("trialwatch")


def sync_worker(settings: Settings, store: Store, client: RegistryClient | None) -> SyncWorker:
    """A worker of this store's sync queue: watched trials keep what it stores pending for
    the outputs a check delivers to (so the next check reports it); the rest is only filed."""
    from trialwatch.sync.run import Worker

    watched = {w.nct_id for w in watched_trials(settings.watchlist, config_trials(settings))}
    keep_for = ("stdout", *kept_outputs(settings, store, ("stdout",)))
    return Worker(
        store,
        client,
        check_options(settings),
        watched,
        keep_for,
        lease=float(settings["lease_seconds"]),
    )


@contextlib.contextmanager
def paced_client(settings: Settings, http: httpx.Client | None = None) -> Iterator[RegistryClient]:
    """A registry client whose pace is the store's, shared by every worker of it."""
    from trialwatch.sync.pacer import SharedPacer

    client = build_client(settings, http)
    pace_store = open_store(settings.store)
    client.limiter = SharedPacer(
        pace_store, settings["api_url"], float(settings["request_interval"])
    )
    try:
        yield client
    finally:
        pace_store.close()
        if http is None:
            client.close()


def run_sync(
    settings: Settings,
    *,
    from_file: Path | None = None,
    download: bool = False,
    query: list[str] | None = None,
    sweep: bool = False,
    work: bool = True,
    interactive: bool = False,
    http: httpx.Client | None = None,
) -> SyncReport:
    """Bring the store's copy of the registry (or of a population) up to date."""
    import tempfile

    from trialwatch.search.query import from_args
    from trialwatch.sync.run import run_sync as sync

    params = from_args(query).as_params() if query else None
    if from_file is not None and not Path(from_file).is_file():
        raise InputError(f"no bulk file at {from_file}; give the path of ctg-studies.json.zip")
    store = open_store(settings.store)
    with (
        paced_client(settings, http) as client,
        store.locked(),
        tempfile.TemporaryDirectory(prefix="trialwatch-bulk-") as scratch,
        _counter(interactive) as count,
    ):
        start = last_position(store)
        report = sync(
            store,
            client,
            sync_worker(settings, store, client),
            from_file=Path(from_file) if from_file else None,
            download_to=Path(scratch) / "ctg-studies.json.zip" if download else None,
            query=params,
            force_sweep=sweep,
            sweep_days=float(settings["sweep_days"]),
            work=work,
            on_progress=count,
        )
        report.tally.undelivered = tell_subscriptions(settings, store, start)
        return report


def run_worker(
    settings: Settings,
    *,
    wait: float = 0.0,
    limit: int | None = None,
    interactive: bool = False,
    http: httpx.Client | None = None,
) -> Tally:
    """Work the store's sync queue beside other workers until it is empty."""
    store = open_store(settings.store)
    with (
        paced_client(settings, http) as client,
        store.locked(),
        _counter(interactive) as count,
    ):
        start = last_position(store)
        undelivered: list[str] = []

        def tell() -> None:  # each time the queue runs dry, and at the end
            undelivered[:] = tell_subscriptions(settings, store, start)

        tally = sync_worker(settings, store, client).run(
            wait=wait,
            limit=limit,
            on_job=(lambda _n: count("compared", 1)) if count else None,
            on_idle=tell,
        )
        tell()
        tally.undelivered = undelivered
        return tally


def tell_subscriptions(settings: Settings, store: Store, start: int) -> list[str]:
    """The subscriptions' digests due at the end of a run; what could not go out, in words."""
    from trialwatch.usecases.subscriptions import deliver_subscriptions, problems

    return problems(deliver_subscriptions(settings, store, start))


def sync_status(settings: Settings) -> tuple[SyncState, SyncProgress]:
    from trialwatch.sync.run import SyncState

    store = open_store(settings.store)
    try:
        return SyncState.load(store), store.job_progress()
    finally:
        store.close()
