"""trialwatch site: the watch as pages and feeds."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialwatch.site.build import Built

from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.store.open import open_store
from trialwatch.store.watchlist import load_queries, watched_trials
from trialwatch.usecases import common
from trialwatch.usecases.common import config_trials

log = logging.getLogger("trialwatch")


def run_site(
    out: Path,
    settings: Settings,
    *,
    full: bool = False,
    as_of: dt.date | None = None,
) -> Built:
    """Build the static site of the watch from the store (no request to the registry)."""
    from trialwatch.site.build import WatchedTrial, build_site
    from trialwatch.usecases.subscriptions import all_subscriptions

    watched = watched_trials(settings.watchlist, config_trials(settings))
    queries = load_queries(settings.watchlist)
    store = open_store(settings.store)
    subs = all_subscriptions(settings, store)
    if not watched and not queries and not subs:
        store.close()
        raise InputError(
            "nothing to show: watch some trials first (trialwatch watch add NCT06224738; the "
            f"list is {settings.watchlist}), and check them, or add a subscription"
        )
    out = Path(out)
    root = store.folder.resolve() if store.folder is not None else None
    if root is not None and (out.resolve() == root or root in out.resolve().parents):
        store.close()
        raise InputError(f"build the site outside the snapshot folder {store.label}")
    try:
        return build_site(
            store,
            [WatchedTrial(w.nct_id, w.label) for w in watched],
            queries,
            out,
            today=as_of or common.today(),
            grace_days=int(settings["grace_days"]),
            full=full,
            subscriptions=subs,
        )
    finally:
        store.close()
