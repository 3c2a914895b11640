"""The fetcher: asks the ClinicalTrials.gov API (v2) for study records.

Takes an ``httpx.Client`` so tests can hand it ``httpx.MockTransport`` or point it at a local
server. Every answer is checked to be a study's JSON before anyone sees it."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from trialwatch import __version__
from trialwatch.changes.textnorm import one_line
from trialwatch.config import DEFAULT_API_URL
from trialwatch.errors import FetchError, NotInRegistryError, RunDeadlineError
from trialwatch.ids import normalize_nct_id
from trialwatch.record import Fetched, record_aliases, record_id, utc_now
from trialwatch.registry.retry import RETRY_STATUSES, RateLimiter, RetryPolicy, parse_retry_after
from trialwatch.sanitize import NumberWatch, RecordShapeError, needs_repair, repair_strings
from trialwatch.sanitize import loads as safe_loads

log = logging.getLogger("trialwatch")

USER_AGENT = f"trialwatch/{__version__} (+https://pypi.org/project/trialwatch/)"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_REDIRECTS = 3
# A page of records is kept under this many bytes (the page's text is held while its records
# are processed one by one): memory follows this bound, not the list or the record size.
PAGE_BYTES = 24 * 1024 * 1024
FIRST_PAGE = 100


def make_http_client(timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def describe_body(response: httpx.Response) -> str:
    text = response.text.strip()
    if not text:
        return "an empty body"
    return f"“{one_line(text, 120)}”"


def _looks_like_html(response: httpx.Response) -> bool:
    head = response.content[:512].lstrip().lower()
    return "html" in response.headers.get("content-type", "") or head.startswith(
        (b"<!doctype", b"<html")
    )


def parse_study(response: httpx.Response, where: str) -> tuple[dict[str, Any], str]:
    """The response body as a study record and its fingerprint, or FetchError saying what came
    instead."""
    body = response.content
    ctype = response.headers.get("content-type", "")
    head = body[:512].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<")):
        raise FetchError(
            f"{where} answered with an HTML page, not a study record; "
            "check the API URL (it should end in /api/v2) and try again later"
        )
    text = body.decode("utf-8", errors="replace")
    try:
        data = safe_loads(text)
    except RecordShapeError as exc:
        raise FetchError(f"{where} answered with {exc}; nothing was stored") from None
    except ValueError as exc:
        raise FetchError(
            f"{where} answered with invalid or truncated JSON ({exc}); nothing was stored. "
            "Try again later"
        ) from None
    if not isinstance(data, dict) or record_id(data) is None:
        raise FetchError(
            f"{where} answered with JSON that is not a study record "
            "(no protocolSection.identificationModule.nctId); nothing was stored"
        )
    return data, fingerprint(text)


# The daily versionHolder, found in a record's UTF-8 (a multi-byte character never holds a
# quote or a backslash byte, so bytes are matched as the text would be).
_VERSION_HOLDER = re.compile(rb'"versionHolder"\s*:\s*"(?:[^"\\]|\\.)*"')


def fingerprint(record_text: str) -> str:
    """sha256 of a record's JSON text as served, with the daily ``versionHolder`` masked: the
    same bytes mean the same record, with no need to normalise it."""
    return fingerprint_bytes(record_text.encode("utf-8", errors="surrogatepass"))


def fingerprint_bytes(record_json: bytes) -> str:
    """fingerprint() of the text these bytes are the UTF-8 of, without decoding them (a bulk
    file's entry)."""
    masked = _VERSION_HOLDER.sub(b'"versionHolder":""', record_json)
    return hashlib.sha256(masked).hexdigest()


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def iter_page(
    text: str, extra: dict[str, Any], numbers: NumberWatch | None = None
) -> Iterator[tuple[Any, str]]:
    """The studies of a page of ``GET /studies`` one at a time, each with its own JSON text;
    the page's other keys (``nextPageToken``) go into ``extra``. Each record is parsed once (by
    the C scanner) and the page is never turned into one big tree, so memory follows one record,
    not the page. ValueError for anything that is not such a page. With ``numbers``, each
    study is read by its decoder, whose ``odd`` then says whether it holds an odd number."""
    decoder = _DECODER if numbers is None else numbers.decoder

    def ws(i: int) -> int:
        match = _WS.match(text, i)
        return match.end() if match else i

    def expect(i: int, char: str) -> int:
        if i >= len(text) or text[i] != char:
            raise ValueError(f"expected {char!r} at character {i}")
        return ws(i + 1)

    i = expect(ws(0), "{")
    if i < len(text) and text[i] == "}":
        return
    while True:
        key, i = _DECODER.raw_decode(text, i)
        i = expect(ws(i), ":")
        if key == "studies" and i < len(text) and text[i] == "[":
            i = ws(i + 1)
            if i < len(text) and text[i] == "]":
                i = ws(i + 1)
            else:
                while True:
                    if numbers is not None:
                        numbers.odd = False
                    try:
                        value, end = decoder.raw_decode(text, i)
                    except RecursionError:
                        raise ValueError("a study nests too deeply to read") from None
                    yield value, text[i:end]
                    i = ws(end)
                    if i < len(text) and text[i] == ",":
                        i = ws(i + 1)
                        continue
                    i = expect(i, "]")
                    break
        else:
            try:
                extra[key], i = _DECODER.raw_decode(text, i)
            except RecursionError:
                raise ValueError("the page nests too deeply to read") from None
        i = ws(i)
        if i < len(text) and text[i] == ",":
            i = ws(i + 1)
            continue
        i = expect(i, "}")
        if i != len(text):
            raise ValueError(f"extra data after the page at character {i}")
        return


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and len(chain) < 10:
        chain.append(node)
        node = node.__cause__ or node.__context__
    return chain


def hopeless_error(exc: httpx.TransportError, url: str) -> str | None:
    """A message for a connection error that retrying cannot mend — a host name that does not
    resolve, a refused connection, a certificate that does not verify — or None."""
    import socket
    import ssl

    host = urlsplit(url).netloc or url
    chain = _causes(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or (
        "certificate verify failed" in text
    ):
        return (
            f"the TLS certificate of {host} could not be verified ({exc}); check the API URL, "
            "or the system's certificates (a proxy that intercepts TLS needs its own)"
        )
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
            "getaddrinfo failed",
        )
    ):
        return (
            f"the registry's host name {host.split(':')[0]} could not be resolved ({exc}); "
            "check the API URL and the network (DNS)"
        )
    if isinstance(exc, httpx.ConnectError) and (
        any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text
    ):
        return (
            f"{host} refused the connection; nothing is listening there: check the API URL "
            "(--api-url, TRIALWATCH_API_URL or api_url)"
        )
    return None


