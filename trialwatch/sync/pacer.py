"""One request pace for every worker of a store: each request waits for the next free moment
the store gives (``Store.take_slot``), so four workers at ``request_interval = 1`` ask once a
second in all, not four times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from trialwatch.registry.retry import RateLimiter
from trialwatch.store.port import Store


class SharedPacer(RateLimiter):
    """A RateLimiter whose next slot lives in the store, shared by processes and machines."""

    def __init__(
        self,
        store: Store,
        api_url: str,
        interval: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(interval, sleep=sleep)
        self.store = store  # its own: a slot is never part of a longer unit of work
        self.host = urlsplit(api_url).netloc or api_url
        self.waited = 0.0
        # A sync's read-ahead thread and its main thread may both ask: one slot at a time.
        self._turn = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._turn:
            slot, now = self.store.take_slot(self.host, self.interval)
        delay = slot - now
        if delay > 0:
            self.waited += delay
            self._sleep(delay)
