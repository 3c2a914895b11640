"""Bounded retries with exponential backoff and jitter, and a polite pace between requests."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("trialwatch")

RETRY_STATUSES = frozenset({403, 408, 425, 429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """How often and how long to retry a request the registry refused for now."""

    attempts: int = 6  # tries in all, the first included
    base_delay: float = 1.0  # seconds before the second try; doubles each time
    max_delay: float = 60.0  # no single wait is longer than this
    total_cap: float = 300.0  # give up once waiting would pass this many seconds in all
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try number attempt + 1 (attempt counts from 1)."""
        if retry_after is not None:
            return max(retry_after, 0.0)  # the server's word, bounded by total_cap by the caller
        backoff: float = self.base_delay * (2 ** (attempt - 1))
        return float(min(backoff * (0.5 + self.rng.random()), self.max_delay))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import email.utils  # only a Retry-After given as a date needs the mail package

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """At most one request per ``interval`` seconds, shared by everything that asks the registry."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = max(0.0, interval)
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval
