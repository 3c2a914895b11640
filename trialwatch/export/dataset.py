"""The dataset's tables, their columns and types, and the files they are written to."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from trialwatch.errors import InputError
from trialwatch.store.atomic import write_atomic
from trialwatch.store.events import Row
from trialwatch.store.port import Store

SCHEMA = "trialwatch.export/1"
MANIFEST = "manifest.json"
FORMATS = ("parquet", "jsonl")

# Each table's columns: (name, type) — types as Parquet stores them; JSON Lines writes the
# same values (dates and timestamps as ISO 8601 text, JSON columns as JSON text).
EVENT_COLUMNS = (
    ("cursor", "int64"),  # the row's position: only grows (trialwatch events --after)
    ("nct_id", "string"),
    ("seen", "timestamp"),  # when trialwatch stored the step (UTC)
    ("made_on", "date"),  # the day the sponsor made it (its update), when known
    ("day", "date"),  # made_on, else the day it was stored
    ("kind", "string"),  # event or change
    ("type", "string"),  # the event type, or added/removed/changed
    ("category", "string"),
    ("headline", "string"),
    ("rank", "int32"),
    ("old_snapshot", "string"),
    ("new_snapshot", "string"),
    ("old_json", "json"),  # a change's old and new values (an event's: its changes, in body)
    ("new_json", "json"),
    ("body", "json"),  # the event or change as the JSON report has it
)
TRIAL_COLUMNS = (
    ("nct_id", "string"),
    ("title", "string"),
    ("status", "string"),
    ("latest_snapshot", "string"),
    ("last_changed", "timestamp"),
    ("last_checked", "timestamp"),
    ("last_update", "date"),  # the record's last update posted
    ("in_registry", "bool"),  # false: it left the registry (a tombstone)
)
VERSION_COLUMNS = (
    ("nct_id", "string"),
    ("source", "string"),  # snapshot (trialwatch's) or registry (the registry's history)
    ("name", "string"),  # the snapshot's name, or vNNNN
    ("version", "int32"),  # the registry's version number
    ("date", "date"),  # the day it was fetched, or the registry version's date
)
TOMBSTONE_COLUMNS = (("nct_id", "string"), ("gone_since", "timestamp"))


@dataclass
class Exported:
    out: Path
    written: list[str]  # files written this time
    kept: list[str]  # files left as they were
    rows: int  # event rows in the dataset
    cursor: tuple[int, int] | None  # the range of positions it covers


def _time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


def _date(text: Any) -> dt.date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def event_record(r: Row) -> dict[str, Any]:
    change = r.body if r.kind == "change" else {}
    return {
        "cursor": r.position,
        "nct_id": r.nct,
        "seen": _time(r.seen),
        "made_on": _date(r.made_on),
        "day": _date(r.made_on) or _date(r.seen),
        "kind": r.kind,
        "type": r.type,
        "category": r.category,
        "headline": r.headline,
        "rank": r.rank,
        "old_snapshot": r.old_snapshot,
        "new_snapshot": r.new_snapshot,
        "old_json": json.dumps(change.get("old"), sort_keys=True) if change else None,
        "new_json": json.dumps(change.get("new"), sort_keys=True) if change else None,
        "body": json.dumps(r.body, sort_keys=True),
    }


# -- writing a table ---------------------------------------------------------------------------


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {
        "int64": pa.int64(),
        "int32": pa.int32(),
        "string": pa.string(),
        "json": pa.string(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[kind]


def encode(records: list[dict[str, Any]], columns: tuple[tuple[str, str], ...], fmt: str) -> bytes:
    """A table's bytes: Parquet (typed columns, zstd) or JSON Lines (a record a line)."""
    if fmt == "jsonl":
        lines = []
        for rec in records:
            lines.append(
                json.dumps(
                    {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in rec.items()},
                    ensure_ascii=False,
                    sort_keys=False,
                )
            )
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "Parquet needs pyarrow: pip install 'trialwatch[export]' (or --format jsonl)"
        ) from None
    schema = pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in columns])
    table = pa.Table.from_pylist(records, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def encode_events(rows: list[Row], fmt: str) -> bytes:
    return encode([event_record(r) for r in rows], EVENT_COLUMNS, fmt)


# -- the export --------------------------------------------------------------------------------


def export(
    store: Store,
    out: Path,
    fmt: str = "parquet",
    since: str | None = None,
    now: Callable[[], str] | None = None,
) -> Exported:
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: choose parquet or jsonl")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    before = _manifest(out / MANIFEST)
    same_format = before.get("format") == fmt and before.get("schema") == SCHEMA
    known: dict[str, dict[str, Any]] = (
        {f["path"]: f for f in before.get("files", [])} if same_format else {}
    )
    rows = store.query_events(seen_since=since)
    by_day: dict[str, list[Row]] = {}
    for r in rows:
        # The partition is a folder: only ever a real date (a damaged row's goes to "unknown",
        # never a path of its own).
        stored = _date(r.seen)
        by_day.setdefault(stored.isoformat() if stored else "unknown", []).append(r)
    files: list[dict[str, Any]] = []
    written: list[str] = []
    kept: list[str] = []

    def put(path: str, count: int, key: str, make: Callable[[], bytes]) -> None:
        """Write a file, unless the one there was made from the same rows (``key``)."""
        old = known.get(path)
        if old is not None and old.get("key") == key and (out / path).exists():
            files.append(old)
            kept.append(path)
            return
        data = make()
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, durable=False)
        digest = hashlib.sha256(data).hexdigest()
        files.append({"path": path, "rows": count, "sha256": digest, "key": key})
        written.append(path)

    for day in sorted(by_day):
        found = sorted(by_day[day], key=lambda r: r.position or 0)
        # What a day's file holds, cheaply: its rows' positions (a row filed again is a new
        # position, so a day that gained or lost a row has another key).
        key = hashlib.sha256(",".join(str(r.position) for r in found).encode()).hexdigest()
        records = [event_record(r) for r in found]
        put(
            f"events/date={day}/part-0.{fmt}",
            len(found),
            key,
            partial(encode, records, EVENT_COLUMNS, fmt),
        )
    # A day exported before and left out now (--since) stays as it was.
    listed = {f["path"] for f in files}
    for path, old in known.items():
        earlier = path.startswith("events/") and since and path.split("date=")[1][:10] < since
        if earlier and path not in listed and (out / path).exists():
            files.append(old)
            kept.append(path)
    for name, data, count in _small_tables(store, fmt):
        put(name, count, hashlib.sha256(data).hexdigest(), partial(bytes, data))
    positions = [r.position for r in rows if r.position is not None]
    cursor = (min(positions), max(positions)) if positions else None
    manifest = {
        "schema": SCHEMA,
        "format": fmt,
        "generated": (now or _utc_now)(),
        "cursor": {"from": cursor[0], "to": cursor[1]} if cursor else None,
        "since": since,
        "files": sorted(files, key=lambda f: f["path"]),
    }
    write_atomic(
        out / MANIFEST,
        (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
        durable=False,
    )
    event_rows = sum(f["rows"] for f in files if f["path"].startswith("events/"))
    return Exported(out, written, kept, event_rows, cursor)


def _utc_now() -> str:
    from trialwatch.record import utc_now

    return utc_now()


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _small_tables(store: Store, fmt: str) -> Iterable[tuple[str, bytes, int]]:
    """The trials' current state, the stored versions and the tombstones: small beside the
    events, written whole each time (a file whose bytes did not change is kept)."""
    ncts = store.trials()
    state = store.rows(ncts)
    trials: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    tombstones: list[dict[str, Any]] = []
    for nct in ncts:
        row = state.get(nct, {})
        gone = row.get("last_outcome") == "gone"
        trials.append(
            {
                "nct_id": nct,
                "title": row.get("title"),
                "status": row.get("status"),
                "latest_snapshot": row.get("latest"),
                "last_changed": _time(row.get("last_changed")),
                "last_checked": _time(row.get("last_checked")),
                "last_update": _date(row.get("last_update")),
                "in_registry": not gone,
            }
        )
        if gone:
            tombstones.append({"nct_id": nct, "gone_since": _time(row.get("last_checked"))})
        for ref in store.snapshots(nct):
            versions.append(
                {"nct_id": nct, "source": "snapshot", "name": ref.name, "version": None,
                 "date": _date(ref.name)}
            )  # fmt: skip
        for number in sorted(store.versions().numbers(nct)):
            versions.append(
                {"nct_id": nct, "source": "registry", "name": f"v{number:04d}",
                 "version": number, "date": None}
            )  # fmt: skip
    yield f"trials/part-0.{fmt}", encode(trials, TRIAL_COLUMNS, fmt), len(trials)
    yield f"versions/part-0.{fmt}", encode(versions, VERSION_COLUMNS, fmt), len(versions)
    yield f"tombstones/part-0.{fmt}", encode(tombstones, TOMBSTONE_COLUMNS, fmt), len(tombstones)
