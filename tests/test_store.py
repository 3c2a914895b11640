from __future__ import annotations

import errno
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edited
from trialwatch import atomic
from trialwatch.client import Fetched
from trialwatch.errors import CorruptSnapshotError, LockedError, StoreError
from trialwatch.model import Outcome
from trialwatch.normalize import canonical_json
from trialwatch.runner import CheckOptions, observe
from trialwatch.store import SnapshotStore, read_record_file


def fetched(record: dict[str, Any], at: str = "2026-11-25T06:00:00Z") -> Fetched:
    nct = record["protocolSection"]["identificationModule"]["nctId"]
    return Fetched(nct, record, f"http://127.0.0.1/api/v2/studies/{nct}", at, nct)


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
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.ERROR
    assert "2026-11-25.json is not valid JSON" in (report.error or "")
    assert [p.name for p in store.snapshots("NCT06224738")] == ["2026-11-25.json"]
    assert path.read_text(encoding="utf-8").startswith('{"study"')  # left for the user


def test_disk_full_mid_write_keeps_previous_and_reports_again(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path / "s")
    assert observe(store, fetched(her2), CheckOptions()).outcome is Outcome.NEW
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.ERROR
    assert "No space left on device" in (report.error or "")
    assert "previous snapshot is intact" in (report.error or "")
    folder = tmp_path / "s" / "NCT06224738"
    assert sorted(p.name for p in folder.iterdir()) == [
        "2026-11-25.json",
        "checks.log",
        "state.json",
    ]
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"), CheckOptions())
    assert again.outcome is Outcome.CHANGED  # the change was not lost
    assert any("slipped 3 months" in c.sentence for c in again.changes)


def test_crash_between_temp_write_and_rename(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-write: simulated by an exception the code cannot catch."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())

    class Killed(BaseException):
        pass

    def die(*args: object) -> None:
        raise Killed

    monkeypatch.setattr(atomic.os, "link", die)
    with pytest.raises(Killed):
        observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), CheckOptions())
    monkeypatch.undo()
    assert store.latest("NCT06224738").record == her2  # type: ignore[union-attr]
    # Leftover temp files (as after kill -9) are ignored and tidied by the next write.
    (tmp_path / "s" / "NCT06224738" / ".tmp-abc.part").write_text("{partial", encoding="utf-8")
    report = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.CHANGED
    assert not list((tmp_path / "s" / "NCT06224738").glob(".tmp-*"))


def test_stale_state_is_not_trusted(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())
    (tmp_path / "s" / "NCT06224738" / "state.json").write_text("garbage", encoding="utf-8")
    report = observe(store, fetched(her2, "2026-11-26T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.UNCHANGED
    assert len(store.snapshots("NCT06224738")) == 1


def _hold_lock(root: str, ready: Any, release: Any) -> None:
    with SnapshotStore(Path(root)).locked():
        ready.set()
        release.wait(10)


def test_second_run_is_told_the_store_is_busy(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path / "s"), ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(LockedError, match="another trialwatch run is using"),
            SnapshotStore(tmp_path / "s").locked(),
        ):
            pass
    finally:
        release.set()
        proc.join(10)
    start = time.monotonic()
    with SnapshotStore(tmp_path / "s").locked():
        pass
    assert time.monotonic() - start < 5


def test_unchanged_uses_the_stored_digest(tmp_path: Path, her2: dict[str, Any]) -> None:
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())
    # Only the registry's daily data version moved: not a new snapshot.
    refreshed = edited(
        her2,
        lambda r: (
            r.setdefault("derivedSection", {})
            .setdefault("miscInfoModule", {})
            .update(versionHolder="2026-11-26")
        ),
    )
    report = observe(store, fetched(refreshed, "2026-11-26T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.UNCHANGED
    assert len(store.snapshots("NCT06224738")) == 1
    log = (tmp_path / "s" / "NCT06224738" / "checks.log").read_text(encoding="utf-8").splitlines()
    assert [line.split()[1] for line in log] == ["new", "unchanged"]


def test_state_write_failure_still_reports_the_change(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot is stored but recording the check fails (disk full at that moment): the
    change is reported now, as trouble; as the check could not be recorded, the next run
    reports it once more rather than risk never reporting it."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())

    def fail(*args: object, **kwargs: object) -> None:
        raise StoreError("could not record the check: No space left on device")

    monkeypatch.setattr(store, "record_check", fail)
    report = observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), CheckOptions())
    assert report.outcome is Outcome.CHANGED
    assert report.warning and "No space left" in report.warning
    assert any("slipped 3 months" in c.sentence for c in report.changes)
    monkeypatch.undo()
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"), CheckOptions())
    assert again.outcome is Outcome.CHANGED and again.warning is None
    assert len(store.snapshots("NCT06224738")) == 2
    third = observe(store, fetched(slipped(her2), "2026-11-28T06:00:00Z"), CheckOptions())
    assert third.outcome is Outcome.UNCHANGED


def test_crash_after_storing_before_reporting_is_reported_next_time(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the new snapshot was stored but before the check was recorded (and its
    report printed or mailed): the next run reports the change, and stores no duplicate."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())

    class Killed(BaseException):
        pass

    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(store, "record_check", die)
    with pytest.raises(Killed):
        observe(store, fetched(slipped(her2), "2026-11-26T06:00:00Z"), CheckOptions())
    monkeypatch.undo()
    assert [p.name for p in store.snapshots("NCT06224738")] == [
        "2026-11-25.json",
        "2026-11-26.json",
    ]
    again = observe(store, fetched(slipped(her2), "2026-11-27T06:00:00Z"), CheckOptions())
    assert again.outcome is Outcome.CHANGED
    assert again.previous_snapshot == "2026-11-25.json"
    assert again.snapshot == "2026-11-26.json"
    assert any("slipped 3 months" in c.sentence for c in again.changes)
    assert len(store.snapshots("NCT06224738")) == 2
    third = observe(store, fetched(slipped(her2), "2026-11-28T06:00:00Z"), CheckOptions())
    assert third.outcome is Outcome.UNCHANGED


def test_fresh_checkout_trusts_the_stored_digest_by_content(
    tmp_path: Path, her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git checkout gives every file a new mtime: the digest is still trusted when the file's
    bytes are the same, and not when they differ."""
    store = SnapshotStore(tmp_path / "s")
    observe(store, fetched(her2), CheckOptions())
    snap = store.snapshots("NCT06224738")[0]
    os.utime(snap, (1_000_000_000, 1_000_000_000))
    assert store.latest_digest("NCT06224738") is not None
    text = snap.read_text(encoding="utf-8")
    snap.write_text(text.replace("NOT_YET_RECRUITING", "RECRUITING_______X"), encoding="utf-8")
    assert store.latest_digest("NCT06224738") is None


def test_store_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "snapshots").write_text("", encoding="utf-8")
    with (
        pytest.raises(StoreError, match="is a file; point --store"),
        SnapshotStore(tmp_path / "snapshots").locked(),
    ):
        pass


def test_the_lock_is_reentrant_for_one_run(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "s")
    other = SnapshotStore(tmp_path / "s")  # another store object is another run
    with store.locked(), store.locked(), pytest.raises(LockedError), other.locked():
        pass
    with SnapshotStore(tmp_path / "s").locked():
        pass