class RegistryClient:
    """Fetches studies, with retries and a shared polite pace."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        request_deadline: float = 60.0,
        run_limit: float = 0.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = http or make_http_client()
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(0.0)
        self.request_deadline = request_deadline
        self.requests = 0
        self.bytes_received = 0  # bodies as decoded, for the benchmarks and -v
        # Average size of a record in the pages seen so far (None until one was seen).
        self.bytes_per_record: int | None = None
        # Seconds the run may spend asking (0: no limit), counted from now: no request starts
        # after run_deadline (monotonic), or None.
        self.run_limit = run_limit
        self.run_deadline = time.monotonic() + run_limit if run_limit > 0 else None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------

    def get(
        self,
        url: str,
        params: dict[str, str] | None = None,
        no_retry: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """GET with bounded retries on transport errors, 403, 429 and 5xx (but the statuses in
        ``no_retry``). Each attempt has an overall deadline (connect, headers and body: a
        server that drips its answer is cut off), and no attempt starts after the run's
        deadline."""
        waited = 0.0
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            self._check_run_deadline()
            self.limiter.wait()
            self.requests += 1
            retry_after: float | None = None
            try:
                response = self._get_once(url, params)
            except httpx.TransportError as exc:
                hopeless = hopeless_error(exc, url)
                if hopeless is not None:  # waiting will not mend it: say so at once
                    raise FetchError(hopeless) from None
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.debug("%s on %s (attempt %d)", last, url, attempt)
            else:
                if response.status_code not in RETRY_STATUSES or response.status_code in no_retry:
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
            if self.run_deadline is not None and time.monotonic() + delay > self.run_deadline:
                last += f"; a retry would pass the run's time limit of {self.run_limit:g}s"
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

    def _check_run_deadline(self) -> None:
        if self.run_deadline is not None and time.monotonic() >= self.run_deadline:
            raise RunDeadlineError(
                f"not checked: the run's time limit of {self.run_limit:g}s was reached "
                "(run_deadline); its last snapshot is kept"
            )

    def _get_once(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        """One GET, its body read in full before an overall deadline (``request_deadline``)."""
        started = time.monotonic()
        deadline = started + self.request_deadline
        if self.run_deadline is not None:
            deadline = min(deadline, self.run_deadline)
        with self.http.stream("GET", url, params=params) as response:
            chunks: list[bytes] = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(
                        f"the answer was still arriving after {time.monotonic() - started:.0f}s "
                        f"(the limit for one request is {self.request_deadline:g}s)"
                    )
            body = b"".join(chunks)
            del chunks
        self.bytes_received += len(body)
        log.info(
            "GET %s → %d, %d bytes, %.2fs",
            response.request.url,
            response.status_code,
            len(body),
            time.monotonic() - started,
        )
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=body, request=response.request
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
                    f"{describe_body(response)}; nothing was stored"
                )
            record, print_ = parse_study(response, f"the registry ({url})")
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
                fingerprint=print_,
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

    def batch_pages(
        self, nct_ids: Sequence[str], page_size: int = 1000
    ) -> Iterator[Iterator[Fetched]]:
        """``GET /studies?filter.ids=…`` a page at a time: each page's studies, read as they
        are asked for from the page already received (no request until the next page is asked
        for). Each page is read to its end before the next is asked for."""
        return self.pages(
            {"filter.ids": "|".join(nct_ids)}, f"a batch of {len(nct_ids)} ids", page_size
        )

    def fetch_pages(
        self, params: dict[str, str], what: str, page_size: int = 1000
    ) -> Iterator[Fetched]:
        """``GET /studies`` with these parameters: every study it answers, whole, page by page
        (never more than a page in memory)."""
        for records in self.pages(params, what, page_size):
            yield from records

    def pages(
        self, params: dict[str, str], what: str, page_size: int = 1000
    ) -> Iterator[Iterator[Fetched]]:
        """``GET /studies`` with these parameters, a page at a time (see batch_pages)."""
        url = f"{self.api_url}/studies"
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            query = dict(params)
            query["pageSize"] = str(self._page_size(page_size))
            if token:
                query["pageToken"] = token
            page: dict[str, Any] = {}
            yield self._page_records(self.studies_page(query, what), page, params, what)
            token = next_token(page, seen_tokens, url)
            if token is None:
                return

    def _page_records(
        self, text: str, page: dict[str, Any], params: dict[str, str], what: str
    ) -> Iterator[Fetched]:
        """The studies of one page's text, parsed one at a time; ``page`` gets the page's
        other keys (its next page token) once the last study is read."""
        url = f"{self.api_url}/studies"
        where = f"{url}?filter.ids=…" if "filter.ids" in params else f"{url}?{urlencode(params)}"
        fetched_at = utc_now()
        count = 0
        numbers = NumberWatch()
        try:
            for record, record_text in iter_page(text, page, numbers):
                count += 1
                got = record_id(record)
                if got is None:
                    raise FetchError(f"{url} returned a study without an nctId; nothing stored")
                found = fetched_from(got, record, record_text, where, fetched_at, keep_text=True)
                found.plain_numbers = not numbers.odd
                yield found
                del record, record_text, found
        except (ValueError, RecordShapeError) as exc:
            raise FetchError(
                f"{url} answered {what} with invalid or truncated JSON ({exc}); "
                "the rest was not checked"
            ) from None
        if count:
            self.bytes_per_record = max(1, len(text) // count)

    def studies_page(self, query: dict[str, str], what: str) -> str:
        """One page of ``GET /studies`` as text; FetchError for anything but a 200 JSON page."""
        url = f"{self.api_url}/studies"
        response = self.get(url, params=query)
        if response.status_code != 200:
            raise FetchError(
                f"the registry answered HTTP {response.status_code} for {what} with "
                f"{describe_body(response)}"
            )
        return page_text(response, url)

    def _page_size(self, wanted: int) -> int:
        """Records a page may hold so that its bytes stay under PAGE_BYTES: large records get
        smaller pages. Until a page has shown the records' size, a cautious FIRST_PAGE."""
        if self.bytes_per_record is None:
            return min(wanted, FIRST_PAGE)
        return max(1, min(wanted, PAGE_BYTES // self.bytes_per_record))

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


def fetched_from(
    nct: str,
    record: dict[str, Any],
    record_text: str,
    url: str,
    fetched_at: str,
    keep_text: bool = False,
) -> Fetched:
    """A record read from a page or a file, as a fetch: its odd text mended, its bytes'
    fingerprint kept (an unchanged record is then known without normalising it), and with
    ``keep_text`` the text itself when it needed no mending."""
    kept: str | None = record_text if keep_text else None
    if needs_repair(record_text):
        record, kept = repair_strings(record), None
    return Fetched(
        nct, record, url, fetched_at, nct, fingerprint=fingerprint(record_text), text=kept
    )


def next_token(page: dict[str, Any], seen: set[str], url: str) -> str | None:
    """The page's ``nextPageToken`` (None on the last page); FetchError if it repeats."""
    token = page.get("nextPageToken")
    if not isinstance(token, str) or not token:
        return None
    if token in seen:
        raise FetchError(f"{url} returned the same nextPageToken twice; stopping")
    seen.add(token)
    return token


def page_text(response: httpx.Response, url: str) -> str:
    head = response.content[:512].lstrip().lower()
    if head.startswith(b"<"):
        raise FetchError(f"{url} answered with an HTML page, not a page of studies")
    return response.content.decode("utf-8", errors="replace")
