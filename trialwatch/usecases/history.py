"""trialwatch history and backfill: a trial's whole life from the registry's versions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialwatch.registry.history import HistoryClient
    from trialwatch.timeline.backfill import Backfilled
    from trialwatch.timeline.render import Story

from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.store.open import open_store
from trialwatch.store.port import Store
from trialwatch.store.watchlist import watched_trials
from trialwatch.usecases.common import build_client, config_trials, progress_bar

log = logging.getLogger("trialwatch")


def run_history(
    nct_id: str,
    settings: Settings,
    *,
    since: str | None = None,
    original: bool = False,
) -> Story:
    """The story of one trial from what the store holds: the registry's versions (after a
    backfill) and the snapshots `check` took."""
    from trialwatch.ids import normalize_nct_id
    from trialwatch.timeline.render import tell
    from trialwatch.timeline.story import steps

    nct = normalize_nct_id(nct_id)
    store = open_store(settings.store)
    found = steps(store, nct)
    if not found:
        raise InputError(
            f"no snapshots or registry versions of {nct} in {store.label}; check it first "
            f"(trialwatch check {nct}) or fetch its history (trialwatch backfill {nct})"
        )
    index = store.versions().index(nct)
    return tell(
        nct,
        found,
        index.original if index else None,
        since=since,
        with_original=original,
    )


def first_history(
    settings: Settings, store: Store, nct_ids: list[str], interactive: bool
) -> dict[str, list[str]]:
    """Backfill the trials seen for the first time (no snapshot yet), before their baseline is
    recorded, and say in one line what their history holds. A history that cannot be read is
    said too; the check goes on."""
    from trialwatch.timeline.backfill import backfill
    from trialwatch.timeline.render import since_registration
    from trialwatch.timeline.story import steps

    new = [n for n in nct_ids if not store.snapshots(n)]
    if not new:
        return {}
    versions = store.versions()
    hc = history_client(settings)
    notes: dict[str, list[str]] = {}
    try:
        with store.locked(), progress_bar(interactive, len(new), "backfilling") as advance:
            for nct in new:
                result = backfill(hc, versions, nct)
                if result.error:
                    notes[nct] = [f"history unavailable: {result.error}"]
                elif result.versions:
                    notes[nct] = [since_registration(steps(store, nct))]
                if advance is not None:
                    advance(nct)
    finally:
        hc.client.close()
    return notes


def history_client(settings: Settings) -> HistoryClient:
    from trialwatch.registry.history import HistoryClient

    return HistoryClient(build_client(settings), settings["history_url"])


def run_backfill(
    nct_ids: list[str],
    settings: Settings,
    *,
    every_watched: bool = False,
    interactive: bool = False,
    client: HistoryClient | None = None,
) -> list[Backfilled]:
    """Store the registry's versions of each trial (all watched trials with ``every_watched``).
    One trial's unavailable history never stops the others."""
    from trialwatch.ids import normalize_nct_id
    from trialwatch.timeline.backfill import backfill

    ids = [normalize_nct_id(i) for i in nct_ids]
    if every_watched:
        ids += [w.nct_id for w in watched_trials(settings.watchlist, config_trials(settings))]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InputError(
            "say which trials: trialwatch backfill NCT06224738, or --all for every watched trial"
        )
    store = open_store(settings.store)
    versions = store.versions()
    hc = client or history_client(settings)
    results = []
    try:
        with store.locked(), progress_bar(interactive, len(ids), "backfilling") as advance:
            for nct in ids:
                results.append(backfill(hc, versions, nct))
                if advance is not None:
                    advance(nct)
    finally:
        if client is None:
            hc.client.close()
    return results
