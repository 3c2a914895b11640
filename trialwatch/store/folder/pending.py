"""Changes stored but not yet reported, and which run is reporting them.

A change counts as reported for an output when that output has it: stdout when the report has
been written and flushed, mail when the SMTP server accepted the message. Until then the trial
has a pending file ``<store>/.trialwatch/pending/NCT….json``::

    {"run": "4242-1764…", "outputs": {"stdout": "2026-11-24.json", "mail": "2026-11-24.json"}}

Each output names the last snapshot it reported ("" for a trial never reported: a baseline). The
file is written (durably) before the new snapshot, and an output's entry is dropped only once
that output has the change, so a run killed at any instruction leaves the change pending, and
the next run reports it. ``run`` names the run that is reporting it: while that run is alive,
others leave the trial to it (no double report); once it has died, the next run adopts it.

A baseline's news is kept lighter: a row of the state's ``untold`` table (the same run and
outputs), written in the transaction that stores the baseline, whose file is written once that
transaction has committed (snapshots.py). A file costs more than the rest of a baseline, and a
first run of a long list writes thousands; a state.db that had to be rebuilt costs at most the
line that said a trial's baseline was stored, never a change.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from trialwatch.errors import StoreError, os_reason
from trialwatch.ids import is_nct_id
from trialwatch.store.atomic import write_atomic
from trialwatch.store.locks import lock, try_lock
from trialwatch.store.markers import marker_of, markers_of_many, put_marker, read_marker
from trialwatch.store.state import StateDB, bookkeeping_dir, temp_dir

OUTPUTS = ("stdout", "mail")


def _told_again() -> dict[str, Any]:
    """An untold row that does not read: its baseline is told again, to be safe."""
    return {"run": "", "outputs": {o: "" for o in OUTPUTS}}


class Pending:
    """The pending files of one store."""

    def __init__(self, root: Path, db: StateDB) -> None:
        self.folder = bookkeeping_dir(root) / "pending"
        self._prefix = os.path.join(self.folder, "")  # each trial's file is this and its id
        self.tmp = temp_dir(root)
        self.db = db
        self.damaged: list[str] = []

    def _name(self, nct: str) -> str:
        """A trial's pending file, as a plain string (each new trial of a run asks several
        times, and the file is rarely there)."""
        if not is_nct_id(nct):
            raise StoreError(f"refusing to use {nct!r} as a file name")
        return f"{self._prefix}{nct}.json"

    def trials(self) -> set[str]:
        """Trials with a pending file (listed once per run: one directory read)."""
        untold = {nct for (nct,) in self._query("SELECT nct FROM untold", ())}
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return untold
        except OSError as exc:
            raise StoreError(f"cannot read {self.folder}: {os_reason(exc)}") from None
        return untold | {n[:-5] for n in names if n.endswith(".json") and is_nct_id(n[:-5])}

    def get(self, nct: str) -> dict[str, Any] | None:
        name = self._name(nct)
        try:
            with open(name, encoding="utf-8") as handle:
                data = json.loads(handle.read())
        except FileNotFoundError:
            return self._untold(nct)
        except (OSError, ValueError) as exc:
            return self._damaged(nct, Path(name), exc)
        marker = (
            read_marker(data.get("run"), data.get("outputs")) if isinstance(data, dict) else None
        )
        if marker is None:
            return self._damaged(nct, Path(name), ValueError("not a pending-change record"))
        return marker

    def get_many(self, ncts: Sequence[str]) -> dict[str, dict[str, Any]]:
        """One listing of the pending folder and one query a page of the untold news, not a
        file opened for each trial. Only the run that holds a marker writes it while that run
        lives: a file another run makes after the listing adopts a dead run's change, whose row
        is read instead (the same outputs, the dead run's name: neither is the caller's)."""
        try:
            names = set(os.listdir(self.folder))
        except FileNotFoundError:
            names = set()
        except OSError as exc:
            raise StoreError(f"cannot read {self.folder}: {os_reason(exc)}") from None
        found: dict[str, dict[str, Any]] = {}
        rest = []
        for nct in ncts:
            if f"{nct}.json" in names:
                marker = self.get(nct)
                if marker is not None:
                    found[nct] = marker
            else:
                rest.append(nct)
        for nct, marker in markers_of_many(self._query, "untold", rest):
            found[nct] = marker or _told_again()
        return found

    def _damaged(self, nct: str, path: Path, exc: Exception) -> dict[str, Any]:
        """A damaged pending file still means "something may be unreported": keep it aside and
        report from the newest snapshot but one, rather than risk dropping a change."""
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        self.damaged.append(
            f"{nct}: its pending-change file was damaged ({exc}); moved to {aside.name}, and the "
            "latest change is reported again to be safe"
        )
        safe = {o: "?" for o in OUTPUTS}
        # Written back, so the change stays pending for whoever reads it next.
        self.put(nct, "", safe)
        return {"run": "", "outputs": safe}

    def _untold(self, nct: str) -> dict[str, Any] | None:
        rows = self._query("SELECT run, outputs FROM untold WHERE nct = ?", (nct,))
        if not rows:
            return None
        return marker_of(rows[0]) or _told_again()

    def put(self, nct: str, run: str, outputs: dict[str, str], durable: bool = True) -> None:
        """Record what is pending (nothing: it goes). Not ``durable``: a baseline's news, a
        row of the state in the caller's transaction (see above)."""
        name = self._name(nct)
        if not outputs or not durable:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            self._set_untold(nct, run, outputs)  # none when durable: only a file says it
            return
        path = Path(name)
        data = json.dumps({"outputs": outputs, "run": run}, sort_keys=True) + "\n"
        try:
            write_atomic(path, data.encode("utf-8"), durable=durable, tmp_dir=self.tmp)
        except OSError as exc:
            raise StoreError(
                f"could not record a pending change in {path}: {os_reason(exc)}"
            ) from None
        self._set_untold(nct, run, {})  # the file says it all now

    def _query(self, sql: str, args: Sequence[str]) -> list[Any]:
        try:
            return self.db.conn.execute(sql, args).fetchall()
        except self.db.errors as exc:
            raise StoreError(f"cannot read the store's state {self.db.path}: {exc}") from None

    def _set_untold(self, nct: str, run: str, outputs: dict[str, str]) -> None:
        if not outputs:
            # Looked for first outside a transaction: no write is begun for nothing.
            if self.db.in_transaction or self._query("SELECT 1 FROM untold WHERE nct = ?", (nct,)):
                with self.db.write() as conn:
                    conn.execute("DELETE FROM untold WHERE nct = ?", (nct,))
            return
        with self.db.write() as conn:
            put_marker(conn, "untold", nct, run, outputs)


