"""The watch list as rows, and a trial looked up before it is watched."""

from __future__ import annotations

import logging
from typing import Any

from trialwatch.changes.baseline import title_of
from trialwatch.config import Settings
from trialwatch.errors import InputError, TrialwatchError
from trialwatch.store.open import open_store
from trialwatch.store.watchlist import load_queries, watched_trials
from trialwatch.usecases.common import build_client, config_trials

log = logging.getLogger("trialwatch")


def title_check(settings: Settings, raw_id: str) -> str | None:
    """ "NCT06224738: HER2 CAR-M … (Not yet recruiting)", looked up once with a short timeout.
    InputError when the registry does not know the trial; None when it could not be asked."""
    from trialwatch.changes.words import status_words
    from trialwatch.errors import FetchError, NotInRegistryError
    from trialwatch.ids import normalize_nct_id

    nct = normalize_nct_id(raw_id)
    quick = Settings(
        {**settings.values, "max_retries": 0, "timeout": 10.0, "run_deadline": 15.0},
        settings.sources,
        settings.config_file,
        settings.config_files,
    )
    try:
        with build_client(quick) as client:
            fetched = client.fetch_study(nct)
    except NotInRegistryError:
        raise InputError(
            f"{nct} is not in the registry (404); check the id at https://clinicaltrials.gov "
            "(or add it anyway with --offline)"
        ) from None
    except FetchError as exc:
        return f"{nct}: its title could not be looked up ({exc})"
    status = fetched.record.get("protocolSection", {}).get("statusModule", {})
    words = status_words(status.get("overallStatus")) if isinstance(status, dict) else ""
    return f"{fetched.nct_id}: {title_of(fetched.record) or 'no title'} ({words})"


def watch_rows(settings: Settings) -> list[dict[str, Any]]:
    """The watch list with what the store knows of each trial."""
    store = open_store(settings.store)
    rows = []
    for w in watched_trials(settings.watchlist, config_trials(settings)):
        state = store.state(w.nct_id)
        rows.append(
            {
                "id": w.nct_id,
                "label": w.label,
                "note": w.note,
                "status": state.get("status"),
                "title": state.get("title"),
                "last_checked": state.get("last_checked"),
                "last_changed": state.get("last_changed"),
                "last_error": state.get("last_error"),
            }
        )
    members = store.queries()
    for q in load_queries(settings.watchlist):
        try:
            seen = members.members(q.id)
        except TrialwatchError:
            seen = None
        rows.append(
            {
                "query": q.describe(),
                "id": q.id,
                "label": q.label,
                "params": q.as_params(),
                "members": "not checked yet" if seen is None else str(len(seen)),
            }
        )
    return rows
