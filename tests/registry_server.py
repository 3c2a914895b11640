"""A local stand-in for the ClinicalTrials.gov API v2, on 127.0.0.1, for end-to-end tests and
benchmarks. It serves real records (from tests/fixtures) and can be scripted to fail.

Under /api/int it also serves the registry's version history as the website's internal API
does: ``/studies/{id}/history`` (the index), ``/studies/{id}?history=true`` (the index wrapped
with the current record), ``/studies/{id}/history/{v}`` (``{studyVersion, study}``, HTML-encoded
text; 403 for a version it does not have), and ``No study {id} history summary`` for a trial
without history. A request with a search parameter gets ``<mark>`` highlighting in its text,
as the real one does."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Registry:
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # old id -> current id
    scripted: dict[str, deque[Response]] = field(default_factory=dict)  # path -> responses
    data_timestamp: str = "2026-11-25T09:00:05"
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    encoded: dict[str, bytes] = field(default_factory=dict)  # nct id -> its JSON, cached
    # path -> (bytes a chunk, seconds between chunks): a slow server that drips its answer
    drip: dict[str, tuple[int, float]] = field(default_factory=dict)
    # nct id -> its versions, oldest first: (index entry {version, date, status, moduleLabels},
    # the version's study as the history endpoint serves it)
    versions: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = field(default_factory=dict)
    original: dict[str, dict[str, Any]] = field(default_factory=dict)  # nct id -> originalData
    unserved: set[tuple[str, int]] = field(default_factory=set)  # versions answered with 403
    # Search watches: the members of each query (query_key of its parameters), in the order
    # the search returns them; called after each page of a search is served (page index, the
    # query's key), to refresh the data between pages.
    queries: dict[str, list[str]] = field(default_factory=dict)
    on_page: Any = None
    # Trials the "Results Submitted" filter (aggFilters=ressub) lists although their record
    # does not show it yet (the registry's own bookkeeping runs ahead of a record now and then).
    listed_submitted: set[str] = field(default_factory=set)
    bytes_served: int = 0  # response bodies, every endpoint
    times: list[float] = field(default_factory=list)  # when each request arrived (monotonic)

    def script(self, path: str, *responses: Response) -> None:
        self.scripted.setdefault(path, deque()).extend(responses)

    def put(self, record: dict[str, Any], posted: bool = True) -> None:
        """Serve this record. Like the registry, a changed record is posted with a new
        last-update-posted date (``posted=False``: an edit the registry made without one)."""
        nct = record["protocolSection"]["identificationModule"]["nctId"]
        before = self.encoded.get(nct)  # the record as served (callers may edit theirs in place)
        encoded = json.dumps(record).encode()
        if posted and before is not None and before != encoded:
            record = _posted(json.loads(before), record, self.data_timestamp[:10])
            encoded = json.dumps(record).encode()
        self.studies[nct] = record
        self.encoded[nct] = encoded
        # The API matches ids against NCTIdAlias too, and redirects an alias to the study.
        for alias in record["protocolSection"]["identificationModule"].get("nctIdAliases", []):
            self.aliases[alias] = nct

    def body(self, nct: str) -> bytes:
        return self.encoded.get(nct) or json.dumps(self.studies[nct]).encode()


# Search parameters that choose the members; the rest shape the answer.
_SHAPE = {"pageSize", "pageToken", "countTotal", "fields", "format", "markupFormat", "sort"}
# Pieces a fields= projection may ask for, and where each is in a record.
PIECES: dict[str, tuple[str, ...]] = {
    "NCTId": ("protocolSection", "identificationModule", "nctId"),
    "NCTIdAlias": ("protocolSection", "identificationModule", "nctIdAliases"),
    "BriefTitle": ("protocolSection", "identificationModule", "briefTitle"),
    "OverallStatus": ("protocolSection", "statusModule", "overallStatus"),
    "LastUpdatePostDate": ("protocolSection", "statusModule", "lastUpdatePostDateStruct", "date"),
    "StudyFirstPostDate": ("protocolSection", "statusModule", "studyFirstPostDateStruct", "date"),
    "Phase": ("protocolSection", "designModule", "phases"),
    "LeadSponsorName": ("protocolSection", "sponsorCollaboratorsModule", "leadSponsor", "name"),
    "ResponsiblePartyInvestigatorAffiliation": (
        "protocolSection", "sponsorCollaboratorsModule", "responsibleParty",
        "investigatorAffiliation",
    ),
}  # fmt: skip
_PHRASE = re.compile(r'AREA\[(\w+)\]"([^"]*)"')
_WORDS = re.compile(r"\w+")
_RANGE = re.compile(r"AREA\[(\w+)\]RANGE\[([^,\]]*),([^\]]*)\]")


def query_key(params: dict[str, str]) -> str:
    """The key of a query's members in ``Registry.queries``: its member-choosing parameters
    (not filter.advanced, which the stand-in evaluates itself)."""
    chosen = {k: v for k, v in params.items() if k not in _SHAPE and k != "filter.advanced"}
    return "&".join(f"{k}={v}" for k, v in sorted(chosen.items()))


def project(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        path = PIECES[name]
        node: Any = record
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            continue
        target = out
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = node
    return out


def _advanced_ok(record: dict[str, Any], expression: str) -> bool:
    """filter.advanced's date ranges (AREA[LastUpdatePostDate]RANGE[a,b] AND …)."""
    for area, low, high in _RANGE.findall(expression):
        path = PIECES.get(area)
        if path is None:
            continue
        node: Any = record
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, str):
            return False
        low, high = low.strip(), high.strip()
        if low not in ("", "MIN") and node < low:
            return False
        if high not in ("", "MAX") and node > high:
            return False
    return True


def _phrases_ok(record: dict[str, Any], expression: str) -> bool:
    """query.term's ``AREA[Piece]"words" OR …`` as Essie answers it, near enough: a clause holds
    when every word of its phrase is a word of the field, case-insensitive."""
    for area, phrase in _PHRASE.findall(expression):
        node: Any = record
        for key in PIECES.get(area, ("-",)):
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, str):
            continue
        have = set(_WORDS.findall(node.casefold()))
        if all(w in have for w in _WORDS.findall(phrase.casefold())):
            return True
    return False


def _results_submitted(record: dict[str, Any]) -> bool:
    """The registry's "Results Submitted" filter: submitted, not returned, not yet posted."""
    status = record.get("protocolSection", {}).get("statusModule", {})
    if status.get("resultsFirstPostDateStruct"):
        return False
    infos = (
        record.get("derivedSection", {}).get("miscInfoModule", {}).get("submissionTracking", {})
    ).get("submissionInfos") or []
    last = infos[-1] if infos else {}
    if infos:
        return not last.get("resetDate") and not last.get("unreleaseDate")
    return bool(status.get("resultsFirstSubmitDate"))


def _posted(old: dict[str, Any], new: dict[str, Any], today: str) -> dict[str, Any]:
    """``new`` with its last-update-posted date moved on, unless the edit already moved it."""
    import copy
    import datetime as dt

    def struct(r: dict[str, Any]) -> Any:
        return r.get("protocolSection", {}).get("statusModule", {}).get("lastUpdatePostDateStruct")

    before, after = struct(old), struct(new)
    if not isinstance(before, dict) or "date" not in before:
        return new
    if isinstance(after, dict) and str(after.get("date", "")) > str(before["date"]):
        return new  # the edit moved it on itself
    day = today if today > str(before["date"]) else None
    if day is None:
        try:
            day = (dt.date.fromisoformat(str(before["date"])) + dt.timedelta(days=1)).isoformat()
        except ValueError:
            return new
    out = copy.deepcopy(new)
    out["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        **before,
        "date": day,
        "type": "ACTUAL",
    }
    return out


def _json(status: int, data: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


class _Handler(BaseHTTPRequestHandler):
    registry: Registry
    prefix = "/api/v2"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        reg = self.registry
        with reg.lock:
            reg.requests.append(self.path)
            reg.times.append(time.monotonic())
            parts = urlsplit(self.path)
            queue = reg.scripted.get(parts.path)
            scripted = queue.popleft() if queue else None
        status, headers, body = scripted or self._route(parts.path, parse_qs(parts.query))
        with reg.lock:
            reg.bytes_served += len(body)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        dripping = reg.drip.get(parts.path)
        if dripping is None:
            self.wfile.write(body)
            return
        size, pause = dripping
        for start in range(0, len(body), size):  # bounded: the body's length
            try:
                self.wfile.write(body[start : start + size])
                self.wfile.flush()
            except OSError:
                return  # the client gave up
            time.sleep(pause)

    def _route(self, path: str, query: dict[str, list[str]]) -> Response:
        reg = self.registry
        if path.startswith("/api/int/studies/"):
            return self._history(path[len("/api/int/studies/") :], query)
        if not path.startswith(self.prefix):
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not here</body></html>"
        rest = path[len(self.prefix) :]
        if rest == "/version":
            return _json(200, {"apiVersion": "2.0.5", "dataTimestamp": reg.data_timestamp})
        if rest == "/studies":
            return self._page(query)
        if rest == "/studies/download":
            return self._download(query)
        if rest.startswith("/studies/"):
            nct = rest[len("/studies/") :].upper()
            if nct in reg.aliases:
                target = reg.aliases[nct]
                return 301, {"Location": f"{self.prefix}/studies/{target}"}, b""
            if nct in reg.studies:
                return 200, {"Content-Type": "application/json"}, reg.body(nct)
            return 404, {"Content-Type": "text/plain"}, f"NCT number {nct} not found".encode()
        return 404, {"Content-Type": "text/plain"}, b"Not found"

    def _history(self, rest: str, query: dict[str, list[str]]) -> Response:
        reg = self.registry
        parts = rest.split("/")
        nct = parts[0].upper()
        versions = reg.versions.get(nct)
        if versions is None:
            return 404, {"Content-Type": "text/plain"}, f"No study {nct} history summary".encode()
        summary = {
            "changes": [entry for entry, _ in versions],
            "originalData": reg.original.get(nct, {}),
            "lastUpdateVersions": {},
            "outcomesUpdateCount": 0,
        }
        if len(parts) == 1 and query.get("history") == ["true"]:
            return _json(200, {"study": versions[-1][1], "history": summary})
        if len(parts) == 2 and parts[1] == "history":
            return _json(200, summary)
        if len(parts) == 3 and parts[1] == "history" and parts[2].isdigit():
            number = int(parts[2])
            if number >= len(versions) or (nct, number) in reg.unserved:
                return 403, {"Content-Type": "text/html"}, b"<html><body>Forbidden</body></html>"
            study = versions[number][1]
            if any(k.startswith("query.") for k in query):  # highlighting leaks into the text
                text = json.dumps(study).replace("Study", '<mark class=\\"hl-term\\">Study</mark>')
                study = json.loads(text)
            return _json(200, {"studyVersion": number, "study": study})
        return 404, {"Content-Type": "text/plain"}, b"Not found"

    def _download(self, query: dict[str, list[str]]) -> Response:
        """The bulk file, as the API serves it: a zip of every study, one ``NN/NCT….json``
        entry each (NN: the id's last two digits). It takes no filter, and json.zip only."""
        import io
        import zipfile

        if query.get("format") != ["json.zip"] or len(query) > 1:
            return 400, {"Content-Type": "text/plain"}, b"format=json.zip only, and no filter"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for nct in sorted(self.registry.studies):
                zf.writestr(f"{nct[-2:]}/{nct}.json", self.registry.body(nct))
        headers = {
            "Content-Type": "application/zip",
            "Content-Disposition": 'attachment; filename="ctg-studies.json.zip"',
        }
        return 200, headers, buffer.getvalue()

    def _page(self, query: dict[str, list[str]]) -> Response:
        reg = self.registry
        params = {k: v[0] for k, v in query.items()}
        raw = params.get("filter.ids", "")
        ids = [i.strip().upper() for i in raw.replace(",", "|").split("|") if i.strip()]
        size = min(int(params.get("pageSize") or 10), 1000)
        start = int(params.get("pageToken") or 0)
        fields = [f for f in params.get("fields", "").replace("|", ",").split(",") if f]
        unknown = [f for f in fields if f not in PIECES]
        if unknown:
            return 400, {"Content-Type": "text/plain"}, f"unknown field {unknown[0]}".encode()
        found: list[str] = []
        key = query_key(params)
        if ids:
            for i in ids:
                target = i if i in reg.studies else reg.aliases.get(i)
                if target is not None and target in reg.studies and target not in found:
                    found.append(target)
        elif key == "" and "" not in reg.queries:  # nothing chosen: the whole registry
            found = sorted(reg.studies)
        elif key not in reg.queries and _PHRASE.search(params.get("query.term", "")):
            # A search by field (an organisation's trials), answered from the records.
            term = params["query.term"]
            found = [n for n in sorted(reg.studies) if _phrases_ok(reg.studies[n], term)]
            if params.get("aggFilters") == "ressub":
                found = [
                    n for n in found
                    if n in reg.listed_submitted or _results_submitted(reg.studies[n])
                ]  # fmt: skip
            elif "aggFilters" in params:
                return 400, {"Content-Type": "text/plain"}, b"unknown aggFilters"
        else:
            found = [n for n in reg.queries.get(key, []) if n in reg.studies]
        advanced = params.get("filter.advanced")
        if advanced:
            found = [n for n in found if _advanced_ok(reg.studies[n], advanced)]
        chunk = found[start : start + size]
        if fields:
            bodies = [json.dumps(project(reg.studies[n], fields)).encode() for n in chunk]
        else:
            bodies = [reg.body(n) for n in chunk]
        body = b'{"studies":[' + b",".join(bodies) + b"]"
        if params.get("countTotal") == "true" and start == 0:
            body += b',"totalCount":' + str(len(found)).encode()
        # As the real API does: a next page whenever this one is full, even if it is the last.
        if len(chunk) == size:
            body += b',"nextPageToken":' + json.dumps(str(start + size)).encode()
        body += b"}"
        if not ids and reg.on_page is not None:
            reg.on_page(start // max(size, 1), key)
        return 200, {"Content-Type": "application/json"}, body


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[int]:
    """Any HTTP handler on 127.0.0.1 (``port`` 0: a free one), in a thread; yields the port.
    Stopped and closed afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve(registry: Registry) -> Iterator[str]:
    """Run the fake registry on 127.0.0.1; yields its API base URL. Stops it afterwards."""
    with serving(type("Handler", (_Handler,), {"registry": registry})) as port:
        yield f"http://127.0.0.1:{port}/api/v2"
