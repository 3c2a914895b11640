"""The writer process a long first run hands its baselines' temp files to (store/folder/
writer.py): every file written whole, in order, through a ring that wraps; a write that fails
raised where the file is waited for; a writer that dies costs only the files it had not
written, and the run writes the rest itself; a run that ends leaves no process behind."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_records
from trialwatch.store.folder import writer as writer_module
from trialwatch.store.folder.writer import TempWriter

pytestmark = [
    pytest.mark.skipif(
        not writer_module.sys.platform.startswith("linux"), reason="the writer process is Linux's"
    ),
    pytest.mark.slow,  # each test starts a writer process
]


def records(n: int) -> list[bytes]:
    """n real records as a snapshot's bytes (indented, as the store writes them)."""
    found = all_records()
    return [
        json.dumps(found[i % len(found)], indent=2, sort_keys=True).encode() + b"%d" % i
        for i in range(n)
    ]


def test_files_are_written_whole_by_the_writer_process_through_a_ring_that_wraps(
    tmp_path: Path,
) -> None:
    datas = records(60)
    # A ring of 256 KB holds a few records: it wraps many times, and the run waits for room.
    w = TempWriter(tmp_path / "tmp", start_after=3, ring_bytes=256 << 10)
    names = [w.write(d) for d in datas]
    child = w._child
    assert child is not None and child.poll() is None  # started after the third file
    for name, data in zip(names, datas, strict=True):
        w.wait(name)
        assert Path(name).read_bytes() == data
    assert sum(len(d) > 128 << 10 for d in datas) > 0  # some too large for the ring
    w.close()
    assert child.poll() == 0 and w._child is None
    assert sorted(os.listdir(tmp_path / "tmp")) == sorted(Path(n).name for n in names)


def test_a_small_run_starts_no_process(tmp_path: Path) -> None:
    w = TempWriter(tmp_path / "tmp", start_after=32)
    names = [w.write(d) for d in records(5)]
    for name in names:
        w.wait(name)
    assert w._child is None
    assert all(Path(n).exists() for n in names)


def test_a_writer_that_never_says_it_is_ready_costs_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interpreter that does not run the writer (a frozen build's executable runs its own
    program): no file is handed to it, the run writes them all itself."""
    monkeypatch.setattr(writer_module.sys, "executable", "/bin/cat")  # refuses -I: says nothing
    w = TempWriter(tmp_path / "tmp", start_after=0)
    datas = records(3)
    names = [w.write(d) for d in datas]
    assert w._child is None and w._gone
    for name, data in zip(names, datas, strict=True):
        w.wait(name)
        assert Path(name).read_bytes() == data
    w.close()


def test_a_write_that_fails_is_raised_where_its_file_is_waited_for(tmp_path: Path) -> None:
    where = tmp_path / "tmp"
    w = TempWriter(where, start_after=0)
    first = w.write(b"{}")
    w.wait(first)
    # The temp folder becomes a file: the writer's next writes fail (not a directory).
    for name in os.listdir(where):
        os.unlink(where / name)
    where.rmdir()
    where.write_text("not a folder", encoding="utf-8")
    second = w.write(b'{"a": 1}')
    with pytest.raises(OSError) as failed:
        w.wait(second)
    assert failed.value.errno == errno.ENOTDIR
    assert w._child is not None  # the writer goes on: the next file may be written
    where.unlink()
    third = w.write(b'{"b": 2}')
    w.wait(third)
    assert Path(third).read_bytes() == b'{"b": 2}'
    w.close()


def test_a_writer_that_dies_fails_only_its_unwritten_files_and_the_run_writes_the_rest(
    tmp_path: Path,
) -> None:
    datas = records(40)
    w = TempWriter(tmp_path / "tmp", start_after=0)
    done = w.write(datas[0])
    w.wait(done)
    child = w._child
    assert child is not None
    # Nothing more is told to it until 16 files wait: these stay unwritten when it dies.
    told: list[str] = [w.write(d) for d in datas[1:5]]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    failed: list[str] = []
    for name in told:
        try:
            w.wait(name)
        except OSError:
            failed.append(name)
    assert failed == told and not any(Path(n).exists() for n in failed)
    later = [w.write(d) for d in datas[5:]]  # written by the run itself from now on
    assert w._child is None
    for name, data in zip(later, datas[5:], strict=True):
        w.wait(name)
        assert Path(name).read_bytes() == data
    assert Path(done).read_bytes() == datas[0]
    w.close()


def test_a_first_run_of_a_long_list_stores_and_tells_every_baseline_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first check of 40 trials: the writer process starts after the 32nd baseline (as
    set), every baseline is stored byte for byte as the run would write it, and no process is
    left once the run ends."""
    from tests.registry_server import serve
    from tests.test_reliability import _id, _watch_list
    from trialwatch.cli import run

    started: list[Any] = []
    real_popen = writer_module.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(writer_module.subprocess, "Popen", popen)
    reg, trials = _watch_list(40)
    store = tmp_path / "store"
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        monkeypatch.setenv("TRIALWATCH_STORE", str(store))
        ids = [_id(t) for t in trials]
        assert run(["check", "--format", "json", *ids]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert sorted(t["nct_id"] for t in doc["trials"] if t["outcome"] == "new") == sorted(ids)
        assert len(started) == 1 and started[0].poll() == 0  # used, and ended with the run
        for t in trials:
            files = list((store / _id(t)).glob("*.json"))
            assert len(files) == 1
            assert json.loads(files[0].read_bytes())["study"] == t
        assert not list((store / ".trialwatch" / "tmp").glob("*.part"))
        assert run(["check", "--format", "json", *ids]) == 0  # trusted as written
        again = json.loads(capsys.readouterr().out)
        assert {t["outcome"] for t in again["trials"]} == {"unchanged"}


def test_the_writer_writes_only_temp_files_of_its_folder(tmp_path: Path) -> None:
    """A message naming any other file (half a message, after an interrupt) ends the writer
    before it writes anything there."""
    w = TempWriter(tmp_path / "tmp", start_after=0)
    first = w.write(b"{}")
    w.wait(first)
    child = w._child
    assert child is not None
    outside = str(tmp_path / "elsewhere.json").encode()
    w._untold.append(writer_module._HEAD.pack(len(outside), 0, 2) + outside)
    w._tell()
    assert child.wait(timeout=10) == 0
    assert not (tmp_path / "elsewhere.json").exists()
    handed = w.write(b"[]")  # to the writer that ended: failed, found at its wait
    with pytest.raises(OSError):
        w.wait(handed)
    later = w.write(b"[1]")  # written by the run itself from now on
    w.wait(later)
    assert Path(later).read_bytes() == b"[1]" and w._child is None
    w.close()
