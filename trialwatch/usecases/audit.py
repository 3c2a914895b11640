"""trialwatch audit: the transparency signals of each trial."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from trialwatch.audit.report import AuditReport

from trialwatch.config import Settings
from trialwatch.errors import InputError, TrialwatchError
from trialwatch.record import record_id, utc_now
from trialwatch.store.open import open_store
from trialwatch.store.watchlist import watched_trials
from trialwatch.usecases import common
from trialwatch.usecases.check import run_check
from trialwatch.usecases.common import config_trials

log = logging.getLogger("trialwatch")


def run_audit(
    nct_ids: list[str],
    files: list[Path],
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    fetch: bool = False,
    http: httpx.Client | None = None,
) -> AuditReport:
    """Transparency signals of trials: the given ids (from their latest snapshots), the records
    in ``files``, or, given neither, every watched trial. Offline unless ``fetch``, which checks
    the trials first (what changed stays pending for the next check's report)."""
    from trialwatch.audit.report import AuditedTrial, AuditReport
    from trialwatch.audit.sources import audited, from_store, records_in_file
    from trialwatch.ids import normalize_nct_id

    day = as_of or common.today()
    grace = int(settings["grace_days"])
    report = AuditReport(generated_at=utc_now(), today=day.isoformat(), grace_days=grace)
    ids = [normalize_nct_id(i) for i in nct_ids]
    labels: dict[str, str | None] = {}
    if not ids and not files:
        watched = watched_trials(settings.watchlist, config_trials(settings))
        if not watched:
            raise InputError(
                "nothing to audit: give NCT ids or --file, or watch some trials "
                f"(trialwatch watch add NCT06224738; the list is {settings.watchlist})"
            )
        ids = [w.nct_id for w in watched]
        labels = {w.nct_id: w.label for w in watched}
    ids = list(dict.fromkeys(ids))
    if fetch and ids:
        # Fetch only: no mail, no notification; what changed stays pending for `check`.
        run, _, _ = run_check(
            ids, [], settings, explicit_ids=True, email=False, notify_on=False, http=http
        )
        for t in run.errors:
            report.notes.append(
                f"{t.nct_id} could not be fetched ({t.error}); its last snapshot is used"
            )
    store = open_store(settings.store)
    for nct in ids:
        trial = from_store(store, nct, day, grace)
        trial.label = labels.get(nct)
        report.trials.append(trial)
    for path in files:
        try:
            for record, source in records_in_file(path):
                nct = str(record_id(record))
                report.trials.append(audited(nct, record, day, grace, source=source))
        except TrialwatchError as exc:
            report.trials.append(AuditedTrial(str(path), error=str(exc)))
    return report
