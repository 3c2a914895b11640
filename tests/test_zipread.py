"""The bulk file's zip, read as a stream: the same entries and bytes as Python's zipfile, in
memory that does not grow with the entries, ZIP64 included, and damage said as such."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_records
from trialwatch.errors import InputError
from trialwatch.sync import zipread


def _many(path: Path, n: int) -> None:
    """A zip laid out as the registry's (NN/NCT….json), past 65,535 entries: ZIP64."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(n):
            nct = f"NCT{90000000 + i:08d}"
            zf.writestr(f"{nct[-2:]}/{nct}.json", f'{{"nctId":"{nct}"}}')
        zf.writestr("README.txt", "stored", compress_type=zipfile.ZIP_STORED)


@pytest.mark.slow
def test_every_entry_as_zipfile_reads_it_past_65535_entries(tmp_path: Path) -> None:
    path = tmp_path / "ctg-studies.json.zip"
    _many(path, 70_000)
    assert zipread.directory(path)[0] == 70_001
    with zipfile.ZipFile(path) as zf:
        expected = [(i.filename, zf.read(i)) for i in zf.infolist()[::997]]
    got, count = [], 0
    tracemalloc.start()
    with open(path, "rb") as handle:
        for entry in zipread.entries(path):
            data = zipread.read(handle, entry)
            if count % 997 == 0:
                got.append((entry.name, data))
            count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 70_001
    assert got == expected
    assert (entry.name, data) == ("README.txt", b"stored")
    # An entry and a chunk of the index at a time, not the index: zipfile's objects take
    # about 540 bytes an entry, 38 MB here.
    assert peak < 4 * 1024 * 1024


def test_real_records_come_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "real.zip"
    bodies = [json.dumps(r).encode() for r in all_records()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, body in enumerate(bodies):
            zf.writestr(f"{i:02d}/r{i}.json", body)
    with open(path, "rb") as handle:
        assert [zipread.read(handle, e) for e in zipread.entries(path)] == bodies


def test_a_cut_short_or_damaged_zip_is_said(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    _many(path, 50)
    data = path.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(zipread.ZipError, match="not a whole zip"):
        zipread.directory(cut)
    (first,) = [e for e in zipread.entries(path)][:1]
    spoiled = bytearray(data)
    spoiled[first.offset + 30 + len(first.name) + 2] ^= 0xFF  # inside its deflated bytes
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(spoiled))
    with open(bad, "rb") as handle, pytest.raises(zipread.ZipError, match="damaged"):
        for entry in zipread.entries(bad):
            zipread.read(handle, entry)


def _bomb(path: Path, megabytes: int) -> None:
    """A small zip holding one huge entry (zeros deflate a thousandfold)."""
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("01/NCT90000001.json", "w", force_zip64=True) as entry,
    ):
        for _ in range(megabytes):
            entry.write(block)


