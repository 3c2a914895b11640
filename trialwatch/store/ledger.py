"""Which transparency signals each output was last told about, per trial, so that ``check``
says a signal once when it starts and once when it stops. Kept in the state database: losing it
costs only a repeat of the signals in force."""

from __future__ import annotations

import json
from collections.abc import Iterable

from trialwatch.store.state import StateTables

_PREFIX = "signals:"
_NEXT = "signals-next:"


class SignalLedger:
    def __init__(self, db: StateTables) -> None:
        self.db = db

    def told(self, output: str) -> dict[str, frozenset[str]]:
        """Per trial, the signal keys ``output`` was last told were in force (one shared set
        for the trials told the same keys: a long list's run holds them all)."""
        like = f"{_PREFIX}{output}:%"
        try:
            rows = self.db.conn.execute(
                "SELECT key, value FROM meta WHERE key LIKE ?", (like,)
            ).fetchall()
        except self.db.errors:
            return {}
        found: dict[str, frozenset[str]] = {}
        shared: dict[frozenset[str], frozenset[str]] = {}
        start = len(_PREFIX) + len(output) + 1
        for key, value in rows:
            try:
                keys = json.loads(value)
            except ValueError:
                continue
            if isinstance(keys, list):
                told = frozenset(str(k) for k in keys)
                found[str(key)[start:]] = shared.setdefault(told, told)
        return found

    def tell(self, output: str, told: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Record what ``output`` has now been told, in one transaction."""
        with self.db.transaction() as conn:
            for nct, keys in told:
                self.db.set_meta(f"{_PREFIX}{output}:{nct}", sorted(keys), conn)

    def next_days(self) -> dict[str, str | None]:
        """Per trial, the next day its signals could change with the calendar alone."""
        try:
            rows = self.db.conn.execute(
                "SELECT key, value FROM meta WHERE key LIKE ?", (f"{_NEXT}%",)
            ).fetchall()
        except self.db.errors:
            return {}
        out: dict[str, str | None] = {}
        days: dict[str, str] = {}
        for key, value in rows:
            try:
                day = json.loads(value)
            except ValueError:
                continue
            # One string a day: a long list's trials share a few hundred days.
            shared = days.setdefault(day, day) if isinstance(day, str) else None
            out[str(key)[len(_NEXT) :]] = shared
        return out

    def set_next_days(self, days: Iterable[tuple[str, str | None]]) -> None:
        with self.db.transaction() as conn:
            for nct, day in days:
                self.db.set_meta(f"{_NEXT}{nct}", day, conn)
