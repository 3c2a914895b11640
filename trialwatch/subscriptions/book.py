"""Where subscriptions are kept: the config's ``[[subscription]]`` tables, and those added by
``trialwatch subscription add``, kept by the store so that everyone using it shares them — in a
database (PostgreSQL, memory:) in its state, in a folder as ``subscriptions.toml`` beside the
snapshots (a file git shows, never lost with the rebuildable state). The two are merged by name;
the config's wins."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from trialwatch.errors import InputError, StoreError
from trialwatch.store.atomic import write_atomic
from trialwatch.store.port import Store
from trialwatch.subscriptions.model import Subscription, parse, parse_all

FILE = "subscriptions.toml"
META = "subscriptions"


def _file(store: Store) -> Path | None:
    folder = store.folder
    return None if folder is None else Path(folder) / FILE


def stored(store: Store) -> list[Subscription]:
    """The subscriptions added by command, as the store keeps them."""
    path = _file(store)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StoreError(f"cannot read {path} ({exc}); mend it or move it aside") from None
        return parse_all(data.get("subscription", []), str(path), "store")
    tables = store.meta(META)
    if not isinstance(tables, dict):
        return []
    return [parse(t, f"{store.label}: subscription", "store") for _, t in sorted(tables.items())]


def _save(store: Store, subs: list[Subscription]) -> None:
    path = _file(store)
    if path is not None:
        import tomli_w

        text = (
            "# Subscriptions added by `trialwatch subscription add` (edit with care; the "
            "config's [[subscription]] tables are read too).\n"
            + tomli_w.dumps({"subscription": [s.to_toml() for s in subs]})
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
        return
    with store.unit(key=META) as unit:
        unit.set_meta(META, {s.name: s.to_toml() for s in subs})


def every_subscription(config_entries: Any, store: Store, where: str) -> list[Subscription]:
    """The config's and the store's, merged by name (the config's wins), by name."""
    mine = parse_all(config_entries, where) if config_entries else []
    names = {s.name for s in mine}
    return sorted([*mine, *(s for s in stored(store) if s.name not in names)], key=lambda s: s.name)


def add(store: Store, sub: Subscription, config_names: set[str]) -> None:
    if sub.name in config_names:
        raise InputError(
            f"subscription {sub.name!r} is written in the config; edit it there, or pick "
            "another name"
        )
    kept = [s for s in stored(store) if s.name != sub.name]
    _save(store, [*kept, sub])


def remove(store: Store, name: str, config_names: set[str]) -> Subscription:
    kept = stored(store)
    found = next((s for s in kept if s.name == name), None)
    if found is None:
        where = (
            "is written in the config: remove it there"
            if name in config_names
            else ("is not a subscription (trialwatch subscription list)")
        )
        raise InputError(f"{name!r} {where}")
    _save(store, [s for s in kept if s.name != name])
    return found
