"""Is a trial a probable applicable clinical trial (ACT), and how its results deadline (worked
out once, in ``changes.events.results``, for the results events too) is said in an audit.

The FDAAA TrialsTracker's rule set (``act_flag`` and ``pact_flag``), remapped to API v2 fields.
IND/IDE status is not public, so the answer is only ever "probable": the location test is shown
as evidence, never required, for trials started on or after 2017-01-18, as the tracker does.
Dates given as a month count as the month's last day; estimated and actual dates count alike."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from trialwatch.changes.dates import day_of, first_day, last_day, parse_partial
from trialwatch.changes.events.results import Deadline
from trialwatch.changes.sentences import get

STATUS = ("protocolSection", "statusModule")
DESIGN = ("protocolSection", "designModule")
OVERSIGHT = ("protocolSection", "oversightModule")
FINAL_RULE = dt.date(2017, 1, 18)  # 42 CFR Part 11 took effect
EARLY = {"EARLY_PHASE1", "PHASE1"}
PRODUCT_TYPES = {
    "DRUG",
    "DEVICE",
    "BIOLOGICAL",
    "GENETIC",
    "RADIATION",
    "COMBINATION_PRODUCT",
    "DIAGNOSTIC_TEST",
}
US_PLACES = {
    "United States",
    "American Samoa",
    "Guam",
    "Northern Mariana Islands",
    "Puerto Rico",
    "Virgin Islands (U.S.)",
    "U.S. Virgin Islands",
}


@dataclass(frozen=True, slots=True)
class Applicability:
    """Whether a trial is a probable ACT, and each test with its evidence."""

    probable: bool
    tests: tuple[tuple[str, bool], ...]  # ("interventional study", True), …

    def failed(self) -> list[str]:
        return [name for name, ok in self.tests if not ok]


def flag(record: dict[str, Any], name: str) -> bool | None:
    value = get(record, *OVERSIGHT, name)
    return value if isinstance(value, bool) else None


def date_struct(record: dict[str, Any], name: str) -> tuple[dt.date, dt.date, str, str] | None:
    """(first day, last day, text, type) of a status-module date struct, or None."""
    struct = get(record, *STATUS, name)
    if not isinstance(struct, dict):
        return None
    kind, date = struct.get("type"), struct.get("date")
    if not isinstance(date, str):  # a date of another shape reads as none (and is hashable)
        return None
    return _span(date, kind if isinstance(kind, str) else "")


@functools.lru_cache(maxsize=4096)
def _span(text: Any, kind: str) -> tuple[dt.date, dt.date, str, str] | None:
    date = parse_partial(text)
    if date is None:
        return None
    return first_day(date), last_day(date), date.text, kind


def us_site(record: dict[str, Any]) -> bool:
    sites = get(record, "protocolSection", "contactsLocationsModule", "locations")
    if not isinstance(sites, list):
        return False
    return any(isinstance(s, dict) and _one_of(s.get("country"), US_PLACES) for s in sites)


def _one_of(value: Any, known: set[str]) -> bool:
    """``value in known`` for text; a value of another shape (a list, a table) is none of them."""
    return isinstance(value, str) and value in known


def applicability(record: dict[str, Any]) -> Applicability:
    study_type = get(record, *DESIGN, "studyType")
    phases = get(record, *DESIGN, "phases")
    phases = [p for p in phases if isinstance(p, str)] if isinstance(phases, list) else []
    purpose = get(record, *DESIGN, "designInfo", "primaryPurpose")
    status = get(record, *STATUS, "overallStatus")
    drug, device = flag(record, "isFdaRegulatedDrug"), flag(record, "isFdaRegulatedDevice")
    start = date_struct(record, "startDateStruct")
    tests: list[tuple[str, bool]] = [
        ("interventional study", study_type == "INTERVENTIONAL"),
        ("phase other than early phase 1 or phase 1", bool(phases) and not set(phases) <= EARLY),
        ("not a device feasibility study", purpose != "DEVICE_FEASIBILITY"),
        ("not withdrawn", status != "WITHDRAWN"),
    ]
    if start is None:
        tests.append(("a start date", False))
        return Applicability(False, tuple(tests))
    if start[0] >= FINAL_RULE:
        tests.append(("started on or after 2017-01-18", True))
        tests.append(("an FDA-regulated drug or device", bool(drug or device)))
    else:
        tests.append(("started before 2017-01-18", True))
        completion = date_struct(record, "primaryCompletionDateStruct") or date_struct(
            record, "completionDateStruct"
        )
        tests.append(
            (
                "completed on or after 2017-01-18",
                completion is not None and completion[1] >= FINAL_RULE,
            )
        )
        if drug is None and device is None:
            # Records from before the FDA fields existed: the tracker's fallback.
            kinds = get(record, "protocolSection", "armsInterventionsModule", "interventions")
            kinds = kinds if isinstance(kinds, list) else []
            product = any(
                isinstance(i, dict) and _one_of(i.get("type"), PRODUCT_TYPES) for i in kinds
            )
            tests.append(("a drug, biological, device or similar product studied", product))
            tests.append(("a site in the United States or a US territory", us_site(record)))
        else:
            tests.append(("an FDA-regulated drug or device", bool(drug or device)))
    return Applicability(all(ok for _, ok in tests), tuple(tests))


def basis(due: Deadline) -> str:
    """ "primary completion 2020-02 (actual, counted as 2020-02-29) + 1 year" """
    counted = f", counted as {due.completion.isoformat()}" if len(due.text) < 10 else ""
    kind_words = f"{due.kind.lower()}{counted}" if due.kind else counted.lstrip(", ")
    text = f"{due.which} {due.text}" + (f" ({kind_words})" if kind_words else "")
    return text + (" + 3 years (a delay certification was filed)" if due.certified else " + 1 year")


def results_submitted(record: dict[str, Any]) -> tuple[dt.date | None, str | None]:
    """When results were first submitted (a submission in QC review counts, as the tracker
    counts it), and when a later submission was cancelled with none since (else None)."""
    first = day_of(get(record, *STATUS, "resultsFirstSubmitDate"))
    if first is not None:
        return first, None
    cycles = submission_cycles(record)
    if not cycles:
        return None, None
    last = cycles[-1]
    if last.cancelled:
        return None, last.cancelled
    return day_of(cycles[0].released), None


@dataclass(frozen=True, slots=True)
class Cycle:
    """One results submission and what became of it."""

    released: str | None
    returned: str | None = None
    cancelled: str | None = None


def submission_cycles(record: dict[str, Any]) -> list[Cycle]:
    """The results submissions in order: from the submission tracking where the record has
    it, else from the QC review annotations."""
    infos = get(record, "derivedSection", "miscInfoModule", "submissionTracking", "submissionInfos")
    if isinstance(infos, list) and infos:
        cycles = []
        for info in infos:
            if not isinstance(info, dict):
                continue
            cancelled = info.get("unreleaseDate") or (
                "an unknown date" if info.get("unreleaseDateUnknown") else None
            )
            cycles.append(Cycle(info.get("releaseDate"), info.get("resetDate"), cancelled))
        return cycles
    events = get(record, "annotationSection", "annotationModule", "unpostedAnnotation")
    events = events.get("unpostedEvents") if isinstance(events, dict) else None
    cycles = []
    found = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    for e in sorted(found, key=lambda e: str(e.get("date") or "")):
        date = e.get("date") or ("an unknown date" if e.get("dateUnknown") else None)
        kind = e.get("type")
        if kind == "RELEASE":
            cycles.append(Cycle(date))
        elif kind == "RESET" and cycles:
            cycles[-1] = Cycle(cycles[-1].released, returned=date)
        elif kind == "UNRELEASE" and cycles:
            cycles[-1] = Cycle(cycles[-1].released, cancelled=date)
    return cycles
