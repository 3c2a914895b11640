"""One request pace for every worker of a store, kept in the store: the next free moment to ask
the registry is a row of ``pacer``, taken and moved on in a short transaction before each
request (the row lock is held for the update only, never during the request). On PostgreSQL the
database's clock decides, so workers on machines whose clocks differ still keep the pace."""

from __future__ import annotations

import time

from trialwatch.store.state import StateTables


def take_slot(db: StateTables, host: str, interval: float) -> tuple[float, float]:
    """The next free moment to ask ``host``, moved on by ``interval``: (that moment, now), in
    seconds since the epoch by the store's clock."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO pacer (host, next_at) VALUES (?, 0) ON CONFLICT (host) DO NOTHING",
            (host,),
        )
        if db.dialect == "postgresql":
            next_at, now = conn.execute(
                "SELECT next_at, extract(epoch from clock_timestamp())::float8 FROM pacer "
                "WHERE host = ? FOR UPDATE",
                (host,),
            ).fetchone()
        else:  # the transaction is BEGIN IMMEDIATE: other writers wait for it
            (next_at,) = conn.execute(
                "SELECT next_at FROM pacer WHERE host = ?", (host,)
            ).fetchone()
            now = time.time()
        slot = max(float(next_at), float(now))
        conn.execute("UPDATE pacer SET next_at = ? WHERE host = ?", (slot + interval, host))
    return slot, float(now)
