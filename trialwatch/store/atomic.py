"""Files written so that a crash at any moment leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# New files get the permissions any other program's would (0666 less the umask), not the 0600
# that temporary files are created with.
FILE_MODE = 0o666 & ~_current_umask()


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
    that can be rebuilt.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    where = tmp_dir or folder
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=where)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(
                os, "fchmod"
            ):  # Windows has it only from Python 3.13; modes mean little there
                os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if path exists; atomic on POSIX
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(folder)


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
