"""How much an event matters to someone following a trial: high, medium, low or noise, always
with the reason in words ("enrollment cut by 31%", "a status that ends the trial"). A subscription
can be cut by it (``severity = "medium"``: medium and high) and a rule can name it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NOISE = "noise"


RANK = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2, Severity.NOISE: 3}
ENDING = {"TERMINATED", "WITHDRAWN", "SUSPENDED"}
# Events that change what a trial can show: always high.
HIGH_TYPES = {
    "outcome_replaced": "the primary outcome was replaced",
    "outcome_removed": "an outcome was removed",
    "results_withdrawn": "results were withdrawn",
    "results_returned": "QC review returned the results",
    "safety_revised": "deaths or serious adverse events were revised upward",
    "left_registry": "the trial left the registry",
    "status_regression": "the status went backwards",
    "arm_dropped": "an arm was dropped",
    "date_after_the_fact": "a date was moved after it had passed",
    "date_reverted_to_estimated": "an actual date went back to an estimate",
    "enrollment_after_close": "enrollment changed after the trial closed",
    "results_vs_registration": "the results differ from what was registered",
}
MEDIUM_TYPES = {
    "results_posted": "results were posted",
    "results_submitted": "results were submitted",
    "results_resubmitted": "results were submitted again",
    "results_cancelled": "a results submission was cancelled",
    "results_delay_certified": "a delay of results was certified",
    "eligibility_loosened": "eligibility was loosened",
    "eligibility_tightened": "eligibility was tightened",
    "outcome_added": "an outcome was added",
    "outcome_moved": "an outcome moved between primary and secondary",
    "outcome_time_frame": "an outcome's time frame changed",
    "design_changed": "the design changed",
    "sponsor_changed": "the sponsor changed",
    "arms_merged": "arms were merged",
    "status_unknown": "the registry shows the status as unknown",
    "result_corrected": "a posted result was corrected",
}
NOISE_TYPES = {
    "grouped_edit": "an edit of wording",
    "outcome_cosmetic": "a cosmetic edit of an outcome",
    "first_posted_actual": "registry bookkeeping",
    "site_renamed": "a site's name respelled",
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def severity(kind: str, type_: str, body: dict[str, Any]) -> tuple[Severity, str]:
    """The severity of an event row (``kind`` "event" or "change", its ``type`` and body) and
    why."""
    found, listed = body.get("data"), body.get("flags")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    flags: list[Any] = listed if isinstance(listed, list) else []
    if "likely_administrative" in flags:
        return Severity.NOISE, "likely administrative"
    if kind != "event":
        return Severity.LOW, "a field changed that no event explains"
    if type_ == "status_changed":
        new = data.get("new")
        if isinstance(new, str) and new in ENDING:
            return Severity.HIGH, "a status that ends or stops the trial"
        return Severity.MEDIUM, "the status changed"
    if type_ == "enrollment_changed":
        pct = _number(data.get("change_percent"))
        if pct is None:
            return Severity.MEDIUM, "enrollment changed"
        size = f"enrollment {'cut' if pct < 0 else 'raised'} by {abs(pct):g}%"
        return _by_size(pct, high=20, medium=5), size
    if type_ in ("date_moved", "date_became_actual", "actual_date_edited"):
        days = _number(data.get("slip_days"))
        if days is None:
            return Severity.LOW, "a date was set"
        moved = f"a date moved {abs(days):g} days {'later' if days > 0 else 'earlier'}"
        return _by_size(days, high=90, medium=30), moved
    if type_ == "signal_started":
        level = data.get("level")
        if level == "alert" or body.get("signal") in ("results_overdue", "results_returned"):
            return Severity.HIGH, "an obligation probably missed"
        return Severity.MEDIUM, "a transparency signal started"
    if type_ == "signal_ended":
        return Severity.MEDIUM, "a transparency signal ended"
    if type_ in HIGH_TYPES:
        return Severity.HIGH, HIGH_TYPES[type_]
    if type_ in MEDIUM_TYPES:
        return Severity.MEDIUM, MEDIUM_TYPES[type_]
    if type_ in NOISE_TYPES:
        return Severity.NOISE, NOISE_TYPES[type_]
    return Severity.LOW, "a detail of the record changed"


def _by_size(amount: float, high: float, medium: float) -> Severity:
    """How severe a change of this size is (either way): high from ``high``, medium from
    ``medium``, low below."""
    size = abs(amount)
    return Severity.HIGH if size >= high else Severity.MEDIUM if size >= medium else Severity.LOW


def at_least(level: Severity, floor: Severity) -> bool:
    return RANK[level] <= RANK[floor]
