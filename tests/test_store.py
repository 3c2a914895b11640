from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edited, nested
from trialwatch.changes.normalize import canonical_json
from trialwatch.errors import CorruptSnapshotError, StoreError
from trialwatch.model import Outcome, TrialReport
from trialwatch.pipeline.compare import CheckOptions, Observer
from trialwatch.pipeline.deliver import delivered
from trialwatch.registry.client import Fetched
from trialwatch.store import SnapshotStore, atomic, read_record_file


def fetched(record: dict[str, Any], at: str = "2026-11-25T06:00:00Z") -> Fetched:
    nct = record["protocolSection"]["identificationModule"]["nctId"]
    return Fetched(nct, record, f"http://127.0.0.1/api/v2/studies/{nct}", at, nct)


def observe(store: SnapshotStore, f: Fetched, printed: bool = True) -> TrialReport:
    """One run that checks one fetched record and (unless ``printed`` is False, as when the
    run was killed before its report was out) prints its report."""
    with store.locked():
        report = Observer(store, CheckOptions()).observe(f)
        if printed:
            delivered(store, "stdout", [report])
    return report


def slipped(record: dict[str, Any]) -> dict[str, Any]:
    """Primary completion moved three months later: a realistic sponsor edit."""

    def edit(r: dict[str, Any]) -> None:
        r["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"] = "2026-06-01"

    return edited(record, edit)


def test_snapshot_is_deterministic_and_complete(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    path = store.save(fetched(her2))
    assert path.name == "2026-11-25.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data["study"] == her2  # nothing dropped
    assert data["fetched"]["at"] == "2026-11-25T06:00:00Z"
    assert data["fetched"]["url"].endswith("/studies/NCT06224738")
    assert text == canonical_json(data)  # sorted keys, indent 2


def test_second_version_same_day_does_not_overwrite(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    first = store.save(fetched(her2))
    second = store.save(fetched(slipped(her2), "2026-11-25T18:00:00Z"))
    assert (first.name, second.name) == ("2026-11-25.json", "2026-11-25_2.json")
    assert read_record_file(first).record == her2
    assert store.latest("NCT06224738").name == "2026-11-25_2.json"  # type: ignore[union-attr]
    for n in range(3, 12):  # ordering holds past 9
        store.save(fetched(her2, f"2026-11-25T19:{n:02d}:00Z"))
    assert store.latest("NCT06224738").name == "2026-11-25_11.json"  # type: ignore[union-attr]


def test_ids_never_become_paths_outside_the_store(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "s")
    for bad in ["../etc", "NCT06224738/../../x", "/tmp", "nct06224738", ""]:
        with pytest.raises(StoreError, match="refusing"):
            store.trial_dir(bad)


def test_symlinked_trial_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "NCT06224738").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="outside the snapshot folder"):
        SnapshotStore(root).trial_dir("NCT06224738")


