"""trialwatch diff: two versions of a record compared, from files or from the store."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from trialwatch.changes.baseline import title_of
from trialwatch.changes.differ import compare, fill
from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.record import utc_now
from trialwatch.store.port import Snapshot
from trialwatch.store.snapshots import read_record_file

log = logging.getLogger("trialwatch")

# A stored version by reference: NCT…/latest, NCT…/previous, a dated snapshot, a registry version.
_STORED = re.compile(
    r"^(?P<nct>NCT\d{8})/(?:(?P<name>\d{4}-\d{2}-\d{2}(?:_\d+)?\.json|latest|previous)"
    r"|registry/v(?P<version>\d{4,})\.json)$",
    re.IGNORECASE,
)


def run_diff(old: Path, new: Path, settings: Settings) -> tuple[RunReport, Settings]:
    a, b = stored_or_file(old, settings), stored_or_file(new, settings)
    trial = TrialReport(
        nct_id=b.nct_id,
        outcome=Outcome.UNCHANGED,
        title=title_of(b.record),
        snapshot=str(new),
        previous_snapshot=str(old),
    )
    fill(trial, compare(b.nct_id, a.record, b.record, settings["ignore"]), settings["show_admin"])
    if a.nct_id != b.nct_id:
        trial.note(f"comparing two different trials: {a.nct_id} and {b.nct_id}")
    return RunReport(generated_at=utc_now(), trials=[trial]), settings


def explain_ignore(old: Path, new: Path, settings: Settings) -> list[str]:
    """What each ignore rule hides between two record files."""
    from trialwatch.changes.differ import explain_rules

    a, b = stored_or_file(old, settings), stored_or_file(new, settings)
    return explain_rules(b.nct_id, a.record, b.record, settings["ignore"])


def stored_or_file(ref: Path, settings: Settings) -> Snapshot:
    """A record file, or a record the store keeps, named as in a snapshot folder:
    ``NCT06224738/2026-11-25.json`` (or ``/latest``, ``/previous``) and
    ``NCT04280705/registry/v0003.json``; the same names in a database store."""
    text = str(ref).replace("\\", "/")
    match = _STORED.match(text)
    if Path(ref).exists() or match is None:
        return read_record_file(Path(ref))
    from trialwatch.store.open import open_store  # only for a stored version

    store = open_store(settings.store)
    nct = match["nct"].upper()
    try:
        if match["version"] is not None:
            v = store.versions().read(nct, int(match["version"]))
            return Snapshot(nct, v.path, v.record, None, None)
        names = [p.name for p in store.snapshots(nct)]
        name = match["name"]
        if name in ("latest", "previous"):
            wanted = names[-1:] if name == "latest" else names[-2:-1]
            name = wanted[0] if wanted else ""
        found = store.snapshot_named(nct, name) if name else None
    finally:
        store.close()
    if found is None:
        raise InputError(
            f"no record file {ref}, and no snapshot {text} in {store.label} "
            f"(its snapshots: {', '.join(names) or 'none'})"
        )
    return found
