"""Files written so that a crash at any moment leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import time
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0)


_names = itertools.count()
_tag = ("", -1)  # this process's part of its temp file names, and the process it is for


def _temp_name() -> str:
    """A temp file name no other process makes: the process's id and a random tag (drawn once
    a process: a first run names thousands), then a count."""
    global _tag
    pid = os.getpid()
    if _tag[1] != pid:  # a new process (or a fork): a new tag
        _tag = (f"{pid}-{secrets.token_hex(4)}", pid)
    return f".tmp-{_tag[0]}-{next(_names)}.part"


def _temp_file(where: Path) -> tuple[int, str]:
    """A new temp file in ``where`` (made when missing), opened for writing: its descriptor
    and its name. Created with the permissions any other program's file gets (0666 less the
    umask), so no chmod follows."""
    for _attempt in range(100):
        name = os.path.join(where, _temp_name())
        try:
            return os.open(name, _OPEN_FLAGS, 0o666), name
        except FileExistsError:
            continue
        except FileNotFoundError:
            where.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"no free temp file name in {where}")


def write_atomic(
    path: Path,
    data: bytes,
    *,
    exclusive: bool = False,
    durable: bool = True,
    tmp_dir: Path | None = None,
) -> None:
    """Write data to path via a temp file, fsync, then rename.

    The temp file is made in ``tmp_dir`` (same file system; default: path's folder), so a crash
    never leaves a stray file beside the real ones. With ``exclusive`` an existing file is never
    replaced (FileExistsError instead). Without ``durable`` the fsyncs are skipped: for files
    that can be rebuilt. Folders are made when missing (looked for only then: a write to a
    folder that exists costs no extra call).
    """
    tmp = write_temp(data, tmp_dir or path.parent, durable=durable)
    put_temp(tmp, path, exclusive=exclusive, durable=durable)


def temp_path(where: Path) -> str:
    """The name of a new temp file in ``where``, for write_to (nothing made yet)."""
    return os.path.join(where, _temp_name())


def write_to(tmp: str, data: bytes) -> None:
    """data in the new temp file ``tmp`` (temp_path; its folder made when missing), not synced:
    for put_temp. A partial file is left to the caller to remove."""
    try:
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_temp(data: bytes, where: Path, *, durable: bool = False) -> str:
    """data in a new temp file in ``where`` (made when missing): its name, for put_temp. A
    temp file nobody put is never read, and is tidied (remove_temp_files)."""
    fd, tmp = _temp_file(where)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def put_temp(
    tmp: str, path: Path, *, exclusive: bool = False, durable: bool = True, new_folder: bool = False
) -> None:
    """A temp file (write_temp) put in its place as ``path`` (its folder made when missing,
    first when the caller knows it is ``new_folder``), at once: a reader sees the whole file
    or none. With ``exclusive`` an existing file is never replaced (FileExistsError, and the
    temp file is removed)."""
    folder = path.parent
    try:
        if new_folder:
            folder.mkdir(parents=True, exist_ok=True)
        try:
            _put(tmp, path, exclusive)
        except FileNotFoundError:  # the folder is new
            folder.mkdir(parents=True, exist_ok=True)
            _put(tmp, path, exclusive)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(folder)


def _put(tmp: str, path: Path, exclusive: bool) -> None:
    if exclusive:
        os.link(tmp, path)  # fails if path exists; atomic on POSIX
        os.unlink(tmp)
    else:
        os.replace(tmp, path)


# A temp file older than this was left by a process that died (a write takes milliseconds);
# a younger one may be another run's write under way, and is left alone.
STALE_TEMP_SECONDS = 15 * 60


def remove_temp_files(folder: Path, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Temp files a killed process left behind are never read; tidy those older than
    ``older_than`` seconds. Returns how many were removed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for name in names:
        if name.startswith(".tmp-") and name.endswith(".part"):
            with contextlib.suppress(OSError):
                if os.stat(folder / name).st_mtime <= cutoff:
                    os.unlink(folder / name)
                    removed += 1
    return removed
