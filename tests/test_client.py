from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import load
from trialwatch import __version__
from trialwatch.errors import FetchError, NotInRegistryError
from trialwatch.registry.client import RegistryClient
from trialwatch.registry.retry import RetryPolicy, parse_retry_after

API = "https://registry.test/api/v2"


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    sleeps: list[float] | None = None,
    attempts: int = 4,
    total_cap: float = 300.0,
) -> RegistryClient:
    sleeps = sleeps if sleeps is not None else []
    http = httpx.Client(
        transport=httpx.MockTransport(handler),
        follow_redirects=False,
        headers={"User-Agent": f"trialwatch/{__version__}"},
    )
    return RegistryClient(
        API,
        http=http,
        retry=RetryPolicy(attempts=attempts, sleep=sleeps.append, total_cap=total_cap),
    )


def study_response(record: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=record)


def test_fetch_ok_sends_user_agent(her2: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return study_response(her2)

    fetched = make_client(handler).fetch_study("NCT06224738")
    assert fetched.nct_id == "NCT06224738"
    assert fetched.record == her2
    assert seen[0].url.path == "/api/v2/studies/NCT06224738"
    assert seen[0].headers["user-agent"].startswith("trialwatch/")
    assert fetched.alias_of is None


def test_default_http_client_has_timeouts_and_user_agent() -> None:
    from trialwatch.registry.client import make_http_client

    http = make_http_client()
    assert http.timeout.read == 30.0 and http.timeout.connect == 10.0
    assert (
        http.headers["user-agent"] == f"trialwatch/{__version__} "
        "(+https://pypi.org/project/trialwatch/)"
    )


def test_404_is_not_in_registry() -> None:
    client = make_client(lambda r: httpx.Response(404, text="NCT number NCT99999999 not found"))
    with pytest.raises(NotInRegistryError, match="NCT99999999 is not in the registry"):
        client.fetch_study("NCT99999999")


def test_301_alias_is_followed_and_said() -> None:
    record = load("NCT03418623.json")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("NCT00000001"):
            return httpx.Response(301, headers={"Location": "/api/v2/studies/NCT03418623"})
        return study_response(record)

    fetched = make_client(handler).fetch_study("NCT00000001")
    assert fetched.nct_id == "NCT03418623"
    assert fetched.alias_of == "NCT03418623"
    assert fetched.requested_id == "NCT00000001"


def test_500_then_200_retries_with_backoff(her2: dict[str, Any]) -> None:
    answers = [httpx.Response(500, text="oops"), httpx.Response(503), study_response(her2)]
    sleeps: list[float] = []
    client = make_client(lambda r: answers.pop(0), sleeps)
    assert client.fetch_study("NCT06224738").nct_id == "NCT06224738"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.5 and 1.0 <= sleeps[1] <= 3.0  # doubling, with jitter
    assert client.requests == 3


def test_429_retry_after_is_honoured(her2: dict[str, Any]) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), study_response(her2)]
    sleeps: list[float] = []
    make_client(lambda r: answers.pop(0), sleeps).fetch_study("NCT06224738")
    assert sleeps == [7.0]


def test_403_and_transport_errors_are_retried(her2: dict[str, Any]) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        if calls["n"] == 2:
            return httpx.Response(403, text="Forbidden")
        return study_response(her2)

    make_client(handler).fetch_study("NCT06224738")
    assert calls["n"] == 3


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "refused the connection"),
        (socket.gaierror(-2, "Name or service not known"), "could not be resolved"),
        (
            ssl.SSLCertVerificationError("certificate verify failed"),
            "certificate of registry.test could not be verified",
        ),
    ],
)
def test_hopeless_connection_errors_are_said_at_once(error: Exception, said: str) -> None:
    """A refused connection, an unknown host name or a bad certificate: no retries (they
    would only delay the message by half a minute)."""
    calls = {"n": 0}
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError(str(error), request=request) from error

    with pytest.raises(FetchError, match=said):
        make_client(handler, sleeps, attempts=6).fetch_study("NCT06224738")
    assert calls["n"] == 1 and sleeps == []


def test_500_storm_gives_up_with_a_clear_error() -> None:
    sleeps: list[float] = []
    client = make_client(lambda r: httpx.Response(500), sleeps, attempts=4)
    with pytest.raises(FetchError, match=r"after 4 attempts \(last: HTTP 500\)"):
        client.fetch_study("NCT06224738")
    assert len(sleeps) == 3


