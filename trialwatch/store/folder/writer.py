"""Temp files written by a process of their own, on the second core, while the run goes on.

A first run of a long watch list makes a file for every trial; the kernel's part of making one
(the file's inode, its bytes copied into the page cache) is a third of what a new trial costs
the run. Handed to a small writer process, that part runs beside the reading and comparing of
the next records. The bytes go through memory both processes map (a ring, reused): through
the pipe itself they cost the run half what the write did, and a thread would share the
interpreter's lock (measured: its hand-offs cost more than the writes they moved). The pipe
carries only where each file's bytes are and, back, which are written.

The files are temp files (atomic.py): nothing reads one until it is put in place, and the one
who puts it waits for its write first, so a write that failed is met there, as a write made at
once would have been. A run's first baselines are written at once (a small run starts no
process); where the writer cannot start (not Linux, or an interpreter that does not run it and
so never says it is ready) or dies, the run writes its files itself."""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from trialwatch.store.atomic import temp_path, write_to

# Baselines a run writes itself before it starts a writer process (about 15 ms to start).
START_AFTER = 32
# The ring's size: records waiting to be written, at most (a larger one is written at once).
RING_BYTES = 8 << 20
# Files told to the writer at once: waking another process costs the run tens of
# microseconds in a virtual machine, more than telling it a file.
TELL_EVERY = 16

_HEAD = struct.Struct("<HQQ")  # the temp file's name's length; the bytes' offset and length

# The writer: reads (name, offset, length) from stdin, writes the ring's bytes there as a new
# file, and answers a line a file on stdout, in order: "0" or the errno, the name, the bytes'
# sha256 (the state keeps it: a checkout that moves the file's time is told by it); ends
# at the end of its input, or at a name that is not a temp file of the folder it was given.
# An interrupt (Ctrl-C reaches the whole process group) is the run's to handle, not its own.
# It makes a file as atomic.write_to does, written out here: it imports nothing of trialwatch
# (isolated, without site-packages) so that it starts in milliseconds.
_CHILD = r"""
import hashlib, mmap, os, signal, struct, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
ring = memoryview(mmap.mmap(int(sys.argv[1]), int(sys.argv[2])))
where = os.fsencode(sys.argv[3]) + b"/.tmp-"
head = struct.Struct("<HQQ")
src = sys.stdin.buffer.raw
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

def take(n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = src.readinto(view[got:])
        if not k:
            return None
        got += k
    return bytes(buf)

os.write(1, b"ready\n")
while (top := take(head.size)) is not None:
    size, start, length = head.unpack(top)
    name = take(size)
    if name is None or not name.startswith(where) or not name.endswith(b".part"):
        break  # the end, or not a message of the run's: nothing more is written
    code, digest = 0, b""
    try:
        try:
            fd = os.open(name, flags, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(name), exist_ok=True)
            fd = os.open(name, flags, 0o666)
        try:
            view = ring[start:start + length]
            digest = hashlib.sha256(view).hexdigest().encode()
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except OSError as exc:
        code = exc.errno or -1
        try:
            os.unlink(name)
        except OSError:
            pass
    os.write(1, b"%d\t%s\t%s\n" % (code, name, digest))
"""


