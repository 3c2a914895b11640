"""trialwatch events: every stored change as rows, filed again on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialwatch.store.events import Row as EventRow

from trialwatch.config import Settings
from trialwatch.errors import TrialwatchError
from trialwatch.store.events import next_cursor
from trialwatch.store.open import open_store
from trialwatch.store.port import Store

log = logging.getLogger("trialwatch")


def run_events(
    settings: Settings,
    *,
    trials: list[str] | None = None,
    rebuild: bool = False,
    **filters: Any,
) -> list[EventRow]:
    """The stored changes and events that match; with ``rebuild``, filed again first from
    every stored snapshot (for a store from before 0.5, or after changing ignore rules: the
    rows filed again are new rows, at new positions)."""
    from trialwatch.ids import normalize_nct_id

    store = open_store(settings.store)
    wanted = [normalize_nct_id(t) for t in trials or []]
    try:
        if rebuild:
            with store.locked():
                for nct in wanted or store.trials():
                    refile(store, nct, list(settings["ignore"]))
        return store.query_events(trials=wanted or None, **filters)
    finally:
        store.close()


def follow_events(
    settings: Settings,
    after: int,
    on_rows: Callable[[list[EventRow]], None],
    *,
    every: float = 1.0,
    rounds: int | None = None,
    **filters: Any,
) -> int:
    """Hand every row stored after ``after`` to ``on_rows``, then keep looking for rows stored
    since: as soon as PostgreSQL says some were (LISTEN/NOTIFY), else every ``every`` seconds
    (``rounds``: how many looks, None for as long as it runs); returns the last cursor. A row is
    handed on once, whichever run or worker stored it."""
    store = open_store(settings.store)
    cursor, done = after, 0
    try:
        while rounds is None or done < rounds:
            rows = store.query_events(after=cursor, **filters)
            if rows:
                on_rows(rows)
                cursor = next_cursor(rows, cursor)
            done += 1
            if rounds is None or done < rounds:
                store.wait_for_events(every)
    finally:
        store.close()
    return cursor


def refile(store: Store, nct: str, ignore: list[str]) -> None:
    """File a trial's rows again from its stored snapshots, pair by pair."""
    import itertools

    from trialwatch.pipeline.compare import file_step

    files = store.snapshots(nct)
    snaps = []
    for path in files:
        try:
            snaps.append(store.read(path))
        except TrialwatchError:
            continue  # a damaged snapshot: the steps beside it are filed against its neighbours
    with store.unit() as unit:
        unit.forget_events(nct)
        for old, new in itertools.pairwise(snaps):
            seen = new.fetched_at or f"{new.name[:10]}T00:00:00Z"
            file_step(unit, nct, seen, old.record, new.record, old.name, new.name, ignore)
