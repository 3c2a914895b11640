"""The registry's versions of a trial, kept beside the snapshots trialwatch took itself.

Layout (documented in the README)::

    snapshots/NCT04280705/
      2026-11-25.json          a snapshot `check` took
      registry/
        index.json             the registry's version index, as last read
        v0000.json             version 0 as the registry serves it, with its provenance
        v0001.json             …

A version file is ``{"format", "provenance": {source, version, date, status, moduleLabels,
url, fetched_at}, "study": …}``: `trialwatch diff` reads it like any snapshot. It is written
once and never edited, so it is kept on one line (sorted keys): three times faster to write
than the indented form of the snapshots `check` keeps for `git diff`. Versions are
written once, atomically, and never replaced (a version of the registry does not change), so a
backfill that stops half-way keeps what it fetched and the next one fetches only the rest."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from trialwatch.changes.normalize import canonical_json, compact_json
from trialwatch.errors import CorruptSnapshotError, StoreError, os_reason
from trialwatch.sanitize import RecordShapeError
from trialwatch.sanitize import loads as safe_loads
from trialwatch.store.atomic import write_atomic

if TYPE_CHECKING:
    from trialwatch.registry.history import HistoryIndex, VersionInfo
    from trialwatch.store.folder import SnapshotStore

VERSION_FORMAT = 1
FOLDER = "registry"
_VERSION = re.compile(r"^v(\d{4,})\.json$")


@dataclass
class StoredVersion:
    version: int
    date: str
    status: str | None
    module_labels: list[str]
    record: dict[str, Any]
    path: PurePath


class VersionStore:
    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def folder(self, nct_id: str) -> Path:
        return self.store.trial_dir(nct_id) / FOLDER

    def numbers(self, nct_id: str) -> set[int]:
        try:
            names = os.listdir(self.folder(nct_id))
        except (FileNotFoundError, NotADirectoryError):
            return set()
        except OSError as exc:
            raise StoreError(f"cannot read {self.folder(nct_id)}: {os_reason(exc)}") from None
        return {int(m.group(1)) for n in names if (m := _VERSION.match(n))}

    def path(self, nct_id: str, number: int) -> Path:
        return self.folder(nct_id) / f"v{number:04d}.json"

    def save(
        self,
        nct_id: str,
        info: VersionInfo,
        study: dict[str, Any],
        url: str,
        fetched_at: str,
    ) -> PurePath:
        payload = version_payload(info, study, url, fetched_at)
        path = self.path(nct_id, info.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(
                path,
                compact_json(payload).encode("utf-8"),
                exclusive=True,
                tmp_dir=self.store.tmp_dir,
            )
        except FileExistsError:
            pass  # stored by an earlier (or a parallel) backfill: versions never change
        except OSError as exc:
            raise StoreError(f"could not write {path}: {os_reason(exc)}") from None
        return path

    def save_index(self, nct_id: str, index: HistoryIndex, fetched_at: str) -> None:
        path = self.folder(nct_id) / "index.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": VERSION_FORMAT, "fetched_at": fetched_at, "history": index.raw}
        try:
            write_atomic(path, canonical_json(payload).encode("utf-8"), tmp_dir=self.store.tmp_dir)
        except OSError as exc:
            raise StoreError(f"could not write {path}: {os_reason(exc)}") from None

    def index(self, nct_id: str) -> HistoryIndex | None:
        from trialwatch.registry.history import HistoryUnavailable, parse_index

        path = self.folder(nct_id) / "index.json"
        try:
            data = safe_loads(path.read_bytes())
            return parse_index(data.get("history") if isinstance(data, dict) else None, nct_id)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecordShapeError, HistoryUnavailable):
            return None  # a damaged index is read again from the registry next time

    def read(self, nct_id: str, number: int) -> StoredVersion:
        path = self.path(nct_id, number)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise CorruptSnapshotError(
                f"{path} cannot be read ({exc}); delete it and run backfill again"
            ) from None
        return self.parse(text, number, path, str(path))

    def key_parts(self, nct_id: str) -> list[str]:
        """What changes when the stored versions do: their names and sizes."""
        parts = []
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(self.folder(nct_id)), key=lambda e: e.name):
                parts.append(f"{entry.name}:{entry.stat().st_size}")
        return parts

    @staticmethod
    def parse(text: str | bytes, number: int, path: PurePath, where: str) -> StoredVersion:
        """A stored version read from its JSON (``where`` names it in messages)."""
        try:
            data = safe_loads(text)
        except (ValueError, RecordShapeError) as exc:
            raise CorruptSnapshotError(
                f"{where} cannot be read ({exc}); delete it and run backfill again"
            ) from None
        prov = data.get("provenance") if isinstance(data, dict) else None
        study = data.get("study") if isinstance(data, dict) else None
        if not isinstance(prov, dict) or not isinstance(study, dict):
            raise CorruptSnapshotError(
                f"{where} is not a stored registry version; delete it and run backfill again"
            )
        labels = prov.get("moduleLabels")
        return StoredVersion(
            version=number,
            date=str(prov.get("date") or ""),
            status=prov.get("status") if isinstance(prov.get("status"), str) else None,
            module_labels=[str(x) for x in labels] if isinstance(labels, list) else [],
            record=study,
            path=path,
        )

    def all(self, nct_id: str) -> list[StoredVersion]:
        return [self.read(nct_id, n) for n in sorted(self.numbers(nct_id))]


def version_payload(
    info: VersionInfo, study: dict[str, Any], url: str, fetched_at: str
) -> dict[str, Any]:
    """A registry version as stored, with where it came from."""
    return {
        "format": VERSION_FORMAT,
        "provenance": provenance(info, url, fetched_at),
        "study": study,
    }


def provenance(info: VersionInfo, url: str, fetched_at: str) -> dict[str, Any]:
    """Where a stored registry version came from."""
    return {
        "source": "registry version history",
        "version": info.version,
        "date": info.date,
        "status": info.status,
        "moduleLabels": list(info.module_labels),
        "url": url,
        "fetched_at": fetched_at,
    }
