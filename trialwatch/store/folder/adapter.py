"""The folder adapter: snapshots as JSON files a person can read and git can track
(``snapshots/NCT…/2026-11-25.json``), the state in SQLite beside them
(``snapshots/.trialwatch/state.db``), pending changes and live runs as files there too."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from trialwatch.changes.normalize import (
    NORMALIZER_VERSION,
    canonical_json_bytes,
)
from trialwatch.errors import NotStoredError, StoreError, os_reason
from trialwatch.ids import is_nct_id
from trialwatch.record import Fetched, ensure_shallow
from trialwatch.store.atomic import put_temp, remove_temp_files, write_atomic
from trialwatch.store.folder.pending import Pending, RunRegistry
from trialwatch.store.folder.writer import TempWriter
from trialwatch.store.port import (
    SNAPSHOT_NAME,
    Bookkeeping,
    Snapshot,
    Trusted,
    first_check,
    first_state,
    latest_fields,
    snapshot_sort_key,
)
from trialwatch.store.snapshots import read_record_file, snapshot_payload
from trialwatch.store.state import StateDB, temp_dir

if TYPE_CHECKING:
    from trialwatch.store.queries import QueryStore
    from trialwatch.store.versions import VersionStore

log = logging.getLogger("trialwatch")


class SnapshotStore(Bookkeeping):
    """The folder + SQLite store: snapshots as files git can track, bookkeeping in
    ``.trialwatch/`` (state.py, pending.py)."""

    capabilities = frozenset({"files", "persistent"})
    db: StateDB

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder: Path | None = self.root
        self.label = str(self.root)
        self.db = StateDB(self.root)
        self.pending = Pending(self.root, self.db)
        self.runs = RunRegistry(self.root)
        self._depth = 0
        self._checks: list[tuple[str, str, str, str | None, str | None]] = []
        self._written: dict[Path, str] = {}  # sha256 of the snapshot files this run wrote
        self._plain_dirs: set[str] = set()  # trials whose folder is no link (trial_dir)
        self._last_dir: tuple[str, Path] = ("", self.root)  # and the last one's path
        # The trial whose folder was just found missing (trial_dir's lstat, or snapshots'
        # listing): none to list, its baseline's name is the day's first, and its folder is
        # made before the file is put (no call that fails).
        self._missing = ""
        self._deferred: dict[Path, int] = {}  # baselines to write at the commit: their sizes
        self._unput: set[str] = set()  # their temp files, until put in place
        self._writer: TempWriter | None = None  # which writes those (writer.py)
        # and their files' times and sha256, once written and put
        self._times: list[tuple[int, int, str, str, str]] = []
        self._unsynced = False  # files written without fsync, made durable at the run's end
        self._syncing: threading.Thread | None = None  # a sync under way meanwhile (batch)

    @property
    def run_id(self) -> str:
        return self.runs.run_id

    @property
    def notes(self) -> list[str]:
        """Things to tell the user about the store itself (a damaged state moved aside)."""
        return [*self.db.notes, *self.pending.damaged]

    # -- a run ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store for one run: registers the run (so others leave the changes it is
        reporting to it), migrates an older store, and writes the run's checks once at the
        end. Other runs may use the store at the same time: writes are short transactions.
        Re-entrant within one store object."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"the snapshot folder {self.root} is a file; point --store (or store in the "
                "config) at a folder"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot use the snapshot folder {self.root}: {os_reason(exc)}"
            ) from None
        self.runs.start()
        self._depth = 1
        try:
            self.runs.tidy()
            for folder in (self.tmp_dir, self.pending.folder, self.root / "queries", self.root):
                # Earlier releases wrote pending and query files through temp files beside
                # them; a killed run's are tidied here too.
                remove_temp_files(folder)
            _migrate_legacy(self)
            yield
        finally:
            self._depth = 0
            if self._writer is not None:  # its last files written before any is removed
                self._writer.close()
            for tmp in self._unput:  # baselines of a transaction rolled back
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self._unput.clear()
            try:
                if self._unsynced or self._syncing is not None:
                    self.sync_files()
                self.flush_checks()
            except StoreError as exc:
                log.warning("could not record this run's checks: %s", exc)
            finally:
                self.runs.stop()
                self.db.close()

    @functools.cached_property
    def tmp_dir(self) -> Path:
        """Where its temp files are made (a path, worked out once: each baseline asks)."""
        return temp_dir(self.root)

    # -- paths ------------------------------------------------------------------------------

    def trial_dir(self, nct_id: str) -> Path:
        """The folder of one trial. Only canonical ids become paths, so no id leaves the store."""
        if not is_nct_id(nct_id):
            raise StoreError(f"refusing to use {nct_id!r} as a snapshot folder name")
        if nct_id == self._last_dir[0]:  # the trial asked about just before (a new one, four times)
            return self._last_dir[1]
        folder = self.root / nct_id
        # A canonical id is one plain name, so the folder is the root's child unless it is a
        # link: one lstat, not a resolve of the whole path, once a run for each trial.
        if nct_id not in self._plain_dirs:
            try:
                is_link = stat.S_ISLNK(os.lstat(folder).st_mode)
            except FileNotFoundError:  # a new trial (snapshots() need not list it)
                self._missing, is_link = nct_id, False
            except OSError:
                is_link = False
            if is_link:
                raise StoreError(f"{folder} is outside the snapshot folder {self.root}")
            self._plain_dirs.add(nct_id)
        self._last_dir = (nct_id, folder)
        return folder

    def snapshots(self, nct_id: str) -> list[Path]:
        self._missing = ""
        folder = self.trial_dir(nct_id)
        if self._missing == nct_id:  # its lstat, just now, found no folder: none to list
            return []
        try:
            names = [n for n in os.listdir(folder) if SNAPSHOT_NAME.match(n)]
        except FileNotFoundError:
            self._missing = nct_id
            return []
        except NotADirectoryError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read {folder}: {os_reason(exc)}") from None
        return [folder / n for n in sorted(names, key=snapshot_sort_key)]

    def trials(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_nct_id(p.name))

    # -- reading ----------------------------------------------------------------------------

    def latest(self, nct_id: str) -> Snapshot | None:
        files = self.snapshots(nct_id)
        return read_record_file(files[-1]) if files else None

    def read(self, ref: PurePath) -> Snapshot:
        return read_record_file(Path(ref))

    def snapshot_named(self, nct_id: str, name: str) -> Snapshot | None:
        if not SNAPSHOT_NAME.match(name):
            return None
        path = self.trial_dir(nct_id) / name
        return read_record_file(path) if path.exists() else None

    def state(self, nct_id: str) -> dict[str, Any]:
        """What the store knows of a trial: status, title, last checked / changed / error."""
        return self.db.row(nct_id)

    def rows(self, nct_ids: list[str]) -> dict[str, dict[str, Any]]:
        return self.db.rows(nct_ids)

    def trusted(self, nct_id: str, row: dict[str, Any]) -> Trusted | None:
        """The state's digests of the latest snapshot, when the file is the one they describe.
        Costs two stat calls when nothing moved; lists the folder only when it changed."""
        name, record_digest = row.get("latest"), row.get("digest")
        if not isinstance(name, str) or not isinstance(record_digest, str | None):
            return None
        if row.get("normalizer") != NORMALIZER_VERSION:
            return None
        folder = self.trial_dir(nct_id)
        try:
            dir_mtime = os.stat(folder).st_mtime_ns
        except OSError:
            return None
        if dir_mtime != row.get("dir_mtime"):
            files = self.snapshots(nct_id)
            if not files or files[-1].name != name:
                return None
        if not _same_file(row, folder / name):
            return None
        raw = row.get("raw")
        if record_digest is None and not isinstance(raw, str):
            return None
        return Trusted(name, record_digest, raw if isinstance(raw, str) else None)

    # -- writing ----------------------------------------------------------------------------

    def save(self, fetched: Fetched, durable: bool = True) -> Path:
        """Store a new version of a record. Never replaces an existing snapshot file. Not
        ``durable`` (a baseline): written once the state's transaction has committed, and
        synced with the others at the end of the run (sync_files). A run killed in between
        leaves a state naming a file that is not there: the next run takes the trial for
        new again, and its untold baseline (pending.py) is told then."""
        if not durable and self.db.in_transaction:
            return self._save_after_commit(fetched)
        return self._write(fetched, durable)

    def _write(self, fetched: Fetched, durable: bool) -> Path:
        folder = self.trial_dir(fetched.nct_id)
        data = canonical_json_bytes(snapshot_payload(fetched), fetched.plain_numbers)
        ensure_shallow(fetched, data, within=1)  # told from the file's own indented text
        for path in _names(folder, fetched.fetched_at[:10]):
            try:  # never over a file there (a second change today): the next name then
                write_atomic(path, data, exclusive=True, durable=durable, tmp_dir=self.tmp_dir)
                self._written[path] = hashlib.sha256(data).hexdigest()
                self._unsynced = self._unsynced or not durable
                return path
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(
                    f"could not write {path}: {os_reason(exc)}; the previous snapshot is intact"
                ) from None
        raise AssertionError("_names never ends")

    def _save_after_commit(self, fetched: Fetched) -> Path:
        """A baseline: its name chosen now (the transaction holds the store's write lock, so
        no other run names a file meanwhile) and its bytes written to a temp file (on a long
        first run by the writer process, while the run goes on), put in place once the
        transaction has committed (a batch's commit holds no page of bytes) and the file is
        written; the file's times and sha256 go in the state at the run's end (flush_checks)."""
        nct = fetched.nct_id
        folder = self.trial_dir(nct)
        data = canonical_json_bytes(snapshot_payload(fetched), fetched.plain_numbers)
        ensure_shallow(fetched, data, within=1)
        # A folder found missing (a new trial) holds no name yet; one another run makes in
        # the meantime is met when the file is put (FileExistsError below), as for any name.
        new_folder, self._missing = self._missing == nct, ""
        names = _names(folder, fetched.fetched_at[:10])
        path = next(names) if new_folder else next(p for p in names if not os.path.lexists(p))
        name = path.name
        self._deferred[path] = len(data)
        writer = self._writer = self._writer or TempWriter(self.tmp_dir)
        tmp = writer.write(data)
        self._unput.add(tmp)  # removed at the run's end if the transaction rolls back
        del data

        def put() -> None:
            self._deferred.pop(path, None)
            self._unput.discard(tmp)
            try:
                digest = writer.wait(tmp)  # its write, which may have failed since
                try:
                    put_temp(tmp, path, exclusive=True, durable=False, new_folder=new_folder)
                except FileExistsError:  # another run's baseline of the same day, since
                    return
            except OSError as exc:
                reason = f"could not write {path}: {os_reason(exc)}; it is stored on the next run"
                raise NotStoredError({nct: reason}) from None
            self._unsynced = True
            with contextlib.suppress(OSError):
                self._times.append(
                    (os.stat(path).st_mtime_ns, os.stat(folder).st_mtime_ns, digest, nct, name)
                )

        self.db.after_commit(put)
        return path

    def baselines(self, conn: Any, found: Sequence[Fetched]) -> None:
        """First snapshots (see base.Store): the files written, made durable once, then
        the state that points at them (nothing told: no untold baseline to keep)."""
        for f in found:
            path = self._write(f, durable=False)
            self.remember(conn, f.nct_id, latest=path.name, record_digest=None,
                          raw=f.fingerprint, **first_state(f))  # fmt: skip
            self.db.put(conn, f.nct_id, first_check(f))
            self.db.log_line(conn, f.fetched_at, f.nct_id, "new", path.name)
        self.sync_files()

    def flush_checks(self) -> None:
        """The run's checks, and the times of the baselines written after their commit."""
        times, self._times = self._times, []
        if times:
            with self.db.transaction() as conn:
                conn.executemany(
                    "UPDATE trials SET file_mtime = ?, dir_mtime = ?, file_sha256 = ? "
                    "WHERE nct = ? AND latest = ?",
                    times,
                )
        super().flush_checks()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Bookkeeping's batch; once its baselines' files are in place, the disk starts
        writing them on another thread (os.sync gives up the interpreter's lock), while the
        run goes on with its next page: what is left to make durable at the run's end is
        then the last pages' files, not a whole first run's."""
        with super().batch():
            yield
        idle = self._syncing is None or not self._syncing.is_alive()
        if self._unsynced and idle and hasattr(os, "sync"):
            self._unsynced = False  # a file put from now on is the last sync's to write
            self._syncing = threading.Thread(target=os.sync, name="trialwatch-sync", daemon=True)
            self._syncing.start()

    def sync_files(self) -> None:
        """Make the files written without fsync durable: the sync under way finished, and one
        more for those put since it began."""
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            syncing.join()
            if not self._unsynced:  # it began after the last file was put
                return
        if hasattr(os, "sync"):
            os.sync()
        self._unsynced = False

    def remember(
        self,
        conn: Any,
        nct_id: str,
        *,
        latest: str,
        record_digest: str | None,
        raw: str | None,
        status: str | None = None,
        title: str | None = None,
        changed_at: str | None = None,
    ) -> None:
        """Record (inside a transaction) which snapshot is the latest and its digests."""
        folder = self.trial_dir(nct_id)
        path = folder / latest
        fields = latest_fields(latest, record_digest, raw, status, title, changed_at)
        size = self._deferred.get(path)
        if size is not None:  # written after the commit: its times and sha256 come at the end
            fields.update(file_size=size, file_mtime=None, file_sha256=None, dir_mtime=None)
            self.db.put(conn, nct_id, fields)
            return
        try:
            st = os.stat(path)
            dir_mtime = os.stat(folder).st_mtime_ns
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {os_reason(exc)}") from None
        fields.update(
            file_size=st.st_size,
            file_mtime=st.st_mtime_ns,
            file_sha256=self._written.pop(path, None) or _file_sha256(path),
            dir_mtime=dir_mtime,
        )
        self.db.put(conn, nct_id, fields)

    def versions(self) -> VersionStore:
        from trialwatch.store.versions import VersionStore

        return VersionStore(self)

    def queries(self) -> QueryStore:
        from trialwatch.store.queries import QueryStore

        return QueryStore(self.root, self.db)


def _names(folder: Path, day: str) -> Iterator[Path]:
    """A day's snapshot names in the order they are taken: 2026-11-25.json, then _2, _3…"""
    yield folder / f"{day}.json"
    for n in itertools.count(2):
        yield folder / f"{day}_{n}.json"


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _same_file(row: dict[str, Any], path: Path) -> bool:
    """Is path the very file the state describes? Size and mtime first (free); when only the
    mtime moved (a fresh git checkout in CI), the file's hash decides."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if row.get("file_size") != st.st_size:
        return False
    if row.get("file_mtime") == st.st_mtime_ns:
        return True
    recorded = row.get("file_sha256")
    return recorded is not None and recorded == _file_sha256(path)


# -- migration from the layout of trialwatch 0.1 ------------------------------------------------


def _migrate_legacy(store: SnapshotStore) -> None:
    """Stores written by trialwatch 0.1 kept ``state.json`` and ``checks.log`` in every trial
    folder, and ``.run.json`` / ``.lock`` at the top. Their contents move into the state (the
    check logs included), a change stored but not yet reported becomes pending, and the old
    files are removed: once, on first use."""
    if store.db.meta("layout") == 2:
        return
    root = store.root
    with store.db.transaction() as conn:
        if store.db.meta("layout") == 2:
            return
        for nct in store.trials():
            folder = root / nct
            state_path, log_path = folder / "state.json", folder / "checks.log"
            try:
                state = json.loads(state_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                state = {}
            if not isinstance(state, dict):
                state = {}
            files = store.snapshots(nct)
            if state or log_path.exists():
                fields = {
                    k: state.get(k)
                    for k in ("last_checked", "last_changed", "last_error", "status", "title")
                    if isinstance(state.get(k), str)
                }
                fields["last_outcome"] = state.get("last_outcome")
                fields["checks"] = int(state.get("checks") or 0)
                store.db.put(conn, nct, fields)
            try:
                lines = log_path.read_text(encoding="utf-8").splitlines()
            except OSError:
                lines = []
            for line in lines:
                parts = line.split()
                if len(parts) >= 2:
                    snap = parts[2] if len(parts) > 2 and parts[2] != "-" else None
                    conn.execute(
                        "INSERT INTO log (at, nct, outcome, snapshot) VALUES (?, ?, ?, ?)",
                        (parts[0], nct, parts[1], snap),
                    )
            reported = state.get("latest")
            if files and isinstance(reported, str) and reported != files[-1].name:
                # A 0.1 run stored this snapshot and stopped before reporting it: pending for
                # the terminal and for mail (0.1 mailed digests too).
                store.pending.put(nct, "", {"stdout": reported, "mail": reported})
            for old in (state_path, log_path):
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
            remove_temp_files(folder)
        run = root / ".run.json"
        try:
            data = json.loads(run.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            store.db.set_meta("run", data, conn)
        for old in (run, root / ".lock"):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        store.db.set_meta("layout", 2, conn)
