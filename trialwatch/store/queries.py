"""The members of each search watch, as last seen: ``<store>/queries/<id>.json``, one sorted
file per query, written atomically and only when the membership changed (so git shows when a
query gained or lost a trial). What each output was told lives in the state database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from trialwatch.errors import StoreError
from trialwatch.search.query import Query
from trialwatch.store.atomic import write_atomic
from trialwatch.store.state import StateTables, temp_dir

FOLDER = "queries"
_TOLD = "query:"


# One row per trial joining or leaving a search; ``batch`` tells one check's news from the
# next one's even within the same second.
_LOG_TABLE = (
    "CREATE TABLE IF NOT EXISTS query_log "
    "(query TEXT, at TEXT, nct TEXT, change TEXT, batch INTEGER)"
)


class QueryStore:
    def __init__(self, root: Path, db: StateTables) -> None:
        self.folder = Path(root) / FOLDER
        self.db = db

    def path(self, query_id: str) -> Path:
        if not query_id.isalnum():  # ids are ours ("q" + hex); never a path from outside
            raise StoreError(f"not a query id: {query_id!r}")
        return self.folder / f"{query_id}.json"

    def members(self, query_id: str) -> set[str] | None:
        """The members last seen, or None for a query never checked."""
        path = self.path(query_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None
        return self.parse_members(text, str(path))

    @staticmethod
    def parse_members(text: str, where: str) -> set[str]:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StoreError(
                f"{where} is damaged ({exc}); move it aside and check again (the query's next "
                "check is then its first)"
            ) from None
        found = data.get("members") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise StoreError(f"{where} holds no member list; move it aside and check again")
        return {str(n) for n in found}

    def save(self, query: Query, members: set[str], at: str | None = None) -> None:
        """Store a search's members, and log who joined and who left (``at``: when they were
        read) so that the site can say since when each trial is a member."""
        before = self.members(query.id)
        if before == members:
            return
        if at is not None:
            self.log_membership(
                query.id, at, members - (before or set()), (before or set()) - members
            )
        body: dict[str, Any] = {
            "query": query.to_toml(),
            "id": query.id,
            "members": sorted(members),
        }
        self.write(query, (json.dumps(body, indent=1) + "\n").encode())

    def write(self, query: Query, body: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(
            self.path(query.id),
            body,
            tmp_dir=temp_dir(self.folder.parent),  # never a stray file in git
        )

    def log_membership(self, query_id: str, at: str, joined: set[str], left: set[str]) -> None:
        batch = time.time_ns()
        rows = [(query_id, at, n, "joined", batch) for n in sorted(joined)]
        rows += [(query_id, at, n, "left", batch) for n in sorted(left)]
        if not rows:
            return
        try:
            with self.db.transaction() as conn:
                conn.execute(_LOG_TABLE)
                conn.executemany(
                    "INSERT INTO query_log (query, at, nct, change, batch) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        except self.db.errors as exc:
            raise StoreError(f"could not log a search's members: {exc}") from None

    def membership_log(self, query_id: str) -> list[tuple[str, str, str, int]]:
        """(when, trial, "joined" or "left", batch) for a search, oldest first; empty for
        stores from before the log (0.5)."""
        try:
            self.db.conn.execute(_LOG_TABLE)
            cur = self.db.conn.execute(
                "SELECT at, nct, change, batch FROM query_log WHERE query = ? "
                "ORDER BY batch, rowid",
                (query_id,),
            )
            return [(str(a), str(n), str(c), int(b or 0)) for a, n, c, b in cur]
        except self.db.errors as exc:
            raise StoreError(f"cannot read a search's member log: {exc}") from None

    def told(self, query_id: str, output: str) -> set[str] | None:
        value = self.db.meta(f"{_TOLD}{query_id}:{output}")
        return {str(n) for n in value} if isinstance(value, list) else None

    def tell(self, told: list[tuple[str, str, set[str]]]) -> None:
        """Record what outputs were told: (query id, output, members)."""
        if not told:
            return
        try:
            with self.db.transaction() as conn:
                for query_id, output, members in told:
                    self.db.set_meta(f"{_TOLD}{query_id}:{output}", sorted(members), conn)
        except self.db.errors as exc:
            raise StoreError(f"could not record what was reported: {exc}") from None
