"""One request pace for every worker of a store: the next free moment to ask the registry is a
row of ``pacer``, taken and moved on in a short transaction before each request (the row lock is
held for the update only, never during the request). On PostgreSQL the database's clock decides,
so workers on machines whose clocks differ still keep the pace; four workers at
``request_interval = 1`` ask once a second in all, not four times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from trialwatch.registry.retry import RateLimiter
from trialwatch.store.state import StateTables


class SharedPacer(RateLimiter):
    """A RateLimiter whose next slot lives in the store, shared by processes and machines."""

    def __init__(
        self,
        db: StateTables,
        api_url: str,
        interval: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(interval, sleep=sleep)
        self.db = db  # its own connection: a slot is never part of a longer transaction
        self.host = urlsplit(api_url).netloc or api_url
        self.waited = 0.0
        # A sync's read-ahead thread and its main thread may both ask: one slot at a time.
        self._turn = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._turn:
            slot, now = self._take()
        delay = slot - float(now)
        if delay > 0:
            self.waited += delay
            self._sleep(delay)

    def _take(self) -> tuple[float, float]:
        """The next free moment, taken and moved on by one interval: (slot, now)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pacer (host, next_at) VALUES (?, 0) ON CONFLICT (host) DO NOTHING",
                (self.host,),
            )
            if self.db.dialect == "postgresql":
                next_at, now = conn.execute(
                    "SELECT next_at, extract(epoch from clock_timestamp())::float8 FROM pacer "
                    "WHERE host = ? FOR UPDATE",
                    (self.host,),
                ).fetchone()
            else:  # the transaction is BEGIN IMMEDIATE: other writers wait for it
                (next_at,) = conn.execute(
                    "SELECT next_at FROM pacer WHERE host = ?", (self.host,)
                ).fetchone()
                now = time.time()
            slot = max(float(next_at), float(now))
            conn.execute(
                "UPDATE pacer SET next_at = ? WHERE host = ?", (slot + self.interval, self.host)
            )
        return slot, float(now)
