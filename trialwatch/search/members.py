"""What the registry's own search says, without whole records: the members of a query, or the
last-update dates of a list of ids, from ``GET /studies`` with ``fields=`` (about a hundred
bytes a trial instead of a whole record). The search is never re-implemented here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trialwatch.errors import FetchError, InputError
from trialwatch.record import last_update, record_id
from trialwatch.registry.client import RegistryClient, iter_page, next_token
from trialwatch.sanitize import RecordShapeError

FIELDS = "NCTId,LastUpdatePostDate"
PAGE = 1000  # the API's largest page
IDS_PER_REQUEST = 500
REFRESH_RETRIES = 2  # runs of a query again when the registry's data changed mid-way


class QueryTooLarge(InputError):
    """A query matching more trials than the watch allows."""


@dataclass
class Listing:
    """Trials and their last-update-posted dates, as one consistent read of the registry."""

    dates: dict[str, str | None] = field(default_factory=dict)  # nct -> last update posted
    reruns: int = 0  # reads again because the registry's data changed under one


def _pages(
    client: RegistryClient, params: dict[str, str], what: str, count_total: bool
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each projected study with the extra keys of its page so far (``totalCount`` on the
    first). An empty last page is normal: the API offers a next page whenever a page is full."""
    url = f"{client.api_url}/studies"
    token: str | None = None
    seen: set[str] = set()
    first = True
    while True:
        query = {**params, "fields": FIELDS, "pageSize": str(PAGE)}
        if first and count_total:
            query["countTotal"] = "true"
        if token:
            query["pageToken"] = token
        text = client.studies_page(query, what)
        extra: dict[str, Any] = {}
        try:  # a page of projections is small: read it whole, so the total comes first
            studies = [s for s, _ in iter_page(text, extra) if isinstance(s, dict)]
        except (ValueError, RecordShapeError) as exc:
            raise FetchError(
                f"{url} answered {what} with invalid or truncated JSON ({exc})"
            ) from None
        del text
        if first and count_total and "totalCount" in extra:
            yield {}, extra  # the total, before any member (and for a query with no match)
        for study in studies:
            yield study, extra
        first = False
        token = next_token(extra, seen, url)
        if token is None:
            return


def _read(
    client: RegistryClient,
    params: dict[str, str],
    what: str,
    limit: int | None,
    hint: str = "",
) -> Listing:
    listing = Listing()
    for study, extra in _pages(client, params, what, count_total=limit is not None):
        total = extra.get("totalCount")
        if isinstance(total, int) and limit is not None and total > limit:
            raise QueryTooLarge(
                f"{what} matches {total:,} trials, more than the {limit:,} a watch may hold "
                f"(max_query_results); nothing was stored. Narrow it{hint}"
            )
        nct = record_id(study)
        if nct is None:
            continue
        listing.dates[nct] = last_update(study)
        if limit is not None and len(listing.dates) > limit:
            raise QueryTooLarge(
                f"{what} matches more than {limit:,} trials (max_query_results); nothing was "
                f"stored. Narrow it{hint}"
            )
    return listing


def _consistent(client: RegistryClient, read: Any, before: str | None = None) -> Listing:
    """Run ``read`` between two looks at the registry's data timestamp (``before``: one just
    taken); when the data was refreshed mid-way (pages from two versions of the data), run it
    again."""
    for attempt in range(REFRESH_RETRIES + 1):
        if attempt or before is None:
            before = client.data_timestamp()
        listing: Listing = read()
        listing.reruns = attempt
        if before == client.data_timestamp():
            return listing
    raise FetchError(
        f"the registry's data changed while it was being read, {REFRESH_RETRIES + 1} times in a "
        "row; nothing was stored, try again later"
    )


def members(
    client: RegistryClient,
    params: dict[str, str],
    name: str,
    limit: int,
    stamp: str | None = None,
) -> Listing:
    """Every trial a query matches now, with its last-update date, read between two looks at
    the data timestamp (``stamp``: the first, if just taken)."""
    hint = (
        ": add a condition, an intervention, a status (status=RECRUITING) or a date range "
        "(lastUpdPost=2025-01-01_), or raise max_query_results"
    )
    return _consistent(
        client, lambda: _read(client, params, f"the query {name!r}", limit, hint), stamp
    )


def last_updates(client: RegistryClient, ids: list[str]) -> Listing:
    """The last-update dates of these trials (500 ids a request). Ids the registry did not
    return are not in ``dates`` (unknown, or aliases whose study came back under its own id):
    they are fetched whole, which tells the two apart.

    No second look at the data timestamp: a date read before a refresh is only compared with
    the date stored with the last snapshot, never stored itself, and the run records the
    timestamp it started from, so a trial a refresh changed mid-way is fetched next run."""
    out = Listing()
    for start in range(0, len(ids), IDS_PER_REQUEST):
        batch = ids[start : start + IDS_PER_REQUEST]
        part = _read(client, {"filter.ids": "|".join(batch)}, f"{len(batch)} ids", None)
        out.dates.update(part.dates)
    return out


def listed_ids(client: RegistryClient, params: dict[str, str], what: str) -> set[str]:
    """The ids of every study a search answers (everything, given no parameter), a thousand
    a request."""
    ids: set[str] = set()
    for study, _extra in _pages(client, params, what, count_total=False):
        nct = record_id(study)
        if nct is not None:
            ids.add(nct)
    return ids
