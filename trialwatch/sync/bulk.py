"""The registry's bulk download, read one study at a time: the zip the API serves at
``/studies/download?format=json.zip`` (one ``NN/NCT….json`` entry per study), or the website's
JSON download (one array of studies). Never the whole file in memory: an entry at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import httpx

from trialwatch.errors import FetchError, InputError
from trialwatch.record import Fetched, record_id, utc_now
from trialwatch.registry.client import RegistryClient, fetched_from, fingerprint_bytes, iter_page
from trialwatch.sanitize import RecordShapeError, parse, read_json
from trialwatch.sync import zipread

DOWNLOAD = "/studies/download"


def count(path: Path) -> int | None:
    """Studies in the file, when it tells without being read (a zip's entries)."""
    try:
        return sum(1 for e in zipread.entries(path) if e.name.endswith(".json"))
    except (OSError, zipread.ZipError):
        return None


def records(path: Path, parallel: bool = True, checked: bool = True) -> Iterator[Fetched]:
    """Each study in a bulk file, as a fetch (taken now, from the file); ``parallel``: a large
    zip's entries are checked in a second process. Not ``checked`` (a store that keeps each
    record's own text, reading only a few of its fields): a record read here whose text is
    kept is only parsed, not made sure of as a record to compare (its depth, its numbers'
    exactness), which whoever reads the stored text does; a record whose text needed mending
    is checked here all the same (it is stored as parsed)."""
    path = Path(path)
    try:
        handle: IO[bytes] = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read the bulk file {path}: {exc.strerror or exc}") from None
    with handle:
        head = handle.read(4)
    found = 0
    zipped = head.startswith(b"PK")
    for fetched in _zip_records(path, parallel, checked) if zipped else _array_records(path):
        found += 1
        yield fetched
    if not found:
        # Never a completed read of the registry (a sweep would take every trial for gone).
        raise InputError(f"{path} holds no study record; download it again")


# Entries a worker process reads at a time, and how many such chunks may wait ahead; a file
# of fewer entries than PARALLEL_FROM is read here (a second interpreter costs its start).
CHUNK = 128
AHEAD = 4
PARALLEL_FROM = 2_000


def _zip_records(path: Path, parallel: bool, checked: bool) -> Iterator[Fetched]:
    """Entry by entry, the index walked as a stream (zipread.py): memory does not grow with
    the 560,000 entries of the registry's file. In a large file the entries are inflated,
    checked (JSON, depth, a study's id, text needing repair) and fingerprinted by a second
    process (the machine's second core), a chunk at a time, in order; what comes back is each
    record's checked text, which this process parses with the C decoder alone (a parsed record
    sent between processes costs as much as parsing it)."""
    try:
        entries, _offset, _size = zipread.directory(path)
    except zipread.ZipError:
        raise InputError(
            f"{path} is not a whole zip file (a download cut short leaves one that looks "
            "plausible but has no index at its end); download it again"
        ) from None
    try:
        if not parallel or entries < PARALLEL_FROM:
            with open(path, "rb") as handle:
                listed = (e for e in zipread.entries(path) if e.name.endswith(".json"))
                yield from _read(handle, listed, path, checked)
            return
        for entry in _checked_elsewhere(path):
            yield _unpacked(entry)
    except zipread.ZipError as exc:
        raise InputError(f"{path}: {exc}; download it again") from None
    except OSError as exc:
        raise InputError(f"cannot read the bulk file {path}: {exc.strerror or exc}") from None


# (url, text, fingerprint, the record repaired when its text needed it, else None)
Checked = tuple[str, str, str | None, dict[str, Any] | None]


def _checked_elsewhere(path: Path) -> Iterator[Checked]:
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # "spawn": a fresh interpreter, sharing nothing with this one (no database connection,
    # no thread's lock, inherited by a fork).
    context = multiprocessing.get_context("spawn")
    waiting: deque[Future[list[Checked]]] = deque()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            chunk: list[zipread.Entry] = []
            for entry in zipread.entries(path):
                if not entry.name.endswith(".json"):
                    continue
                chunk.append(entry)
                if len(chunk) >= CHUNK:
                    waiting.append(pool.submit(check_chunk, str(path), chunk))
                    chunk = []
                    if len(waiting) >= AHEAD:
                        yield from waiting.popleft().result()
            if chunk:
                waiting.append(pool.submit(check_chunk, str(path), chunk))
            while waiting:
                yield from waiting.popleft().result()
    except BrokenProcessPool:
        raise InputError(
            f"the process reading {path} stopped (out of memory?); nothing more was read: run "
            "the sync again (what was stored is kept)"
        ) from None
    finally:
        for future in waiting:
            future.cancel()


def check_chunk(path: str, chunk: list[zipread.Entry]) -> list[Checked]:
    """Entries of the bulk file, checked (in the worker process): a record whose text is
    its own goes back as that text, a mended one as the record."""
    where = Path(path)
    url = f"file:{where.name}"
    out: list[Checked] = []
    with open(where, "rb") as handle:
        for entry in chunk:
            here = f"{url}!{entry.name}"
            f = _one(zipread.read(handle, entry), here, where)  # every check a record gets
            assert f.fingerprint is not None
            if f.text is not None:
                out.append((here, f.text, f.fingerprint, None))
            else:
                out.append((here, "", f.fingerprint, f.record))
    return out


def _unpacked(checked: Checked) -> Fetched:
    url, text, print_, repaired = checked
    record = repaired if repaired is not None else parse(text)[0]  # checked: parsed alone
    nct = str(record_id(record))
    kept = None if repaired is not None else text
    return Fetched(nct, record, url, utc_now(), nct, fingerprint=print_, text=kept)


def _read(
    handle: BinaryIO, entries: Iterator[zipread.Entry], path: Path, checked: bool
) -> Iterator[Fetched]:
    url = f"file:{path.name}"
    for entry in entries:
        yield _one(zipread.read(handle, entry), f"{url}!{entry.name}", path, checked)


def _array_records(path: Path) -> Iterator[Fetched]:
    """The website's download: a JSON array of studies (read as the API's pages are)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read the bulk file {path}: {exc.strerror or exc}") from None
    start = text.lstrip()
    if not start.startswith("["):
        raise InputError(
            f"{path} is neither the registry's zip of all studies nor a JSON array of studies"
        )
    page: dict[str, Any] = {}
    wrapped = '{"studies":' + start + "}"
    try:
        for record, record_text in iter_page(wrapped, page):
            yield _from_record(record, record_text, f"file:{path.name}", path)
    except (ValueError, RecordShapeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); download it again") from None


def _one(entry: bytes, url: str, path: Path, checked: bool = True) -> Fetched:
    """One entry of the zip: read from its bytes as they are (parsed, checked and
    fingerprinted without a copy as text); bytes that are not UTF-8 as text, mended."""
    try:
        text = entry.decode("utf-8")
    except UnicodeDecodeError:
        text = entry.decode("utf-8", errors="replace")
        return _from_record(_parsed(text, url)[0], text, url, path)
    record, mended = _parsed(entry, url, checked)
    if mended and not checked:  # stored as parsed: made sure of as a record
        record, mended = _parsed(entry, url)
    nct = record_id(record) if isinstance(record, dict) else None
    if nct is None:
        raise InputError(f"{url} holds something that is not a study record (no nctId)")
    return Fetched(
        nct, record, url, utc_now(), nct, fingerprint=fingerprint_bytes(entry),
        text=None if mended else text,
    )  # fmt: skip


def _parsed(entry: str | bytes, url: str, checked: bool = True) -> tuple[Any, bool]:
    try:
        return read_json(entry, checked)
    except (ValueError, RecordShapeError) as exc:
        raise InputError(f"{url} is not a study record ({exc}); download the file again") from None


def _from_record(record: Any, text: str, url: str, path: Path) -> Fetched:
    nct = record_id(record) if isinstance(record, dict) else None
    if nct is None:
        raise InputError(f"{url} holds something that is not a study record (no nctId)")
    return fetched_from(nct, record, text, url, utc_now(), keep_text=True)


def download(client: RegistryClient, target: Path) -> Path:
    """Stream the registry's zip of every study to ``target`` (written beside it, then renamed
    into place once whole, so a download cut short is never taken for the file)."""
    url = f"{client.api_url}{DOWNLOAD}"
    part = target.with_name(target.name + ".part")
    client.limiter.wait()
    try:
        with client.http.stream("GET", url, params={"format": "json.zip"}) as response:
            if response.status_code != 200:
                raise FetchError(
                    f"the registry answered HTTP {response.status_code} for the bulk download "
                    f"({url}); try again later, or download it yourself and use --from-file"
                )
            with open(part, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise FetchError(f"the bulk download from {url} failed ({exc}); try again later") from None
    try:
        zipread.directory(part)
    except zipread.ZipError:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"the bulk download from {url} arrived incomplete (not a whole zip); try again later"
        ) from None
    part.replace(target)
    return target