class RunRegistry:
    """Which trialwatch runs are alive: each holds an exclusive flock on its own file."""

    def __init__(self, root: Path) -> None:
        self.folder = bookkeeping_dir(root) / "runs"
        self.run_id = f"{os.getpid()}-{time.time_ns()}"
        self._handle: IO[str] | None = None

    def start(self) -> None:
        """Register this run: its lock file exists, is locked by this process, and is still the
        file at that name. A run starting in the same instant may find the file before it is
        locked, take it for a dead run's and remove it (or hold it for the instant it takes to
        look): then this run makes its file again, so that no other run ever sees it dead."""
        if self._handle is not None:
            return
        path = self.folder / f"{self.run_id}.lock"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for _attempt in range(50):
                handle = open(path, "a", encoding="utf-8")  # noqa: SIM115
                try:
                    lock(handle, timeout=5.0)
                except BaseException:
                    handle.close()
                    raise
                if _is_file_at(handle, path):
                    self._handle = handle
                    return
                handle.close()  # removed by another run's tidy before it was locked
            raise OSError(f"{path} kept being removed by other runs")
        except (OSError, TimeoutError) as exc:
            raise StoreError(f"cannot register this run in {self.folder}: {exc}") from None

    def stop(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.folder / f"{self.run_id}.lock")
        self._handle.close()
        self._handle = None

    def alive(self, run_id: str) -> bool:
        if not run_id:
            return False
        if run_id == self.run_id:
            return self._handle is not None
        path = self.folder / f"{os.path.basename(run_id)}.lock"
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115
        except OSError:
            return False
        try:
            held_elsewhere = not try_lock(handle)
        except OSError:
            handle.close()
            return False
        if held_elsewhere:
            handle.close()
            return True
        # Nobody holds it: that run died. Tidy its file while holding its lock, so that a run
        # starting at this instant (which opened the file but has not locked it yet) finds its
        # file gone once it has the lock, and makes it again. Windows removes no open file:
        # there it goes once closed, and a run that has it open keeps it.
        if os.name != "nt":
            with contextlib.suppress(OSError):
                os.unlink(path)
        handle.close()
        if os.name == "nt":  # pragma: no cover - exercised on Windows
            with contextlib.suppress(OSError):
                os.unlink(path)
        return False

    def tidy(self) -> None:
        """Remove the files of runs that died (kill -9 leaves them)."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name.endswith(".lock") and name[:-5] != self.run_id:
                self.alive(name[:-5])


def _is_file_at(handle: IO[str], path: Path) -> bool:
    """Is the open file still the one at path (not removed, nor replaced by another)?"""
    try:
        mine, there = os.fstat(handle.fileno()), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
