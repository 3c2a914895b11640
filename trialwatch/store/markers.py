"""A pending change's marker — which run is reporting it and, per output, the snapshot it
reports from — as a row, the same in every adapter that keeps it in a table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def marker_of(row: Sequence[Any]) -> dict[str, Any] | None:
    """A pending marker kept as a row (its run, its outputs as JSON); None when the outputs do
    not read as one."""
    try:
        outputs = json.loads(row[1])
    except (TypeError, ValueError):
        return None
    return read_marker(row[0], outputs)


def read_marker(run: Any, outputs: Any) -> dict[str, Any] | None:
    """A pending marker from its two parts, as a file or a row keeps them; None when the
    outputs are not a map of output to snapshot name."""
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        return None
    return {"run": str(run or ""), "outputs": dict(outputs)}


def put_marker(conn: Any, table: str, nct: str, run: str, outputs: dict[str, str]) -> None:
    """Insert or replace a trial's marker in ``table`` (pending or untold), in SQL both
    databases read."""
    conn.execute(
        f"INSERT INTO {table} (nct, run, outputs) VALUES (?, ?, ?) ON CONFLICT (nct) "
        "DO UPDATE SET run = excluded.run, outputs = excluded.outputs",
        (nct, run, json.dumps(outputs, sort_keys=True)),
    )


def markers_of_many(
    query: Callable[[str, Sequence[str]], Sequence[Sequence[Any]]], table: str, ncts: Sequence[str]
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """The markers ``table`` (pending or untold) holds for these trials, 500 to a query: each
    trial with one, and its marker (None when it does not read as one)."""
    ids = list(ncts)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for nct, *marked in query(
            f"SELECT nct, run, outputs FROM {table} WHERE nct IN ({marks})", chunk
        ):
            yield str(nct), marker_of(marked)