def test_total_cap_stops_retrying_early() -> None:
    sleeps: list[float] = []
    answers = httpx.Response(429, headers={"Retry-After": "50"})
    client = make_client(lambda r: answers, sleeps, attempts=6, total_cap=120)
    with pytest.raises(FetchError, match="HTTP 429"):
        client.fetch_study("NCT06224738")
    assert sleeps == [50.0, 50.0]


def test_html_page_is_an_error() -> None:
    client = make_client(
        lambda r: httpx.Response(
            200,
            headers={"Content-Type": "text/html"},
            text="<!DOCTYPE html><html>Maintenance</html>",
        )
    )
    with pytest.raises(FetchError, match="HTML page, not a study record"):
        client.fetch_study("NCT06224738")


def test_truncated_json_is_an_error(her2: dict[str, Any]) -> None:
    body = json.dumps(her2)[:5000]
    client = make_client(
        lambda r: httpx.Response(200, text=body, headers={"Content-Type": "application/json"})
    )
    with pytest.raises(FetchError, match="invalid or truncated JSON"):
        client.fetch_study("NCT06224738")


def test_json_that_is_not_a_study_is_an_error() -> None:
    client = make_client(lambda r: httpx.Response(200, json={"error": "nope"}))
    with pytest.raises(FetchError, match="not a study record"):
        client.fetch_study("NCT06224738")


def test_record_of_another_trial_is_an_error() -> None:
    other = load("NCT03418623.json")
    client = make_client(lambda r: study_response(other))
    with pytest.raises(FetchError, match="with the record of NCT03418623"):
        client.fetch_study("NCT06224738")


def test_400_is_reported_with_its_body() -> None:
    client = make_client(
        lambda r: httpx.Response(400, text="Parameter `nctId` has incorrect format")
    )
    with pytest.raises(FetchError, match="HTTP 400 .*incorrect format"):
        client.fetch_study("NCT06224738")


def test_batch_follows_page_tokens() -> None:
    page1 = json.loads(
        (
            __import__("pathlib").Path(__file__).parent
            / "fixtures"
            / "page-2025-06-17T11-16-37-179Z.json"
        ).read_text()
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "pageToken" in request.url.params:
            return httpx.Response(200, json={"studies": [load("NCT03418623.json")]})
        return httpx.Response(200, json=page1)

    pages = make_client(handler).batch_pages(["NCT00184067", "NCT03934567", "NCT03418623"])
    got = list(next(pages))
    # A page is read from what was received: the next is asked for only when it is wanted
    # (a check stores a page in one batch of the store, with no request made inside it).
    assert len(seen) == 1
    got += [found for page in pages for found in page]
    assert [f.nct_id for f in got] == ["NCT00184067", "NCT03934567", "NCT03418623"]
    assert seen[0].url.params["filter.ids"] == "NCT00184067|NCT03934567|NCT03418623"
    assert seen[0].url.params["pageSize"] == "100"  # cautious until the records' size is known
    # The next page is sized to the records seen: under PAGE_BYTES, at most 1000.
    assert 100 < int(seen[1].url.params["pageSize"]) <= 1000
    assert seen[1].url.params["pageToken"] == page1["nextPageToken"]


def test_parse_retry_after_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:00 GMT", now=1795600000.0 - 3600) is not None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_version_timestamp() -> None:
    client = make_client(
        lambda r: httpx.Response(
            200, json={"apiVersion": "2.0.5", "dataTimestamp": "2026-10-02T09:00:04"}
        )
    )
    assert client.data_timestamp() == "2026-10-02T09:00:04"


def test_a_long_retry_after_is_honoured_or_given_up_on() -> None:
    sleeps: list[float] = []
    answers = [
        httpx.Response(429, headers={"Retry-After": "90"}),
        httpx.Response(200, json=load("NCT03418623.json")),
    ]
    client = make_client(lambda r: answers.pop(0), sleeps, total_cap=300)
    client.fetch_study("NCT03418623")
    assert sleeps == [90.0]  # not cut short to the per-wait backoff ceiling
    sleeps.clear()
    client = make_client(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), sleeps)
    with pytest.raises(FetchError, match="Retry-After 3600s is past the retry time cap"):
        client.fetch_study("NCT06224738")
    assert sleeps == []


def test_an_html_404_is_a_wrong_api_url_not_a_missing_trial() -> None:
    client = make_client(
        lambda r: httpx.Response(
            404,
            headers={"Content-Type": "text/html"},
            text="<!DOCTYPE html><title>Not Found</title>",
        )
    )
    with pytest.raises(FetchError, match="is the API URL right") as info:
        client.fetch_study("NCT06224738")
    assert not isinstance(info.value, NotInRegistryError)