class TempWriter:
    """Writes temp files in ``where``: ``write`` returns the temp file's name at once;
    ``wait`` returns the bytes' sha256 once that file is written, raising the OSError its
    write met."""

    def __init__(
        self, where: Path, start_after: int | None = None, ring_bytes: int = RING_BYTES
    ) -> None:
        self.where = Path(os.path.abspath(where))  # the writer's folder need not be the same
        self.start_after = START_AFTER if start_after is None else start_after
        self.ring_bytes = ring_bytes
        self._written = 0  # files written by this process itself
        self._child: subprocess.Popen[bytes] | None = None
        self._ring: Any = None  # the memory both map (an mmap)
        self._gone = not sys.platform.startswith("linux")  # memfd_create is Linux's
        # Handed to the writer, no answer yet, in order: name, where its bytes are, how many.
        self._spans: collections.deque[tuple[str, int, int]] = collections.deque()
        self._open: set[str] = set()
        self._head = 0  # where the next bytes go in the ring
        self._untold: list[bytes] = []  # files in the ring the writer is not told of yet
        self._failed: dict[str, OSError] = {}
        self._digests: dict[str, str] = {}  # of the files written, until waited for
        self._answers = b""  # the start of an answer line not read whole yet

    def write(self, data: bytes) -> str:
        """``data`` in a new temp file: its name, at once."""
        tmp = temp_path(self.where)
        if len(data) <= self.ring_bytes // 2 and self._writer() is not None:
            start = self._room(len(data))
            if start is not None:
                self._ring[start : start + len(data)] = data
                name = tmp.encode()
                self._untold.append(_HEAD.pack(len(name), start, len(data)) + name)
                self._spans.append((tmp, start, len(data)))
                self._open.add(tmp)
                self._head = start + len(data)
                if len(self._untold) >= TELL_EVERY:
                    self._tell()
                    self._read_answers(block=False)
                return tmp
        try:
            write_to(tmp, data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._failed[tmp] = exc
        else:
            self._digests[tmp] = hashlib.sha256(data).hexdigest()
        self._written += 1
        return tmp

    def wait(self, tmp: str) -> str:
        """The sha256 of ``tmp``'s bytes, once it is written; the OSError its write met,
        raised here."""
        while tmp in self._open:
            if self._child is None:
                self._lost()
            else:
                self._tell()
                self._read_answers(block=True)
        failed = self._failed.pop(tmp, None)
        if failed is not None:
            raise failed
        return self._digests.pop(tmp)

    def close(self) -> None:
        """Every file handed over written (or failed); the writer process ends."""
        child = self._child
        if child is None:
            return
        self._tell()
        with contextlib.suppress(OSError):
            child.stdin.close()  # type: ignore[union-attr]
        while self._open and self._child is not None:
            self._read_answers(block=True)
        self._stop()

    # -- the writer process -----------------------------------------------------------------

    def _writer(self) -> subprocess.Popen[bytes] | None:
        if self._child is not None or self._gone or self._written < self.start_after:
            return self._child
        import fcntl
        import mmap

        try:
            fd = os.memfd_create("trialwatch-ring")
            try:
                os.ftruncate(fd, self.ring_bytes)
                self._ring = mmap.mmap(fd, self.ring_bytes)
                argv = (str(fd), str(self.ring_bytes), str(self.where))
                child = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _CHILD, *argv],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,  # one that fails is said as the files it failed
                    bufsize=0,
                    pass_fds=(fd,),
                )
            finally:
                os.close(fd)
        except (OSError, AttributeError):  # AttributeError: no memfd_create in this Python
            self._gone, self._ring = True, None
            return None
        assert child.stdout is not None
        if not _ready(child.stdout.fileno()):  # not a Python that runs it (a frozen build)
            self._child = child
            self._stop(kill=True)
            self._gone = True
            return None
        with contextlib.suppress(OSError):  # answers never wait for the run to read them
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(child.stdout.fileno(), False)
        self._child = child
        return child

    def _room(self, n: int) -> int | None:
        """Where ``n`` bytes go in the ring, once there is room (None: the writer is gone).
        In use: from the oldest unanswered span's start to the head, around the end."""
        while self._child is not None:
            if not self._spans:
                return 0
            first, head = self._spans[0][1], self._head
            if head > first:  # in use: first..head; free: head..end and 0..first
                if self.ring_bytes - head >= n:
                    return head
                if first >= n:
                    return 0
            elif first - head >= n:  # in use: first..end and 0..head
                return head
            self._tell()
            self._read_answers(block=True)
        return None

    def _tell(self) -> None:
        """The writer told of the files put in the ring since it was last told."""
        child = self._child
        if not self._untold or child is None:
            return
        message = memoryview(b"".join(self._untold))
        self._untold.clear()
        try:
            while message:
                message = message[os.write(child.stdin.fileno(), message) :]  # type: ignore[union-attr]
        except OSError:  # the writer died: its files failed, the run writes the next ones
            self._lost()
        except BaseException:  # interrupted part way: the writer must not read half a message
            self._lost()
            raise

    def _read_answers(self, *, block: bool) -> None:
        child = self._child
        if child is None:
            return
        fd = child.stdout.fileno()  # type: ignore[union-attr]
        if block:
            import select

            select.select([fd], [], [])
        try:
            got = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            got = b""
        if not got:  # the writer ended: what it had not answered was not written
            self._lost()
            return
        lines = (self._answers + got).split(b"\n")
        self._answers = lines.pop()
        for line in lines:
            code, name, digest = line.split(b"\t")
            tmp = name.decode()
            while self._spans and self._spans.popleft()[0] != tmp:
                pass
            self._open.discard(tmp)
            if code == b"0":
                self._digests[tmp] = digest.decode()
            else:
                number = int(code)
                self._failed[tmp] = OSError(number, os.strerror(number), tmp)

    def _lost(self) -> None:
        """The writer is gone: the files it had not answered for failed; no other starts."""
        self._gone = True
        for tmp in self._open:
            self._failed[tmp] = OSError(errno.EIO, "the writer process ended", tmp)
        self._open.clear()
        self._spans.clear()
        self._stop(kill=True)

    def _stop(self, kill: bool = False) -> None:
        child, self._child = self._child, None
        if child is not None:
            for pipe in (child.stdin, child.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()  # type: ignore[union-attr]
            if kill:
                with contextlib.suppress(OSError):
                    child.kill()
            child.wait()
        ring, self._ring = self._ring, None
        if ring is not None:
            ring.close()
        self._spans.clear()
        self._untold.clear()
        self._head = 0


def _ready(fd: int, seconds: float = 10.0) -> bool:
    """Did the writer say it is ready (its first line) within ``seconds``? Before it is handed
    a file: one that never starts costs the run nothing but the wait."""
    import select
    import time

    said, deadline = b"", time.monotonic() + seconds
    while not said.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        try:
            part = os.read(fd, 64)
        except OSError:
            return False
        if not part:
            return False
        said += part
    return said == b"ready\n"
