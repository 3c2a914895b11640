"""A study record as fetched, and what every layer reads from one (its id, its aliases).

Kept free of the HTTP client so that commands that never fetch (diff, history) start fast."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trialwatch.sanitize import check_depth


@dataclass
class Fetched:
    """A study record as the registry returned it."""

    nct_id: str  # the id the record carries
    record: dict[str, Any]
    url: str
    fetched_at: str  # UTC, ISO 8601
    requested_id: str
    alias_of: str | None = None  # set when the requested id redirected to nct_id
    # sha256 of the record's bytes as served (the daily versionHolder masked): equal bytes
    # mean an unchanged record without normalising it. None when not known.
    fingerprint: str | None = None
    # The record's JSON exactly as read, when kept (a bootstrap stores it as it came, without
    # encoding the parsed record again); None otherwise.
    text: str | None = None
    # Every number in the record is one orjson writes as json does (sanitize.NumberWatch saw
    # it read): its snapshot's text needs no search for one that is not. False: not known.
    plain_numbers: bool = False
    # Its record nests no deeper than sanitize.MAX_DEPTH (ensure_shallow made sure, once).
    shallow: bool = False


def ensure_shallow(fetched: Fetched, indented: bytes | None = None, within: int = 0) -> None:
    """RecordShapeError unless the record nests no deeper than MAX_DEPTH, which no study
    record nears; checked once a fetch, the first time it matters (before a comparison
    claims a change, or as a snapshot is saved: ``indented`` and ``within`` as
    sanitize.check_depth takes them)."""
    if not fetched.shallow:
        check_depth(fetched.record, indented, within)
        fetched.shallow = True


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_id(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    ident = record.get("protocolSection", {})
    if not isinstance(ident, dict):
        return None
    value = ident.get("identificationModule", {})
    if not isinstance(value, dict):
        return None
    nct = value.get("nctId")
    return nct if isinstance(nct, str) else None


def record_aliases(record: dict[str, Any]) -> list[str]:
    ident = record.get("protocolSection", {})
    ident = ident.get("identificationModule", {}) if isinstance(ident, dict) else None
    aliases = ident.get("nctIdAliases") if isinstance(ident, dict) else None
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def last_update(record: Any) -> str | None:
    """The record's last-update-posted date (what two-phase checks compare)."""
    status = record.get("protocolSection", {}) if isinstance(record, dict) else None
    status = status.get("statusModule") if isinstance(status, dict) else None
    struct = status.get("lastUpdatePostDateStruct") if isinstance(status, dict) else None
    date = struct.get("date") if isinstance(struct, dict) else None
    return date if isinstance(date, str) else None
