"""A throwaway copy of a store, for ``check --dry-run``: the check runs against it exactly as it
would against the store, and nothing of the store itself changes.

Snapshot, pending, query and version files are never changed in place (every write makes a
new file and renames it), so the copy links them (no data copied) where the file system
allows, and copies them where it does not; the state database, which SQLite changes in place,
is always copied. The copy lives inside the store's own bookkeeping folder (the same file system,
so links work) and is removed afterwards; one a killed preview left is removed by the next."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from trialwatch.errors import StoreError, os_reason
from trialwatch.store.state import BOOKKEEPING, bookkeeping_dir

PREFIX = "preview-"
# A preview older than this was left by a process that died.
STALE_SECONDS = 3600.0


@contextlib.contextmanager
def preview_copy(root: Path) -> Iterator[Path]:
    """A copy of the store at ``root`` that the caller may change freely, removed on exit."""
    root = Path(root)
    book = bookkeeping_dir(root)
    _tidy(book)
    where = book / f"{PREFIX}{os.getpid()}-{time.time_ns()}"
    try:
        where.mkdir(parents=True)
        if root.is_dir():
            _link_tree(root, where, skip={BOOKKEEPING})
            if book.is_dir():
                _link_tree(
                    book, where / BOOKKEEPING, skip={"state.db", "runs", "tmp"}, prefix=PREFIX
                )
                _copy_state(book / "state.db", where / BOOKKEEPING / "state.db")
    except OSError as exc:
        shutil.rmtree(where, ignore_errors=True)
        raise StoreError(f"cannot make a preview copy of {root}: {os_reason(exc)}") from None
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _link_tree(src: Path, dst: Path, skip: set[str], prefix: str | None = None) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(src):
        if entry.name in skip or (prefix and entry.name.startswith(prefix)):
            continue
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            _link_tree(Path(entry.path), target, set())
        elif entry.is_file(follow_symlinks=False):
            try:
                os.link(entry.path, target)
            except OSError:
                shutil.copy2(entry.path, target)


def _copy_state(src: Path, dst: Path) -> None:
    """The state database, copied consistently even while another run writes it."""
    if not src.exists():
        return
    try:
        with (
            contextlib.closing(sqlite3.connect(src)) as a,
            contextlib.closing(sqlite3.connect(dst)) as b,
        ):
            a.backup(b)
    except sqlite3.Error:
        with contextlib.suppress(OSError):
            dst.unlink()  # an unreadable state is rebuilt from the snapshots in the copy


def _tidy(book: Path) -> None:
    try:
        names = os.listdir(book)
    except OSError:
        return
    cutoff = time.time() - STALE_SECONDS
    for name in names:
        path = book / name
        if name.startswith(PREFIX):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
