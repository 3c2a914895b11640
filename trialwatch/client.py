"""The fetcher: asks the ClinicalTrials.gov API (v2) for study records.

Takes an ``httpx.Client`` so tests can hand it ``httpx.MockTransport`` or point it at a local
server. Every answer is checked to be a study's JSON before anyone sees it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from trialwatch import __version__
from trialwatch.errors import FetchError, NotInRegistryError
from trialwatch.ids import normalize_nct_id
from trialwatch.retry import RETRY_STATUSES, RateLimiter, RetryPolicy, parse_retry_after
from trialwatch.textnorm import one_line

log = logging.getLogger("trialwatch")

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
USER_AGENT = f"trialwatch/{__version__} (+https://pypi.org/project/trialwatch/)"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_REDIRECTS = 3


@dataclass
class Fetched:
    """A study record as the registry returned it."""

    nct_id: str  # the id the record carries
    record: dict[str, Any]
    url: str
    fetched_at: str  # UTC, ISO 8601
    requested_id: str
    alias_of: str | None = None  # set when the requested id redirected to nct_id


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def make_http_client(timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def _describe_body(response: httpx.Response) -> str:
    text = response.text.strip()
    if not text:
        return "an empty body"
    return f"“{one_line(text, 120)}”"


def record_id(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    ident = record.get("protocolSection", {})
    if not isinstance(ident, dict):
        return None
    value = ident.get("identificationModule", {})
    if not isinstance(value, dict):
        return None
    nct = value.get("nctId")
    return nct if isinstance(nct, str) else None


def record_aliases(record: dict[str, Any]) -> list[str]:
    ident = record.get("protocolSection", {}).get("identificationModule", {})
    aliases = ident.get("nctIdAliases") if isinstance(ident, dict) else None
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def _looks_like_html(response: httpx.Response) -> bool:
    head = response.content[:512].lstrip().lower()
    return "html" in response.headers.get("content-type", "") or head.startswith(
        (b"<!doctype", b"<html")
    )


def parse_study(response: httpx.Response, where: str) -> dict[str, Any]:
    """The response body as a study record, or FetchError saying what came instead."""
    body = response.content
    ctype = response.headers.get("content-type", "")
    head = body[:512].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<")):
        raise FetchError(
            f"{where} answered with an HTML page, not a study record; "
            "check the API URL (it should end in /api/v2) and try again later"
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FetchError(
            f"{where} answered with invalid or truncated JSON ({exc}); nothing was stored. "
            "Try again later"
        ) from None
    if not isinstance(data, dict) or record_id(data) is None:
        raise FetchError(
            f"{where} answered with JSON that is not a study record "
            "(no protocolSection.identificationModule.nctId); nothing was stored"
        )
    return data


class RegistryClient:
    """Fetches studies, with retries and a shared polite pace."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = http or make_http_client()
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(0.0)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------

    def get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET with bounded retries on transport errors, 403, 429 and 5xx."""
        waited = 0.0
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            self.limiter.wait()
            self.requests += 1
            retry_after: float | None = None
            try:
                response = self.http.get(url, params=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt == self.retry.attempts:
                break
            delay = self.retry.delay(attempt, retry_after)
            if waited + delay > self.retry.total_cap:
                if retry_after is not None:
                    last += f", Retry-After {retry_after:.0f}s is past the retry time cap"
                log.warning(
                    "giving up on %s: waiting %.1fs more would pass the %.0fs cap",
                    url,
                    delay,
                    self.retry.total_cap,
                )
                break
            log.warning(
                "%s from %s; retry %d of %d in %.1fs",
                last,
                url,
                attempt,
                self.retry.attempts - 1,
                delay,
            )
            self.retry.sleep(delay)
            waited += delay
        host = urlsplit(url).netloc or url
        raise FetchError(
            f"the registry at {host} did not answer usefully after {attempt} "
            f"attempt{'s' if attempt != 1 else ''} (last: {last}); "
            "nothing was stored, try again later"
        )

    # -- endpoints --------------------------------------------------------------------------

    def fetch_study(self, nct_id: str) -> Fetched:
        """``GET /studies/{id}``: one study, following a 301 alias to the current id."""
        requested = nct_id
        current = nct_id
        for _hop in range(MAX_REDIRECTS + 1):
            url = f"{self.api_url}/studies/{current}"
            response = self.get(url)
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                target = self._alias_target(response, current)
                log.info("%s is an alias of %s", current, target)
                current = target
                continue
            if status == 404 and _looks_like_html(response):
                # The API answers an unknown study in plain text; an HTML 404 page means the
                # URL is not the API's.
                raise FetchError(
                    f"{url} answered 404 with an HTML page: is the API URL right? It should end "
                    f"in /api/v2 (now {self.api_url})"
                )
            if status == 404:
                raise NotInRegistryError(
                    f"{current} is not in the registry (404 from the API); "
                    "check the id at https://clinicaltrials.gov"
                )
            if status != 200:
                raise FetchError(
                    f"the registry answered HTTP {status} for {current} with "
                    f"{_describe_body(response)}; nothing was stored"
                )
            record = parse_study(response, f"the registry ({url})")
            got = record_id(record)
            assert got is not None
            if got != current and current not in record_aliases(record):
                raise FetchError(
                    f"the registry answered a request for {current} with the record of {got}; "
                    "nothing was stored"
                )
            return Fetched(
                nct_id=got,
                record=record,
                url=str(response.url),
                fetched_at=utc_now(),
                requested_id=requested,
                alias_of=got if got != requested else None,
            )
        raise FetchError(f"{requested} redirected more than {MAX_REDIRECTS} times; giving up")

    def _alias_target(self, response: httpx.Response, current: str) -> str:
        location = response.headers.get("location", "")
        last = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        try:
            return normalize_nct_id(last)
        except Exception:
            raise FetchError(
                f"the registry redirected {current} to {location!r}, which is not a study id"
            ) from None

    def fetch_batch(self, nct_ids: Sequence[str], page_size: int = 1000) -> Iterator[Fetched]:
        """``GET /studies?filter.ids=…``: the studies among nct_ids, page by page."""
        url = f"{self.api_url}/studies"
        params = {"filter.ids": "|".join(nct_ids), "pageSize": str(page_size)}
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            query = dict(params)
            if token:
                query["pageToken"] = token
            response = self.get(url, params=query)
            if response.status_code != 200:
                raise FetchError(
                    f"the registry answered HTTP {response.status_code} for a batch of "
                    f"{len(nct_ids)} ids with {_describe_body(response)}"
                )
            page = _parse_page(response, url)
            del response  # the page's bytes are not needed once parsed
            fetched_at = utc_now()
            studies: list[Any] = page.pop("studies")
            studies.reverse()
            while studies:  # hand out records one at a time, letting each go once processed
                record = studies.pop()
                got = record_id(record)
                if got is None:
                    raise FetchError(f"{url} returned a study without an nctId; nothing stored")
                yield Fetched(got, record, f"{url}?filter.ids=…", fetched_at, got)
                del record
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen_tokens:
                raise FetchError(f"{url} returned the same nextPageToken twice; stopping")
            seen_tokens.add(token)

    def data_timestamp(self) -> str | None:
        """``GET /version``: the registry data's timestamp, or None if it cannot be read."""
        try:
            response = self.get(f"{self.api_url}/version")
        except FetchError:
            return None
        if response.status_code != 200:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        stamp = data.get("dataTimestamp") if isinstance(data, dict) else None
        return stamp if isinstance(stamp, str) else None


def _parse_page(response: httpx.Response, url: str) -> dict[str, Any]:
    head = response.content[:512].lstrip().lower()
    if head.startswith(b"<"):
        raise FetchError(f"{url} answered with an HTML page, not a page of studies")
    try:
        data = json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FetchError(f"{url} answered with invalid or truncated JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("studies", []), list):
        raise FetchError(f"{url} answered with JSON that is not a page of studies")
    data.setdefault("studies", [])
    return data
