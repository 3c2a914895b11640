"""Backfill: store every version the registry keeps of a trial, once.

Reads the index, then each version the store lacks, one request each at the shared polite
pace. Each version is written as soon as it arrives, so an interrupted backfill loses nothing
and the next one asks only for the rest. A trial whose history cannot be read (an answer of an
unexpected shape, a 403, a 404, "no history summary") is reported as "history unavailable" and
the run goes on with the next trial; a version missing from the registry mid-way is skipped
and named, the others are still stored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trialwatch.errors import FetchError, RunDeadlineError
from trialwatch.record import utc_now
from trialwatch.registry.history import HistoryClient, HistoryIndex, HistoryUnavailable
from trialwatch.store.versions import VersionStore

log = logging.getLogger("trialwatch")


@dataclass
class Backfilled:
    nct_id: str
    versions: int = 0  # in the registry's index
    fetched: int = 0  # this run
    stored: int = 0  # already there before
    missing: list[str] = field(default_factory=list)  # versions the registry would not serve
    error: str | None = None
    index: HistoryIndex | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "versions": self.versions,
            "fetched": self.fetched,
            "already_stored": self.stored,
            "missing": list(self.missing),
            "error": self.error,
        }

    def line(self) -> str:
        if self.error:
            return f"{self.nct_id}: history unavailable: {self.error}"
        text = (
            f"{self.nct_id}: {self.versions} version{'s' if self.versions != 1 else ''} in the "
            f"registry; {self.fetched} fetched, {self.stored} already stored"
        )
        if self.missing:
            text += f"; not served: {'; '.join(self.missing)}"
        return text


def backfill(
    client: HistoryClient,
    versions: VersionStore,
    nct_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> Backfilled:
    """Store the versions of one trial the store lacks. Never raises for the registry's
    answers: a trial whose history cannot be read comes back with ``error`` set."""
    result = Backfilled(nct_id)
    try:
        index = client.index(nct_id)
    except RunDeadlineError:
        raise
    except FetchError as exc:  # unavailable, or no useful answer after retries: this trial only
        result.error = str(exc)
        return result
    result.index = index
    result.versions = len(index.versions)
    versions.save_index(nct_id, index, utc_now())
    have = versions.numbers(nct_id)
    todo = [v for v in index.versions if v.version not in have]
    result.stored = result.versions - len(todo)
    for done, info in enumerate(todo, 1):
        try:
            study, url, fetched_at = client.version(nct_id, info.version)
        except RunDeadlineError:
            raise
        except HistoryUnavailable as exc:
            log.warning("%s", exc)
            result.missing.append(f"version {info.version} ({exc})")
            continue
        except FetchError as exc:  # the registry stopped answering: keep what was fetched
            result.error = f"{exc} ({result.fetched} of {len(todo)} versions fetched and kept)"
            return result
        versions.save(nct_id, info, study, url, fetched_at)
        result.fetched += 1
        if progress is not None:
            progress(done, len(todo))
    return result
