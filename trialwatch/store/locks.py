"""Exclusive locks on open files that work on POSIX (``flock``) and Windows (portalocker, the
library made for it), for the store's run registry and the watch-list editor. A lock is held for
as long as its file stays open in the process that took it, and a process that dies (even by
kill -9) lets it go."""

from __future__ import annotations

import errno
import os
import time
from typing import IO, Any

_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}


def try_lock(handle: IO[Any] | int) -> bool:
    """Take an exclusive lock on an open file (or, on POSIX, any descriptor, a folder's
    included) without waiting: False when another process holds it. OSError for anything
    else."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows (.github/workflows/tests.yml)
        import portalocker

        assert not isinstance(handle, int), "Windows locks open files, not descriptors"
        try:
            portalocker.lock(handle, portalocker.LOCK_EX | portalocker.LOCK_NB)
        except portalocker.exceptions.LockException:
            return False
        return True
    import fcntl

    fd = handle if isinstance(handle, int) else handle.fileno()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        raise
    return True


def lock(handle: IO[Any] | int, timeout: float = 60.0) -> None:
    """Take an exclusive lock, waiting up to ``timeout`` seconds (TimeoutError after)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not try_lock(handle):
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"{getattr(handle, 'name', 'a file')} stayed locked for {timeout:g}s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
