"""The watched-trials list.

Trials are listed in two places, both read by ``trialwatch check``:

- ``watchlist.toml`` (the ``watchlist`` setting, beside the config file by default): written
  only by ``trialwatch watch add/remove``, atomically, with tomli-w. It holds nothing else, so
  rewriting it loses no comment of yours.
- ``trials = [...]`` in your hand-written config: read, never written.

The watch list also keeps search watches: ``[[queries]]`` tables with a ``label`` and the
search's API ``params``.

On PostgreSQL the list lives in the store itself, so that every
member of a team, whatever folder they run in, sees one watch list (``StoreList``), unless the
``watchlist`` setting names a file. A local ``watchlist.toml`` found the first time the store's
list is written is taken into it.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from trialwatch.errors import ConfigError, InputError
from trialwatch.ids import normalize_nct_id
from trialwatch.search.query import Query, from_toml
from trialwatch.store.atomic import write_atomic
from trialwatch.store.locks import lock

HEADER = (
    "# Watched trials, written by `trialwatch watch add` and `trialwatch watch remove`.\n"
    "# Edit by hand if you like (one { id, label, note } entry per trial); comments here are not\n"
    "# kept when trialwatch rewrites the file. Keep your own notes in trialwatch.toml.\n\n"
)


@dataclass
class Watched:
    nct_id: str
    label: str | None = None
    note: str | None = None
    source: str = ""

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.nct_id}
        if self.label:
            out["label"] = self.label
        if self.note:
            out["note"] = self.note
        return out


def parse_entries(entries: Any, where: str) -> list[Watched]:
    """Entries of a ``trials`` list: ids, or tables with id, label and note."""
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: trials must be a list")
    out: list[Watched] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ConfigError(f"{where}: trials entry {n} must be an id or a table with id = …")
        unknown = set(entry) - {"id", "label", "note"}
        if unknown:
            raise ConfigError(
                f"{where}: trials entry {n} has unknown key(s) "
                f"{', '.join(sorted(unknown))}; use id, label, note"
            )
        for key in ("label", "note"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f"{where}: trials entry {n}: {key} must be a string")
        try:
            nct = normalize_nct_id(entry["id"])
        except InputError as exc:
            raise ConfigError(f"{where}: trials entry {n}: {exc}") from None
        if nct in seen:
            continue
        seen.add(nct)
        out.append(Watched(nct, entry.get("label"), entry.get("note"), where))
    return out


@dataclass(frozen=True)
class StoreList:
    """The watch list kept by a database store (its state's ``watchlist``), and the local file
    it takes in once (what a member listed before the list moved into the store)."""

    spec: str
    file: Path

    def __str__(self) -> str:
        import re

        # The store's URL without its password, as messages name it.
        return "the watch list kept in " + re.sub(r"//([^:/@]+):[^@]*@", r"//\1@", self.spec)


KEY = "watchlist"
Where = Path | StoreList


def _read(path: Where) -> dict[str, Any]:
    if isinstance(path, StoreList):
        from trialwatch.store.open import open_store

        store = open_store(path.spec)
        try:
            data = store.meta(KEY)
        finally:
            store.close()
        return _checked(data, str(path)) if isinstance(data, dict) else _read(path.file)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"watch list {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read watch list {path}: {exc}") from None
    return _checked(data, str(path))


def _checked(data: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(data) - {"trials", "queries"}
    if unknown:
        raise ConfigError(f"watch list {where}: unknown key(s) {', '.join(sorted(unknown))}")
    return data


def load_watchlist(path: Where) -> list[Watched]:
    return parse_entries(_read(path).get("trials", []), str(path))


def load_queries(path: Where) -> list[Query]:
    """The search watches in the watch list."""
    return _queries_of(_read(path), str(path))


def _queries_of(data: dict[str, Any], where: str) -> list[Query]:
    entries = data.get("queries", [])
    if not isinstance(entries, list):
        raise ConfigError(f"watch list {where}: queries must be a list of tables")
    out: list[Query] = []
    for n, entry in enumerate(entries, 1):
        try:
            query = from_toml(entry, f"watch list {where}, query {n}")
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if all(q.id != query.id for q in out):
            out.append(query)
    return out


def _data(items: list[Watched], queries: list[Query]) -> dict[str, Any]:
    data: dict[str, Any] = {"trials": [w.to_toml() for w in items]}
    if queries:
        data["queries"] = [q.to_toml() for q in queries]
    return data


def save_watchlist(path: Path, items: list[Watched], queries: list[Query] | None = None) -> None:
    if queries is None:
        queries = load_queries(path)
    write_atomic(path, (HEADER + tomli_w.dumps(_data(items, queries))).encode("utf-8"))


Edit = Any  # (trials, queries) -> (trials, queries)


def _modify(path: Where, edit: Edit) -> None:
    """Read, edit and write the list as one step: under the list folder's lock for a file,
    in one transaction holding the list's lock for a store."""
    if isinstance(path, StoreList):
        from trialwatch.store.open import open_store

        store = open_store(path.spec)
        try:
            with store.unit(key=KEY) as unit:
                data = unit.meta(KEY)
                if not isinstance(data, dict):
                    data = _read(path.file)  # the first write takes a local list in
                where = str(path)
                items = parse_entries(_checked(data, where).get("trials", []), where)
                queries = _queries_of(data, where)
                items, queries = edit(items, queries)
                unit.set_meta(KEY, _data(items, queries))
        finally:
            store.close()
        return
    with _editing(path):
        items, queries = edit(load_watchlist(path), load_queries(path))
        save_watchlist(path, items, queries)


def add_query(path: Where, query: Query) -> Query:
    def edit(items: list[Watched], queries: list[Query]) -> tuple[list[Watched], list[Query]]:
        same = next((q for q in queries if q.id == query.id), None)
        if same is not None:
            raise InputError(f"this query is already watched, as {same.name!r}")
        if query.label and any(q.label == query.label for q in queries):
            raise InputError(f"a query is already labelled {query.label!r}; choose another label")
        return items, [*queries, query]

    _modify(path, edit)
    return query


def remove_query(path: Where, which: str) -> Query:
    """Stop watching the query with this label or id."""
    found: list[Query] = []

    def edit(items: list[Watched], queries: list[Query]) -> tuple[list[Watched], list[Query]]:
        found.extend(q for q in queries if which in (q.label, q.id))
        if not found:
            known = ", ".join(repr(q.label or q.id) for q in queries) or "none"
            raise InputError(f"no watched query has the label or id {which!r} (watched: {known})")
        return items, [q for q in queries if q not in found]

    _modify(path, edit)
    return found[0]


@contextlib.contextmanager
def _editing(path: Path) -> Iterator[None]:
    """One editor of the watch list at a time (two `watch add` at once must not lose one).
    The lock is on the list's folder, so no lock file is left beside it."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":  # pragma: no cover - a folder cannot be opened there: a lock file
        with open(folder / f".{path.name}.lock", "a+", encoding="utf-8") as handle:
            lock(handle)
            yield
        return
    fd = os.open(folder, os.O_RDONLY)  # the folder itself: no lock file left beside the list
    try:
        lock(fd)
        yield
    finally:
        os.close(fd)


def add(
    path: Where, raw_id: str, label: str | None, note: str | None, also_in_config: list[Watched]
) -> Watched:
    nct = normalize_nct_id(raw_id)
    if any(w.nct_id == nct for w in also_in_config):
        raise InputError(f"{nct} is already watched (listed in your config file)")
    watched = Watched(nct, label, note, str(path))

    def edit(items: list[Watched], queries: list[Query]) -> tuple[list[Watched], list[Query]]:
        if any(w.nct_id == nct for w in items):
            raise InputError(f"{nct} is already watched (in {path})")
        return [*items, watched], queries

    _modify(path, edit)
    return watched


def remove(path: Where, raw_id: str, also_in_config: list[Watched]) -> Watched:
    nct = normalize_nct_id(raw_id)
    gone: list[Watched] = []

    def edit(items: list[Watched], queries: list[Query]) -> tuple[list[Watched], list[Query]]:
        gone.extend(w for w in items if w.nct_id == nct)
        if not gone:
            if any(w.nct_id == nct for w in also_in_config):
                raise InputError(f"{nct} is listed in your config file's trials; remove it there")
            raise InputError(f"{nct} is not watched")
        return [w for w in items if w.nct_id != nct], queries

    _modify(path, edit)
    return gone[0]


def watched_trials(watchlist: Where, config_trials: list[Watched]) -> list[Watched]:
    """Every watched trial, config first, each id once."""
    out: list[Watched] = []
    seen: set[str] = set()
    for w in [*config_trials, *load_watchlist(watchlist)]:
        if w.nct_id not in seen:
            seen.add(w.nct_id)
            out.append(w)
    return out
