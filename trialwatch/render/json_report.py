"""The JSON report: a documented, versioned schema (README, "JSON output")."""

from __future__ import annotations

from typing import Any

from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.sanitize import dumps

SCHEMA = "trialwatch.report/2"


def trial_json(t: TrialReport) -> dict[str, Any]:
    return t.to_json()


def report_json(report: RunReport) -> dict[str, Any]:
    data = {
        "schema": SCHEMA,
        "generated_at": report.generated_at,
        "data_timestamp": report.data_timestamp,
        "skipped": report.skipped,
        "notes": list(report.notes),
        "summary": {
            "checked": len(report.trials),
            **{o.value: len(report.by_outcome(o)) for o in Outcome},
            # What --fail-on can match here (categories, signals, new/left): lets automation
            # decide on a saved report without running the check again.
            "matches": sorted(report.matches()),
        },
        "trials": [trial_json(t) for t in report.trials],
    }
    if report.queries:  # only for a watch list with searches: id-only reports stay as they were
        data["queries"] = [q.to_json() for q in report.queries]
    return data


def render_json(report: RunReport) -> str:
    return dumps(report_json(report), indent=2) + "\n"