def test_corrupt_snapshot_is_reported_and_kept(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    path = store.save(fetched(her2))
    path.write_text('{"study": {"protocolSection": <<<<<<< HEAD', encoding="utf-8")
    with pytest.raises(CorruptSnapshotError, match="not valid JSON.*git checkout"):
        store.latest("NCT06224738")
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"))
    assert report.outcome is Outcome.ERROR
    assert "2026-11-25.json is not valid JSON" in (report.error or "")
    assert [p.name for p in store.snapshots("NCT06224738")] == ["2026-11-25.json"]
    assert path.read_text(encoding="utf-8").startswith('{"study"')  # left for the user


def test_disk_full_mid_write_keeps_previous_and_reports_again(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path / "s")
    assert observe(store, fetched(her2)).outcome is Outcome.NEW
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"))
    assert report.outcome is Outcome.ERROR
    assert "no space left on the device; free some space" in (report.error or "")
    folder = tmp_path / "s" / "NCT06224738"
    assert sorted(p.name for p in folder.iterdir()) == ["2026-11-25.json"]
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert again.outcome is Outcome.CHANGED  # the change was not lost
    assert any("slipped 3 months" in c.sentence for c in again.changes)


def test_crash_between_temp_write_and_rename(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-write: simulated by an exception the code cannot catch."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))

    class Killed(BaseException):
        pass

    def die(*args: object) -> None:
        raise Killed

    monkeypatch.setattr(atomic.os, "link", die)
    with pytest.raises(Killed):
        observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"))
    monkeypatch.undo()
    assert store.latest("NCT06224738").record == her2  # type: ignore[union-attr]
    # Temp files live in the bookkeeping folder, never beside the snapshots (so git never
    # sees one); one a kill -9 left behind (an hour ago: a younger one may be another run's
    # write under way) is tidied by the next run.
    tmp = tmp_path / "s" / ".trialwatch" / "tmp"
    (tmp / ".tmp-abc.part").write_text("{partial", encoding="utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(tmp / ".tmp-abc.part", (an_hour_ago, an_hour_ago))
    report = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert report.outcome is Outcome.CHANGED
    assert not list(tmp.glob(".tmp-*"))
    assert not list((tmp_path / "s" / "NCT06224738").glob(".tmp-*"))


def test_damaged_state_is_set_aside_and_rebuilt(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    db = tmp_path / "s" / ".trialwatch" / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"garbage, not SQLite" * 100)
    store = SnapshotStore(tmp_path / "s")
    report = observe(store, fetched(her2, "2026-11-26T06:00:00Z"))
    assert report.outcome is Outcome.UNCHANGED
    assert len(store.snapshots("NCT06224738")) == 1
    assert any("was damaged" in note for note in store.notes)
    assert list(db.parent.glob("state.db.damaged-*"))


def test_damaged_state_loses_no_pending_change(tmp_path: Path, her2: dict[str, Any]) -> None:
    """The state is damaged after a change was stored but before it was reported: the pending
    file, kept apart from the state, still has it reported."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), printed=False)
    db = tmp_path / "s" / ".trialwatch" / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"\x00" * 4096)
    store = SnapshotStore(tmp_path / "s")
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert again.outcome is Outcome.CHANGED
    assert any("slipped 3 months" in c.sentence for c in again.changes)
    assert observe(store, fetched(slipped(her2), "2026-11-28T06:00:00Z")).outcome is (
        Outcome.UNCHANGED
    )


def test_damaged_pending_file_reports_the_latest_change_again(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), printed=False)
    pending = tmp_path / "s" / ".trialwatch" / "pending" / "NCT06224738.json"
    pending.write_text("{not json", encoding="utf-8")
    store = SnapshotStore(tmp_path / "s")
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert again.outcome is Outcome.CHANGED  # never dropped
    assert any("pending-change file was damaged" in n for n in store.notes)
    assert list(pending.parent.glob("NCT06224738.json.damaged-*"))


def _hold_run(root: str, ready: Any, release: Any) -> None:
    with SnapshotStore(Path(root)).locked():
        ready.set()
        release.wait(10)


def test_a_one_trial_check_works_while_another_run_is_going(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_run, args=(str(tmp_path / "s"), ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        start = time.monotonic()
        assert observe(SnapshotStore(tmp_path / "s"), fetched(her2)).outcome is Outcome.NEW
        assert time.monotonic() - start < 5
    finally:
        release.set()
        proc.join(10)


def test_unchanged_uses_the_stored_digest(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    # Only the registry's daily data version moved: not a new snapshot.
    refreshed = edited(
        her2,
        lambda r: (
            r.setdefault("derivedSection", {})
            .setdefault("miscInfoModule", {})
            .update(versionHolder="2026-11-26")
        ),
    )
    report = observe(store, fetched(refreshed, "2026-11-26T06:00:00Z"))
    assert report.outcome is Outcome.UNCHANGED
    assert len(store.snapshots("NCT06224738")) == 1
    assert store.db.log_of("NCT06224738") == [("2026-11-25T06:00:00Z", "new", "2026-11-25.json")]
    assert store.state("NCT06224738")["checks"] == 2


def test_state_write_failure_reports_the_change_next_time(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot is stored but recording it in the state fails (disk full at that moment):
    the trial is in trouble now, and the change, pending since before the snapshot was
    written, is reported by the next run, without a second snapshot file."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))

    def fail(*args: object, **kwargs: object) -> None:
        raise StoreError("could not write the store's state: No space left on device")

    monkeypatch.setattr(store, "remember", fail)
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"))
    assert report.outcome is Outcome.ERROR
    assert "No space left" in (report.error or "")
    monkeypatch.undo()
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert again.outcome is Outcome.CHANGED and again.warning is None
    assert any("slipped 3 months" in c.sentence for c in again.changes)
    assert len(store.snapshots("NCT06224738")) == 2
    third = observe(store, fetched(slipped(her2), "2026-11-28T06:00:00Z"))
    assert third.outcome is Outcome.UNCHANGED


def test_crash_after_storing_before_reporting_is_reported_next_time(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    """Killed after the new snapshot was stored but before its report was out: the next run
    reports the change, and stores no duplicate."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), printed=False)
    assert [p.name for p in store.snapshots("NCT06224738")] == [
        "2026-11-25.json",
        "2026-11-26.json",
    ]
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert again.outcome is Outcome.CHANGED
    assert again.previous_snapshot == "2026-11-25.json"
    assert again.snapshot == "2026-11-26.json"
    assert any("slipped 3 months" in c.sentence for c in again.changes)
    assert len(store.snapshots("NCT06224738")) == 2
    third = observe(store, fetched(slipped(her2), "2026-11-28T06:00:00Z"))
    assert third.outcome is Outcome.UNCHANGED


def test_a_record_nested_too_deeply_is_an_error_and_nothing_is_stored(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    """A record past MAX_DEPTH, new or changed, is the trial's error saying so; the store keeps
    what it had (nothing, or the last good snapshot), and no news is left pending."""
    from trialwatch.sanitize import MAX_DEPTH

    store = SnapshotStore(tmp_path / "s")
    deep = json.loads(json.dumps(her2))
    deep["protocolSection"]["armsInterventionsModule"] = {"odd": nested(MAX_DEPTH + 5)}
    report = observe(store, fetched(deep))
    assert report.outcome is Outcome.ERROR and "nests more than" in (report.error or "")
    assert store.snapshots("NCT06224738") == [] and store.pending.trials() == set()
    assert observe(store, fetched(her2, "2026-11-26T06:00:00Z")).outcome is Outcome.NEW
    report = observe(store, fetched(deep, "2026-11-27T06:00:00Z"))
    assert report.outcome is Outcome.ERROR and "nothing was stored" in (report.error or "")
    assert [p.name for p in store.snapshots("NCT06224738")] == ["2026-11-26.json"]
    assert store.pending.trials() == set()


def test_a_baseline_not_printed_is_shown_next_time(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), printed=False)
    again = observe(store, fetched(her2, "2026-11-26T06:00:00Z"))
    assert again.outcome is Outcome.NEW and again.baseline is not None
    assert observe(store, fetched(her2, "2026-11-27T06:00:00Z")).outcome is Outcome.UNCHANGED


def test_a_baseline_killed_before_its_file_is_told_and_stored_next_time(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A baseline's file is put in place once its state has committed: a run killed between
    the two leaves a state naming a file that is not there (its bytes in a temp file, never
    read) and the baseline untold; the next run takes the trial for new again, stores it and
    tells it."""
    store = SnapshotStore(tmp_path / "s")

    class Killed(BaseException):
        pass

    def killed(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr("trialwatch.store.folder.adapter.put_temp", killed)
    with pytest.raises(Killed):
        observe(store, fetched(her2), printed=False)
    monkeypatch.undo()
    store.close()
    assert store.snapshots("NCT06224738") == []
    assert SnapshotStore(tmp_path / "s").pending.get("NCT06224738") is not None

    store = SnapshotStore(tmp_path / "s")
    again = observe(store, fetched(her2, "2026-11-26T06:00:00Z"))
    assert again.outcome is Outcome.NEW and again.baseline is not None
    assert [p.name for p in store.snapshots("NCT06224738")] == ["2026-11-26.json"]
    assert store.pending.get("NCT06224738") is None
    assert observe(store, fetched(her2, "2026-11-27T06:00:00Z")).outcome is Outcome.UNCHANGED


def test_a_baseline_is_pending_as_a_row_and_its_file_times_are_kept(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    """A baseline writes no pending file (its news is a row of the state until told), and the
    times of its file, written after the commit, reach the state at the run's end: the next
    run trusts the file without reading it."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), printed=False)
    assert not list(store.pending.folder.glob("*.json"))
    assert store.pending.trials() == {"NCT06224738"}
    assert store.pending.get("NCT06224738") == {
        "run": store.run_id,
        "outputs": {"stdout": ""},
    }
    row = store.state("NCT06224738")
    snap = store.snapshots("NCT06224738")[0]
    assert row["file_mtime"] == snap.stat().st_mtime_ns
    assert row["dir_mtime"] == snap.parent.stat().st_mtime_ns
    assert row["file_size"] == snap.stat().st_size
    assert store.trusted("NCT06224738", row) is not None
    told = observe(store, fetched(her2, "2026-11-26T06:00:00Z"))
    assert told.outcome is Outcome.NEW
    assert store.pending.trials() == set()


def test_a_pages_baselines_are_synced_meanwhile_and_the_run_ends_once_every_file_is(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a page's baselines are in place the disk starts writing them on another thread
    while the run goes on; the run ends only when that sync is done, and a file put after it
    began gets a last sync of its own. os.sync is the real one, watched for who calls it."""
    calls: list[str] = []
    real_sync = os.sync

    def watched() -> None:
        calls.append(threading.current_thread().name)
        real_sync()

    monkeypatch.setattr(os, "sync", watched)
    other = edited(her2, lambda r: r["protocolSection"]["identificationModule"].update(
        nctId="NCT00000001"))  # fmt: skip
    store = SnapshotStore(tmp_path / "s")
    observer = Observer(store, CheckOptions())
    with store.locked():
        with store.batch():
            first = observer.observe(fetched(her2))
        assert first.outcome is Outcome.NEW and calls in ([], ["trialwatch-sync"])
        with store.batch():  # the next page, put while the first may still be syncing
            second = observer.observe(fetched(other))
        assert second.outcome is Outcome.NEW
    assert calls[0] == "trialwatch-sync"
    assert not [t for t in threading.enumerate() if t.name == "trialwatch-sync"]
    # The second page's file was put after the first sync began: synced again before the end.
    assert len(calls) >= 2
    for nct in ("NCT06224738", "NCT00000001"):
        assert [p.name for p in store.snapshots(nct)] == ["2026-11-25.json"]


def test_fresh_checkout_trusts_the_stored_digest_by_content(
    tmp_path: Path, her2: dict[str, Any]
) -> None:
    """A git checkout gives every file a new mtime: the digest is still trusted when the file's
    bytes are the same, and not when they differ."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2))
    snap = store.snapshots("NCT06224738")[0]
    os.utime(snap, (1_000_000_000, 1_000_000_000))
    assert store.trusted("NCT06224738", store.state("NCT06224738")) is not None
    text = snap.read_text(encoding="utf-8")
    snap.write_text(text.replace("NOT_YET_RECRUITING", "RECRUITING_______X"), encoding="utf-8")
    assert store.trusted("NCT06224738", store.state("NCT06224738")) is None


def test_store_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "snapshots").write_text("", encoding="utf-8")
    with (
        pytest.raises(StoreError, match="is a file; point --store"),
        SnapshotStore(tmp_path / "snapshots").locked(),
    ):
        pass


def test_a_store_of_trialwatch_0_1_is_migrated(tmp_path: Path, her2: dict[str, Any]) -> None:
    """0.1 kept state.json and checks.log in every trial folder and .run.json at the top; a
    change it stored but had not reported (state.json "latest" older than the newest file)
    becomes pending and is reported."""
    root = tmp_path / "s"
    folder = root / "NCT06224738"
    folder.mkdir(parents=True)
    for name, record in (("2026-11-25.json", her2), ("2026-11-26.json", slipped(her2))):
        payload = {"fetched": {"at": name[:10]}, "format": 1, "study": record}
        (folder / name).write_text(canonical_json(payload), encoding="utf-8")
    (folder / "state.json").write_text(
        json.dumps({"latest": "2026-11-25.json", "status": "NOT_YET_RECRUITING", "checks": 4}),
        encoding="utf-8",
    )
    (folder / "checks.log").write_text(
        "2026-11-25T06:00:00Z new 2026-11-25.json\n", encoding="utf-8"
    )
    (root / ".run.json").write_text('{"complete": true, "data_timestamp": "x"}', encoding="utf-8")
    (root / ".lock").write_text("", encoding="utf-8")
    store = SnapshotStore(root)
    report = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"))
    assert report.outcome is Outcome.CHANGED
    assert any("slipped 3 months" in c.sentence for c in report.changes)
    assert sorted(p.name for p in root.iterdir()) == [".trialwatch", "NCT06224738"]
    assert sorted(p.name for p in folder.iterdir()) == ["2026-11-25.json", "2026-11-26.json"]
    assert store.state("NCT06224738")["checks"] == 5
    assert store.db.log_of("NCT06224738")[0] == (
        "2026-11-25T06:00:00Z",
        "new",
        "2026-11-25.json",
    )
    assert store.run_state() == {"complete": True, "data_timestamp": "x"}


@pytest.mark.posix
@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_files_honour_the_umask(her2: dict[str, Any], umask: int, mode: int) -> None:
    """Snapshots and the watch list get 0666 less the umask, as any other program's files."""
    import os
    import stat
    import subprocess
    import sys

    from tests.registry_server import Registry, serve

    exe = str(Path(sys.executable).parent / "trialwatch")
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        env = {**os.environ, "TRIALWATCH_API_URL": url, "TRIALWATCH_REQUEST_INTERVAL": "0"}

        def run(*args: str) -> None:
            subprocess.run(
                [exe, *args],
                env=env,
                check=True,
                capture_output=True,
                preexec_fn=lambda: os.umask(umask),
            )

        run("watch", "add", "--offline", "NCT06224738")
        run("check")
    snapshot = next(Path("snapshots/NCT06224738").glob("20*.json"))
    assert stat.S_IMODE(snapshot.stat().st_mode) == mode
    assert stat.S_IMODE(Path("watchlist.toml").stat().st_mode) == mode


def test_the_snapshots_readme_describes_the_store_of_this_release() -> None:
    """snapshots/README.md ships in the repository beside a store: it must not describe the
    layout of 0.1 (state.json, checks.log and .lock in the trial folders)."""
    text = (Path(__file__).resolve().parent.parent / "snapshots" / "README.md").read_text("utf-8")
    assert ".trialwatch/" in text and "state.db" in text and "pending/" in text
    assert "state.json" not in text and "checks.log" not in text and ".lock " not in text


def test_a_baseline_the_writer_process_wrote_is_trusted_after_a_checkout_by_its_sha256(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long first run's baselines are written by the writer process, which tells the run
    each file's sha256: the state keeps it with the file's times, so a checkout that moves
    the times still trusts the file by its bytes, and not once they differ."""
    from trialwatch.store.folder import writer

    monkeypatch.setattr(writer, "START_AFTER", 0)  # this baseline through the writer process
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), printed=False)
    snap = store.snapshots("NCT06224738")[0]
    row = store.state("NCT06224738")
    assert row["file_sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest()
    os.utime(snap, (1_000_000_000, 1_000_000_000))
    assert store.trusted("NCT06224738", store.state("NCT06224738")) is not None
    snap.write_bytes(snap.read_bytes().replace(b"NOT_YET_RECRUITING", b"RECRUITING_______X"))
    assert store.trusted("NCT06224738", store.state("NCT06224738")) is None
