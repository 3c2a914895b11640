"""Application services behind the CLI: build the client, store and options from settings and
run one command's core. Returns reports; never prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from trialwatch.client import TIMEOUT, RegistryClient, make_http_client, utc_now
from trialwatch.config import Settings, load_settings
from trialwatch.differ import diff_records
from trialwatch.errors import InputError
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.retry import RateLimiter, RetryPolicy
from trialwatch.runner import CheckOptions, check_each
from trialwatch.store import SnapshotStore, read_record_file
from trialwatch.summary import title_of


def build_client(settings: Settings, http: httpx.Client | None = None) -> RegistryClient:
    timeout = (
        httpx.Timeout(float(settings["timeout"]), connect=min(10.0, settings["timeout"]))
        if settings["timeout"]
        else TIMEOUT
    )
    retry = RetryPolicy(
        attempts=int(settings["max_retries"]) + 1,
        base_delay=float(settings["backoff_base"]),
        total_cap=float(settings["retry_time_cap"]),
    )
    return RegistryClient(
        api_url=settings["api_url"],
        http=http or make_http_client(timeout),
        retry=retry,
        limiter=RateLimiter(float(settings["request_interval"])),
    )


def check_options(settings: Settings, **kwargs: Any) -> CheckOptions:
    return CheckOptions(
        ignore=list(settings["ignore"]), show_admin=bool(settings["show_admin"]), **kwargs
    )


def run_check(
    ids: list[str],
    bad: list[TrialReport],
    flags: dict[str, Any],
    config: str | None,
    *,
    force: bool = False,
    email: bool | None = None,
    interactive: bool = False,
    explicit_ids: bool = True,
    http: httpx.Client | None = None,
) -> tuple[RunReport, Settings, str | None]:
    settings = load_settings(flags, config)
    store = SnapshotStore(settings.store)
    if not ids and not bad and not explicit_ids:
        raise InputError(
            "no trials to check: give NCT ids, for example `trialwatch check NCT06224738`"
        )
    if not ids:
        report = RunReport(generated_at=utc_now(), trials=list(bad))
        return report, settings, None
    with build_client(settings, http) as client:
        report = check_each(ids, client, store, check_options(settings, extra_errors=bad))
    return report, settings, None


def run_diff(
    old: Path, new: Path, flags: dict[str, Any], config: str | None
) -> tuple[RunReport, Settings]:
    settings = load_settings(flags, config)
    a, b = read_record_file(old), read_record_file(new)
    changes, context = diff_records(b.nct_id, a.record, b.record, settings["ignore"])
    shown = changes if settings["show_admin"] else [c for c in changes if c.material]
    outcome = Outcome.CHANGED if any(c.material for c in changes) else Outcome.UNCHANGED
    trial = TrialReport(
        nct_id=b.nct_id,
        outcome=outcome,
        title=title_of(b.record),
        changes=shown,
        context=context,
        snapshot=str(new),
        previous_snapshot=str(old),
    )
    if a.nct_id != b.nct_id:
        trial.notes.append(f"comparing two different trials: {a.nct_id} and {b.nct_id}")
    return RunReport(generated_at=utc_now(), trials=[trial]), settings
