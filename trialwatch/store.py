"""The snapshot store: one folder per trial, one file per observed version of its record.

Layout (documented in the README and in ``snapshots/README.md``)::

    snapshots/
      NCT06224738/
        2026-11-25.json      the record as fetched, in {"fetched": …, "study": …}
        2026-11-25_2.json    a second version seen the same UTC day
        state.json           digest of the latest version, last checked / changed / error
        checks.log           one line per check: time, outcome, snapshot
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trialwatch.atomic import append_line, write_atomic
from trialwatch.client import Fetched, record_id
from trialwatch.errors import CorruptSnapshotError, LockedError, StoreError
from trialwatch.ids import is_nct_id
from trialwatch.normalize import NORMALIZER_VERSION, canonical_json

SNAPSHOT_FORMAT = 1
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:_(\d+))?\.json$")


@dataclass
class Snapshot:
    nct_id: str
    path: Path
    record: dict[str, Any]
    fetched_at: str | None
    url: str | None

    @property
    def name(self) -> str:
        return self.path.name


def snapshot_sort_key(name: str) -> tuple[str, int]:
    match = _NAME.match(name)
    if not match:
        return ("", 0)
    return (match.group(1), int(match.group(2) or 1))


def study_of(data: Any, source: str) -> tuple[dict[str, Any], str | None, str | None]:
    """The study record inside any file trialwatch reads: a stored snapshot
    ``{fetched, study}``, a history version ``{studyVersion, study}``, ``{study}``, or a bare
    API record. Returns (record, fetched_at, url)."""
    if isinstance(data, dict) and isinstance(data.get("study"), dict):
        fetched = data.get("fetched")
        if not isinstance(fetched, dict):
            fetched = {}
        record = data["study"]
        at, url = fetched.get("at"), fetched.get("url")
    else:
        record, at, url = data, None, None
    if not isinstance(record, dict) or record_id(record) is None:
        raise CorruptSnapshotError(
            f"{source} is not a study record (no protocolSection.identificationModule.nctId)"
        )
    return record, at if isinstance(at, str) else None, url if isinstance(url, str) else None


def read_record_file(path: Path) -> Snapshot:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptSnapshotError(
            f"{path} is not valid JSON ({exc}); restore it (for example with git checkout) "
            "or move it aside, then check again"
        ) from None
    record, at, url = study_of(data, str(path))
    nct = record_id(record) or path.parent.name
    return Snapshot(nct, path, record, at, url)


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock_handle: IO[str] | None = None

    # -- locking ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock: one writer at a time; a second run is told and stops.
        Re-entrant within one store object (a run holds it across checking and mailing)."""
        if self._lock_handle is not None:
            yield
            return
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"the snapshot folder {self.root} is a file; point --store (or store in the "
                "config) at a folder"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise StoreError(
                f"cannot use the snapshot folder {self.root}: {exc.strerror or exc}"
            ) from None
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise LockedError(
                        f"another trialwatch run is using {self.root} right now; "
                        "try again when it has finished"
                    ) from None
                raise StoreError(f"cannot lock {self.root}: {exc.strerror or exc}") from None
            self._lock_handle = handle
            yield
        finally:
            self._lock_handle = None
            handle.close()

    # -- paths ------------------------------------------------------------------------------

    def trial_dir(self, nct_id: str) -> Path:
        """The folder of one trial. Only canonical ids become paths, so no id leaves the store."""
        if not is_nct_id(nct_id):
            raise StoreError(f"refusing to use {nct_id!r} as a snapshot folder name")
        folder = self.root / nct_id
        if folder.resolve().parent != self.root.resolve():
            raise StoreError(f"{folder} is outside the snapshot folder {self.root}")
        return folder

    def snapshots(self, nct_id: str) -> list[Path]:
        folder = self.trial_dir(nct_id)
        if not folder.is_dir():
            return []
        names = [p.name for p in folder.iterdir() if _NAME.match(p.name)]
        return [folder / n for n in sorted(names, key=snapshot_sort_key)]

    def trials(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_nct_id(p.name))

    # -- reading ----------------------------------------------------------------------------

    def latest(self, nct_id: str) -> Snapshot | None:
        files = self.snapshots(nct_id)
        return read_record_file(files[-1]) if files else None

    def read(self, path: Path) -> Snapshot:
        return read_record_file(path)

    def reported(self, nct_id: str) -> Snapshot | None:
        """The snapshot the last recorded check ended on (normally the newest one; an older one
        when a run stored a snapshot and stopped before recording the check)."""
        files = self.snapshots(nct_id)
        if not files:
            return None
        name = self.state(nct_id).get("latest")
        chosen = next((f for f in files if f.name == name), files[-1])
        return read_record_file(chosen)

    def state(self, nct_id: str) -> dict[str, Any]:
        path = self.trial_dir(nct_id) / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def latest_digest(self, nct_id: str) -> tuple[str, str | None, str] | None:
        """The stored (digest, raw hash) of the latest snapshot and its file name, when they can
        be trusted."""
        state = self.state(nct_id)
        files = self.snapshots(nct_id)
        if (
            files
            and state.get("normalizer") == NORMALIZER_VERSION
            and state.get("latest") == files[-1].name
            and isinstance(state.get("digest"), str)
            and _same_file(state, files[-1])
        ):
            raw = state.get("raw")
            return str(state["digest"]), raw if isinstance(raw, str) else None, files[-1].name
        return None

    def run_state(self) -> dict[str, Any]:
        """What the last run over the watch list saw (``.run.json``)."""
        try:
            data = json.loads((self.root / ".run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_run_state(self, state: dict[str, Any]) -> None:
        try:
            write_atomic(self.root / ".run.json", canonical_json(state).encode("utf-8"))
        except OSError as exc:
            raise StoreError(
                f"could not write {self.root / '.run.json'}: {exc.strerror or exc}"
            ) from None

    # -- writing ----------------------------------------------------------------------------

    def save(self, fetched: Fetched) -> Path:
        """Store a new version of a record. Never replaces an existing snapshot file."""
        folder = self.trial_dir(fetched.nct_id)
        payload = {
            "fetched": {
                "at": fetched.fetched_at,
                "url": fetched.url,
                "requested_id": fetched.requested_id,
            },
            "format": SNAPSHOT_FORMAT,
            "study": fetched.record,
        }
        data = canonical_json(payload).encode("utf-8")
        day = fetched.fetched_at[:10]
        remove_stale_temp_files(folder)
        n = 1
        while True:
            name = f"{day}.json" if n == 1 else f"{day}_{n}.json"
            path = folder / name
            if not path.exists():
                try:
                    write_atomic(path, data, exclusive=True)
                    return path
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise StoreError(
                        f"could not write {path}: {exc.strerror or exc}; "
                        "the previous snapshot is intact"
                    ) from None
            n += 1

    def record_check(
        self,
        nct_id: str,
        when: str,
        outcome: str,
        *,
        record_digest: str | None = None,
        raw: str | None = None,
        latest: str | None = None,
        changed: bool = False,
        error: str | None = None,
        status: str | None = None,
        title: str | None = None,
    ) -> None:
        """Remember that a check happened (state.json and one line in checks.log)."""
        folder = self.trial_dir(nct_id)
        state = self.state(nct_id)
        state["last_checked"] = when
        state["checks"] = int(state.get("checks", 0) or 0) + 1
        if record_digest is not None and latest is not None:
            state["digest"] = record_digest
            state["raw"] = raw
            state["latest"] = latest
            state["normalizer"] = NORMALIZER_VERSION
            stamp = _file_stamp(folder / latest)
            same_file = state.get("latest") == latest and state.get("file") == stamp
            if not (same_file and state.get("file_sha256")):
                state["file_sha256"] = _file_sha256(folder / latest)  # read only when it moved
            state["file"] = stamp
        if changed:
            state["last_changed"] = when
        state["last_outcome"] = outcome
        state["last_error"] = error
        if status is not None:
            state["status"] = status
        if title is not None:
            state["title"] = title
        try:
            # state.json can be rebuilt from the snapshots (a missing or damaged one only costs
            # a slower next check), so it is not fsynced: snapshots are.
            write_atomic(
                folder / "state.json", canonical_json(state).encode("utf-8"), durable=False
            )
            append_line(folder / "checks.log", f"{when} {outcome} {latest or '-'}")
        except OSError as exc:
            raise StoreError(
                f"could not record the check in {folder}: {exc.strerror or exc}"
            ) from None


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _same_file(state: dict[str, Any], path: Path) -> bool:
    """Is path the very file the state describes? Size and mtime first (free); when only the
    mtime moved (a fresh git checkout in CI), the file's hash decides."""
    stamp = _file_stamp(path)
    if stamp is None:
        return False
    if state.get("file") == stamp:
        return True
    recorded = state.get("file")
    if not isinstance(recorded, list) or not recorded or recorded[0] != stamp[0]:
        return False
    return state.get("file_sha256") is not None and state.get("file_sha256") == _file_sha256(path)


def _file_stamp(path: Path) -> list[int] | None:
    """Size and modification time: when either moved, the stored digest is not trusted."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def remove_stale_temp_files(folder: Path) -> None:
    """Temp files a crash left behind are never read; tidy them when we hold the lock."""
    if not folder.is_dir():
        return
    for path in folder.glob(".tmp-*.part"):
        with contextlib.suppress(OSError):
            os.unlink(path)
