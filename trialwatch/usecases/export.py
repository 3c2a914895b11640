"""trialwatch export: every change as a dataset (export/dataset.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trialwatch.config import load_settings
from trialwatch.export.dataset import Exported, export
from trialwatch.store.open import open_store


def run_export(
    out: Path, flags: dict[str, Any], config: str | None, fmt: str, since: str | None
) -> Exported:
    settings = load_settings(flags, config)
    store = open_store(settings.store)
    try:
        return export(store, out, fmt, since)
    finally:
        store.close()
