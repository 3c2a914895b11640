"""The "baseline recorded" summary of a trial seen for the first time."""

from __future__ import annotations

import functools
import sys
from typing import Any

from trialwatch.changes.fields import STATUS
from trialwatch.changes.sentences import get
from trialwatch.model import Baseline, DateValue
from trialwatch.sanitize import one_line


def _date(record: dict[str, Any], field: str) -> DateValue | None:
    struct = get(record, *STATUS, field)
    if not isinstance(struct, dict) or not struct.get("date"):
        return None
    return _date_value(str(struct.get("date")), _text(struct.get("type")))


@functools.lru_cache(maxsize=8192)
def _date_value(date: str, kind: str | None) -> DateValue:
    """One DateValue for each date and type (frozen, so shared by every baseline holding it)."""
    return DateValue(sys.intern(date), kind)


def _text(value: Any) -> str | None:
    """A field the baseline shows as text: a value of another shape (a registry format change,
    a damaged record) is not shown rather than shown wrongly. Interned: a first run of a long
    list holds one baseline per trial until it reports, and statuses, types, dates and sponsors
    repeat across trials."""
    return sys.intern(value) if isinstance(value, str) and value else None


def title_of(record: dict[str, Any]) -> str | None:
    ident = get(record, "protocolSection", "identificationModule") or {}
    title = ident.get("briefTitle") or ident.get("officialTitle")
    # One sanitised title everywhere it goes (a state column, a list, a page, a feed): no
    # escape sequence, control, bidi override or character XML forbids; on one line.
    return one_line(str(title)) or None if title else None


def baseline(record: dict[str, Any], title: str | None = None) -> Baseline:
    """The baseline summary of ``record``; ``title``: its title_of, when the caller has it
    (one string for the report and its baseline)."""
    enrollment = get(record, "protocolSection", "designModule", "enrollmentInfo") or {}
    count = enrollment.get("count") if isinstance(enrollment, dict) else None
    phases = get(record, "protocolSection", "designModule", "phases") or []
    return Baseline(
        title=title if title is not None else title_of(record),
        status=_text(get(record, *STATUS, "overallStatus")),
        phases=[sys.intern(str(p)) for p in phases] if isinstance(phases, list) else [],
        start=_date(record, "startDateStruct"),
        primary_completion=_date(record, "primaryCompletionDateStruct"),
        completion=_date(record, "completionDateStruct"),
        enrollment=count if isinstance(count, int) else None,
        enrollment_type=_text(enrollment.get("type")) if isinstance(enrollment, dict) else None,
        lead_sponsor=_text(
            get(record, "protocolSection", "sponsorCollaboratorsModule", "leadSponsor", "name")
        ),
        last_update_posted=_text(get(record, *STATUS, "lastUpdatePostDateStruct", "date")),
    )
