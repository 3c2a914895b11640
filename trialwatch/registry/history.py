"""The registry's own version history: every version a sponsor submitted since registration.

Two undocumented endpoints beside the website (``history_url``, by default
``https://clinicaltrials.gov/api/int``):

- ``GET {history_url}/studies/{id}/history``: the index, ``{changes: [{version, date, status,
  moduleLabels, …}], originalData, lastUpdateVersions, outcomesUpdateCount}`` (the
  ``?history=true`` form wraps the same object in ``{study, history}``; both are read);
- ``GET {history_url}/studies/{id}/history/{v}``: one version, ``{studyVersion, study}``, its
  text HTML-encoded.

Being undocumented, they are read defensively: a shape this module does not expect, a 403 (the
registry's answer to a version out of range, and to some HTTP clients), a 404 or a "No study …
history summary" body all become :class:`HistoryUnavailable` with a message that says so, never
a crash. No search parameter is ever sent (the registry would mark matches up in the text)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trialwatch.errors import FetchError
from trialwatch.record import record_id, utc_now
from trialwatch.sanitize import RecordShapeError
from trialwatch.sanitize import loads as safe_loads

if TYPE_CHECKING:
    import httpx

    from trialwatch.registry.client import RegistryClient

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NO_HISTORY = re.compile(r"No study \S+ history summary", re.IGNORECASE)
# A 403 here means "no such version" (or a refused client), not "slow down": asked once.
NOT_RETRIED = frozenset({403, 404})


class HistoryUnavailable(FetchError):
    """The registry's version history could not be read for one trial (or one version)."""


@dataclass(frozen=True)
class VersionInfo:
    """One entry of the index: a version the sponsor submitted."""

    version: int
    date: str  # the submission date (YYYY-MM-DD)
    status: str | None
    module_labels: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # reviewNotPassed, unpostedEvents…


@dataclass
class HistoryIndex:
    nct_id: str
    versions: list[VersionInfo]
    original: dict[str, Any]  # originalData: original values where they differ, "…Same" flags
    raw: dict[str, Any]  # as served: stored as the index


def parse_index(data: Any, nct_id: str) -> HistoryIndex:
    """The index in either form; a shape it cannot read raises HistoryUnavailable."""
    summary = data.get("history") if isinstance(data, dict) and "history" in data else data
    if not isinstance(summary, dict) or not isinstance(summary.get("changes"), list):
        raise HistoryUnavailable(
            f"the registry's version history of {nct_id} is not in the expected shape "
            "(no list of changes); history unavailable for this trial"
        )
    versions: list[VersionInfo] = []
    for entry in summary["changes"]:
        if not isinstance(entry, dict):
            continue
        number, date = entry.get("version"), entry.get("date")
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            continue
        if not isinstance(date, str) or not _DATE.match(date):
            continue
        labels = entry.get("moduleLabels")
        status = entry.get("status")
        versions.append(
            VersionInfo(
                version=number,
                date=date,
                status=status if isinstance(status, str) else None,
                module_labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
                extra={
                    k: v
                    for k, v in entry.items()
                    if k not in ("version", "date", "status", "moduleLabels")
                },
            )
        )
    if summary["changes"] and not versions:
        raise HistoryUnavailable(
            f"the registry's version history of {nct_id} lists no version this tool can read; "
            "history unavailable for this trial"
        )
    unique = {v.version: v for v in versions}
    original = summary.get("originalData")
    return HistoryIndex(
        nct_id=nct_id,
        versions=[unique[k] for k in sorted(unique)],
        original=original if isinstance(original, dict) else {},
        raw=summary,
    )


class HistoryClient:
    """Reads the index and the versions through a :class:`RegistryClient`'s transport: the
    same polite pace, retries and deadlines as every other request."""

    def __init__(self, client: RegistryClient, history_url: str) -> None:
        self.client = client
        self.history_url = history_url.rstrip("/")

    def _get(self, url: str, what: str) -> Any:
        response = self.client.get(url, no_retry=NOT_RETRIED)
        none = bool(_NO_HISTORY.search(response.text[:300]))
        if response.status_code != 200 or none:
            raise HistoryUnavailable(_refusal(response, what, none))
        try:
            return safe_loads(response.content)
        except (ValueError, RecordShapeError) as exc:
            raise HistoryUnavailable(
                f"the registry answered {what} with something that is not JSON ({exc}); "
                "history unavailable"
            ) from None

    def index(self, nct_id: str) -> HistoryIndex:
        url = f"{self.history_url}/studies/{nct_id}/history"
        return parse_index(self._get(url, f"the version history of {nct_id}"), nct_id)

    def version(self, nct_id: str, number: int) -> tuple[dict[str, Any], str, str]:
        """One version's record, the URL it came from and when it was fetched."""
        url = f"{self.history_url}/studies/{nct_id}/history/{number}"
        data = self._get(url, f"version {number} of {nct_id}")
        study = data.get("study") if isinstance(data, dict) else None
        if not isinstance(study, dict) or record_id(study) is None:
            raise HistoryUnavailable(
                f"version {number} of {nct_id} is not a study record; history unavailable for "
                "this version"
            )
        got = data.get("studyVersion")
        if got is not None and got != number:
            raise HistoryUnavailable(
                f"asked for version {number} of {nct_id}, the registry answered version {got}; "
                "not stored"
            )
        if record_id(study) != nct_id:
            raise HistoryUnavailable(
                f"asked for a version of {nct_id}, the registry answered one of "
                f"{record_id(study)}; not stored"
            )
        return study, url, utc_now()


def _refusal(response: httpx.Response, what: str, no_history: bool) -> str:
    status = response.status_code
    if no_history:
        return f"the registry keeps no version history for {what.split()[-1]}"
    if status == 403:
        return (
            f"the registry refused {what} (HTTP 403: a version it does not have, or a client "
            "it does not serve); history unavailable"
        )
    if status == 404:
        return f"the registry has no {what} (HTTP 404); history unavailable"
    return f"the registry answered HTTP {status} for {what}; history unavailable"
