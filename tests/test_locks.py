"""The store's locks, through the portable helper (flock on POSIX, msvcrt on Windows): a lock
another process holds is seen as held, and is free again once that process is gone, even
killed. Runs on any OS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from trialwatch.store.folder.pending import RunRegistry
from trialwatch.store.locks import lock, try_lock

HOLD = """
import sys, time
from trialwatch.store.locks import try_lock
handle = open(sys.argv[1], "a+")
assert try_lock(handle)
print("held", flush=True)
time.sleep(60)
"""


def test_a_lock_held_elsewhere_and_freed_when_its_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with open(path, "a+", encoding="utf-8") as handle:
            assert try_lock(handle) is False
            started = time.monotonic()
            try:
                lock(handle, timeout=0.3)
            except TimeoutError as exc:
                assert "stayed locked for 0.3s" in str(exc)
            else:  # pragma: no cover
                raise AssertionError("took a lock another process holds")
            assert time.monotonic() - started >= 0.3
        holder.kill()  # as kill -9 would: the lock goes with the process
        holder.wait(10)
        with open(path, "a+", encoding="utf-8") as handle:
            assert try_lock(handle) is True
    finally:
        holder.kill()
        holder.wait(10)


def test_the_run_registry_tells_live_runs_from_dead_ones(tmp_path: Path) -> None:
    mine, other = RunRegistry(tmp_path), RunRegistry(tmp_path)
    mine.start()
    other.start()
    assert mine.alive(other.run_id) and other.alive(mine.run_id)
    other.stop()
    assert not mine.alive(other.run_id)
    # A run killed without stopping leaves its file: seen as dead and tidied.
    dead = mine.folder / "12345-1.lock"
    dead.write_text("", encoding="utf-8")
    assert not mine.alive("12345-1") and not dead.exists()
    mine.stop()