@pytest.mark.slow
def test_an_entry_past_any_record_is_refused_before_it_fills_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    _bomb(path, 64)
    assert path.stat().st_size < 1024 * 1024
    tracemalloc.start()
    with open(path, "rb") as handle, pytest.raises(zipread.ZipError, match="too large"):
        for entry in zipread.entries(path):
            zipread.read(handle, entry)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_an_index_that_understates_an_entry_is_caught_as_it_inflates(tmp_path: Path) -> None:
    import dataclasses

    path = tmp_path / "bomb.zip"
    _bomb(path, 4)
    [entry] = list(zipread.entries(path))
    lying = dataclasses.replace(entry, size=100)  # the index says 100 bytes
    tracemalloc.start()
    with open(path, "rb") as handle, pytest.raises(zipread.ZipError, match="too large"):
        zipread.read(handle, lying, limit=1024 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 3 * 1024 * 1024  # inflated to the limit and no further


@pytest.mark.slow
def test_a_bulk_file_with_no_study_is_an_error_never_a_whole_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import cli

    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("README.txt", "no studies today")
    empty_json = tmp_path / "empty.json"
    empty_json.write_text("[]", encoding="utf-8")
    for path in (empty_zip, empty_json):
        code, _, err = cli(capsys, "sync", "--from-file", str(path))
        assert code == 2, err
        assert "holds no study record" in err and "Traceback" not in err
    bomb = tmp_path / "bomb.zip"
    _bomb(bomb, 40)
    code, _, err = cli(capsys, "sync", "--from-file", str(bomb))
    assert code == 2 and "too large to be a study record" in err, err


def test_a_second_process_reads_the_same_records_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file is read by a worker process a chunk at a time: the same fetches, in the
    file's order, as reading it here; a damaged entry is said the same way from there."""
    from trialwatch.errors import InputError
    from trialwatch.sync import bulk

    path = tmp_path / "ctg-studies.json.zip"
    records = all_records()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, record in enumerate(records):
            record = json.loads(json.dumps(record))
            record["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{i:07d}"
            zf.writestr(f"{i % 100:02d}/NCT9{i:07d}.json", json.dumps(record))
    here = [(f.nct_id, f.fingerprint, f.text) for f in bulk.records(path)]
    monkeypatch.setattr(bulk, "PARALLEL_FROM", 0)
    monkeypatch.setattr(bulk, "CHUNK", 3)
    there = [(f.nct_id, f.fingerprint, f.text) for f in bulk.records(path)]
    assert there == here and len(here) == len(records)
    # A damaged entry, found by the worker: the same message.
    data = bytearray(path.read_bytes())
    start = data.index(b"NCT90000004.json") + len("NCT90000004.json")  # its local header's name
    data[start + 10 : start + 20] = b"\xff" * 10  # inside its deflated bytes
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="download it again"):
        list(bulk.records(path))


def test_an_entry_is_read_from_its_bytes_as_from_its_text(tmp_path: Path) -> None:
    """Entries are parsed and fingerprinted from their bytes: the same record, fingerprint and
    kept text as the registry's pages give for the same text (fingerprint of the text); an
    entry whose text needs mending (a lone surrogate, bytes that are not UTF-8) comes without
    its text, mended, in both readers."""
    from trialwatch.registry.client import fetched_from, fingerprint, fingerprint_bytes
    from trialwatch.sanitize import loads
    from trialwatch.sync import bulk

    texts = []
    for i, record in enumerate(all_records()):
        record = json.loads(json.dumps(record))
        record["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{i:07d}"
        texts.append(json.dumps(record, ensure_ascii=i % 2 == 0))
    lone = json.loads(texts[0])
    lone["protocolSection"]["identificationModule"]["briefTitle"] = "A \ud800 title"
    texts[0] = json.dumps(lone)  # the escape, as JSON writes it
    entries = [t.encode("utf-8") for t in texts]
    entries[1] = entries[1].replace(b"protocolSection", b"protocolSection", 1) + b" "
    bad = json.loads(texts[2])
    bad["protocolSection"]["identificationModule"]["briefTitle"] = "Caf\u00e9"
    entries[2] = json.dumps(bad, ensure_ascii=False).encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    for entry in entries:
        text = entry.decode("utf-8", errors="replace")
        if b"\xe9" not in entry:
            assert fingerprint_bytes(entry) == fingerprint(text)
    path = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, entry in enumerate(entries):
            zf.writestr(f"{i % 100:02d}/NCT9{i:07d}.json", entry)
    got = list(bulk.records(path, parallel=False))
    for f, entry in zip(got, entries, strict=True):
        text = entry.decode("utf-8", errors="replace")
        page = fetched_from(f.nct_id, loads(text), text, f.url, f.fetched_at, keep_text=True)
        assert (f.record, f.fingerprint, f.text) == (page.record, page.fingerprint, page.text)
    assert got[0].text is None and "\ufffd" in got[0].record["protocolSection"][
        "identificationModule"]["briefTitle"]  # fmt: skip
    assert got[2].text is None or "\ufffd" in got[2].text
    assert "\ufffd" in got[2].record["protocolSection"]["identificationModule"]["briefTitle"]
    assert all(f.text is not None for f in got[3:])


def test_a_store_that_keeps_the_text_gets_it_parsed_and_checked_when_read_back(
    tmp_path: Path,
) -> None:
    """For a database (which keeps each record's own text) the bootstrap only parses an entry
    for the few fields it reads; the checks of a record to compare (depth, exact integers) are
    made by whoever reads the stored text back. An entry whose text needed mending is stored
    as parsed, so it is checked here all the same."""
    from trialwatch.sanitize import RecordShapeError, loads
    from trialwatch.sync import bulk

    base = all_records()[0]
    big = json.loads(json.dumps(base))
    big["protocolSection"]["identificationModule"]["nctId"] = "NCT90000001"
    big["protocolSection"]["designModule"] = {"enrollmentInfo": {"count": 10**25}}
    deep: Any = {"x": 1}
    for _ in range(70):
        deep = {"k": deep}
    nested = json.loads(json.dumps(base))
    nested["protocolSection"]["identificationModule"]["nctId"] = "NCT90000002"
    nested["annotationSection"] = deep
    mended = json.loads(json.dumps(big))
    mended["protocolSection"]["identificationModule"]["nctId"] = "NCT90000003"
    mended["protocolSection"]["identificationModule"]["briefTitle"] = "A \ud800 title"
    path = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, record in enumerate((big, nested, mended), start=1):
            zf.writestr(f"0{i}/NCT9000000{i}.json", json.dumps(record))
    got = {f.nct_id: f for f in bulk.records(path, parallel=False, checked=False)}
    first, second, third = got["NCT90000001"], got["NCT90000002"], got["NCT90000003"]
    assert first.text is not None and second.text is not None  # stored as served
    assert loads(first.text)["protocolSection"]["designModule"]["enrollmentInfo"]["count"] == (
        10**25
    )
    with pytest.raises(RecordShapeError):
        loads(second.text)  # read back: refused before anything recursive sees it
    assert third.text is None  # stored as parsed: exact, mended
    count = third.record["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
    assert count == 10**25 and isinstance(count, int)
    with pytest.raises(InputError, match="nests more than"):
        list(bulk.records(path, parallel=False))  # checked: a folder refuses it at the door
