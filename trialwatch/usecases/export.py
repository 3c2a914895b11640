"""trialwatch export: every change as a dataset (export/dataset.py)."""

from __future__ import annotations

from pathlib import Path

from trialwatch.config import Settings
from trialwatch.export.dataset import Exported, export
from trialwatch.store.open import open_store


def run_export(out: Path, settings: Settings, fmt: str, since: str | None) -> Exported:
    store = open_store(settings.store)
    try:
        return export(store, out, fmt, since)
    finally:
        store.close()
