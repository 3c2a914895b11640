"""Transparency signals (trialwatch audit): each rule at its boundary on real records edited
across it, with a fixed day; the command over the whole sample corpus, offline, in every
format; and check saying once when a signal starts or stops."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, cli, edited, load
from tests.registry_server import Registry, serve
from trialwatch.audit.signals import Level, Signal, audit_record

pytestmark = pytest.mark.usefixtures("each_store")

D = dt.date


def status(record: dict[str, Any]) -> dict[str, Any]:
    module = record["protocolSection"]["statusModule"]
    assert isinstance(module, dict)
    return module


def types(record: dict[str, Any], day: dt.date, **kw: Any) -> dict[str, Signal]:
    return {s.key: s for s in audit_record(record, day, **kw)}


def setting(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(record: dict[str, Any]) -> None:
        status(record).update(fields)

    return edit


@pytest.fixture
def overdue_trial() -> dict[str, Any]:
    """NCT03418623: FDA-regulated drug, phase 2, started 2018-03-08, primary completion
    2020-03-13 (actual), no results: a probable ACT whose results were due 2021-03-13."""
    return load("NCT03418623.json")


# --- results due / overdue ----------------------------------------------------------------


def test_results_deadline_boundaries(overdue_trial: dict[str, Any]) -> None:
    assert "results_due" not in types(overdue_trial, D(2021, 3, 13))  # the deadline itself
    due = types(overdue_trial, D(2021, 3, 14))["results_due"]
    assert due.level is Level.WARNING and "2021-03-13" in due.headline
    assert "overdue after 2021-04-12" in due.headline  # 30 days' grace
    assert "results_due" in types(overdue_trial, D(2021, 4, 12))
    late = types(overdue_trial, D(2021, 4, 13))
    assert "results_due" not in late
    overdue = late["results_overdue"]
    assert overdue.level is Level.ALERT
    assert overdue.dates["due"] == "2021-03-13"
    assert overdue.inputs["days_late"] == 31
    assert any("primary completion 2020-03-13 (actual) + 1 year" in e for e in overdue.evidence)
    assert "probable" in overdue.headline or "probable" in " ".join(overdue.evidence)
    # The grace period is a setting.
    assert "results_overdue" in types(overdue_trial, D(2021, 3, 14), grace_days=0)


def test_month_only_dates_count_as_the_months_last_day(overdue_trial: dict[str, Any]) -> None:
    month = edited(
        overdue_trial, setting(primaryCompletionDateStruct={"date": "2020-02", "type": "ACTUAL"})
    )
    assert "results_due" not in types(month, D(2021, 2, 28))  # 2020-02-29 + 1 year
    found = types(month, D(2021, 3, 1))["results_due"]
    assert "counted as 2020-02-29" in found.evidence[0]


def test_a_delay_certification_moves_the_deadline_three_years(
    overdue_trial: dict[str, Any],
) -> None:
    certified = edited(overdue_trial, setting(dispFirstSubmitDate="2021-01-10"))
    found = types(certified, D(2023, 3, 13))
    assert not {"results_due", "results_overdue", "late_certification"} & set(found)
    assert "results_due" in types(certified, D(2023, 3, 14))
    # Filed after the original 1-year deadline: a late certification.
    late = edited(overdue_trial, setting(dispFirstSubmitDate="2021-03-14"))
    signal = types(late, D(2021, 6, 1))["late_certification"]
    assert "1 day after the 1-year results deadline 2021-03-13" in signal.headline
    on_time = edited(overdue_trial, setting(dispFirstSubmitDate="2021-03-13"))
    assert "late_certification" not in types(on_time, D(2021, 6, 1))


def test_submitted_results_end_the_overdue_signal(overdue_trial: dict[str, Any]) -> None:
    in_grace = edited(overdue_trial, setting(resultsFirstSubmitDate="2021-04-12"))
    found = types(in_grace, D(2022, 1, 1))
    assert not {"results_due", "results_overdue", "results_late"} & set(found)
    late = edited(overdue_trial, setting(resultsFirstSubmitDate="2021-04-13"))
    signal = types(late, D(2022, 1, 1))["results_late"]
    assert signal.level is Level.NOTE and "31 days after the deadline" in signal.headline


def test_results_in_qc_count_as_submitted(overdue_trial: dict[str, Any]) -> None:
    """The 2026 download's submission tracking shape (NCT02753764), put on the overdue trial."""

    def tracking(*infos: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        def edit(record: dict[str, Any]) -> None:
            record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})[
                "submissionTracking"
            ] = {"estimatedResultsFirstSubmitDate": "2021-04-01", "submissionInfos": list(infos)}

        return edit

    waiting = edited(overdue_trial, tracking({"releaseDate": "2021-04-01"}))
    found = types(waiting, D(2021, 6, 1))
    assert "results_overdue" not in found
    assert "Results submitted 2021-04-01, 2 months ago, waiting for QC review" in (
        found["results_in_qc"].headline
    )
    returned = edited(
        overdue_trial,
        tracking(
            {"releaseDate": "2021-04-01", "resetDate": "2021-05-01"},
            {"releaseDate": "2021-05-10", "resetDate": "2021-06-01"},
        ),
    )
    signal = types(returned, D(2021, 7, 1))["results_returned"]
    assert "returned by QC review 2 times, last on 2021-06-01" in signal.headline
    assert signal.inputs == {"submissions": 2, "returned": 2}
    cancelled = edited(
        overdue_trial, tracking({"releaseDate": "2021-04-01", "unreleaseDate": "2021-04-20"})
    )
    found = types(cancelled, D(2021, 7, 1))
    assert "cancelled by the sponsor on 2021-04-20" in found["results_cancelled"].headline
    assert any("cancelled" in e for e in found["results_overdue"].evidence)


def test_who_is_not_a_probable_act(overdue_trial: dict[str, Any]) -> None:
    day = D(2026, 12, 2)
    phase1 = edited(
        overdue_trial, lambda r: r["protocolSection"]["designModule"].update(phases=["PHASE1"])
    )
    assert "results_overdue" not in types(phase1, day)
    withdrawn = edited(overdue_trial, setting(overallStatus="WITHDRAWN"))
    assert "results_overdue" not in types(withdrawn, day)
    not_fda = edited(
        overdue_trial,
        lambda r: r["protocolSection"]["oversightModule"].update(isFdaRegulatedDrug=False),
    )
    assert "results_overdue" not in types(not_fda, day)
    waived = edited(overdue_trial, setting(resultsWaived=True))
    assert "results_overdue" not in types(waived, day)
    # A trial whose record predates the FDA fields: the pre-2017 fallback (a product and a US
    # site) applies only when it completed on or after 2017-01-18.
    old = load("NCT00184067.json")  # completed 2007, no FDA fields
    assert "results_overdue" not in types(old, day)
    signals = types(load_from("download-ctg-studies-2026-04-09.json", "NCT02753764"), day)
    late = signals["results_late"]
    assert "started before 2017-01-18" in " ".join(late.evidence)


def load_from(name: str, nct: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    for study in data:
        if study["protocolSection"]["identificationModule"]["nctId"] == nct:
            assert isinstance(study, dict)
            return study
    raise AssertionError(f"{nct} is not in {name}")


# --- record upkeep ---------------------------------------------------------------------------


def test_stale_status_and_estimated_dates() -> None:
    """NCT03934567: active, not recruiting; completion 2025-10-30 (estimated)."""
    record = load("NCT03934567.json")
    assert "status_stale" not in types(record, D(2025, 10, 30))
    found = types(record, D(2025, 10, 31))
    stale = found["status_stale"]
    assert (
        "“Active, not recruiting”" in stale.headline and "2025-10-30 (estimated)" in stale.headline
    )
    # The stale status says the estimated completion passed; not said twice.
    assert "estimated_date_past:completion" not in found
    completed = edited(record, setting(overallStatus="COMPLETED"))
    found = types(completed, D(2025, 10, 31))
    assert "status_stale" not in found
    assert "1 day in the past" in found["estimated_date_past:completion"].headline
    assert "estimated_date_past:completion" not in types(completed, D(2025, 10, 30))


def test_verification_overdue_boundaries() -> None:
    record = load("NCT03934567.json")  # verified 2025-04, active, not recruiting
    assert "verification_overdue" not in types(record, D(2026, 4, 30))  # 12 months
    signal = types(record, D(2026, 5, 1))["verification_overdue"]
    assert signal.level is Level.WARNING and "1 year 1 month ago" in signal.headline
    signal = types(record, D(2027, 5, 1))["verification_overdue"]
    assert signal.level is Level.ALERT
    assert "the registry will show the status as Unknown" in signal.headline
    unknown = load("NCT03475563.json")  # already shown as Unknown by the registry
    signal = types(unknown, D(2026, 12, 2))["verification_overdue"]
    assert "the registry shows the status as Unknown (last known: Recruiting)" in signal.headline
    # A completed trial with results posted needs no more verification.
    assert "verification_overdue" not in types(load("NCT04431453.json"), D(2026, 12, 2))


def test_fdaaa_violation_posted_and_corrected() -> None:
    record = load("NCT03064438.json")
    signal = types(record, D(2026, 12, 2))["fdaaa_violation"]
    assert signal.level is Level.NOTE
    assert "posted 2021-07-29 and its correction confirmed 2022-06-07" in signal.headline
    assert any(
        e.startswith("violation identified posted 2021-07-29: Failure to Submit")
        for e in signal.evidence
    )

    def uncorrected(r: dict[str, Any]) -> None:
        events = r["annotationSection"]["annotationModule"]["violationAnnotation"][
            "violationEvents"
        ]
        events[:] = [e for e in events if e["type"] != "CORRECTION_CONFIRMED"]

    signal = types(edited(record, uncorrected), D(2026, 12, 2))["fdaaa_violation"]
    assert signal.level is Level.ALERT and "with no correction posted" in signal.headline


def test_implausible_enrollment(overdue_trial: dict[str, Any]) -> None:
    def count(n: int) -> dict[str, Any]:
        return edited(
            overdue_trial,
            lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count=n),
        )

    day = D(2020, 1, 1)
    assert "implausible_enrollment" not in types(count(999_999), day)
    assert "1,000,000" in types(count(1_000_000), day)["implausible_enrollment"].headline
    assert "implausible_enrollment" not in types(count(2399), day, previous=overdue_trial)
    jump = types(count(2400), day, previous=overdue_trial)["implausible_enrollment"]
    assert "from 24 to 2,400 (100-fold)" in jump.headline


def test_records_missing_fields_are_read_without_error() -> None:
    bare = {"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}}}
    assert audit_record(bare, D(2026, 12, 2)) == []
    odd = edited(
        load("NCT03418623.json"), setting(primaryCompletionDateStruct="2020", statusVerifiedDate=7)
    )
    audit_record(odd, D(2026, 12, 2))  # no exception: odd shapes give fewer signals


# --- the command -------------------------------------------------------------------------------


def corpus() -> list[str]:
    files = sorted(str(p) for p in FIXTURES.glob("*.json"))
    assert any("download-ctg-studies-2023" in f for f in files)
    assert any("download-ctg-studies-2026" in f for f in files)
    return [a for f in files for a in ("--file", f)]


def test_audit_of_the_whole_sample_corpus_offline(capsys: pytest.CaptureFixture[str]) -> None:
    # No registry anywhere: an audit of files never asks one.
    args = ["audit", "--api-url", "http://127.0.0.1:9", "--today", "2026-12-02", *corpus()]
    code, out, err = cli(capsys, *args)
    assert code == 1 and err == ""
    assert "Results probably overdue: due 2021-03-13" in out  # NCT03418623
    assert "FDAAA 801 violation was posted 2021-07-29" in out  # NCT03064438
    assert "waiting for QC review" in out  # NCT02753764, the 2026 download
    assert "rule: 42 CFR 11.44" in out and "not legal determinations" in out
    code, out, _ = cli(capsys, *args, "--format", "json")
    data = json.loads(out)
    assert data["schema"] == "trialwatch.audit/1" and data["today"] == "2026-12-02"
    assert data["note"].startswith("Signals are read from the public record only")
    seen = {s["type"] for t in data["trials"] for s in t["signals"]}
    assert {
        "results_overdue",
        "results_late",
        "results_in_qc",
        "status_stale",
        "estimated_date_past",
        "verification_overdue",
        "late_certification",
        "fdaaa_violation",
    } <= seen
    assert len({t["nct_id"] for t in data["trials"]}) >= 30
    assert all(t["error"] is None for t in data["trials"])
    # --fail-on narrows what makes the exit code 1.
    assert cli(capsys, *args, "--fail-on", "implausible_enrollment")[0] == 0
    assert cli(capsys, *args, "--fail-on", "overdue")[0] == 1
    code, _, err = cli(capsys, *args, "--fail-on", "colour")
    assert code == 2 and "unknown signal 'colour'" in err


def test_audit_formats_escape_registry_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hostile = edited(
        load("NCT03418623.json"),
        lambda r: r["protocolSection"]["identificationModule"].update(
            briefTitle='=HYPERLINK("http://x")|<script>alert(1)</script>\x1b[31m'
        ),
    )
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(hostile), encoding="utf-8")
    base = ["audit", "--today", "2026-12-02", "--file", str(path)]
    _, out, _ = cli(capsys, *base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["title"].startswith("'=HYPERLINK") for r in rows)
    assert {r["signal"] for r in rows} >= {"results_overdue", "verification_overdue"}
    assert next(r for r in rows if r["signal"] == "results_overdue")["due"] == "2021-03-13"
    _, out, _ = cli(capsys, *base, "--format", "html")
    assert "<script>" not in out and "&lt;script&gt;" in out
    _, out, _ = cli(capsys, *base, "--format", "markdown")
    assert "| Trial | Status | Level | Signal | Evidence |" in out
    assert "<script>" not in out
    _, out, _ = cli(capsys, *base, "--format", "text")
    assert "\x1b" not in out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, out, err = cli(capsys, "audit", "--file", str(bad))
    assert code == 2 and "is not valid JSON" in err and "Traceback" not in err


# --- from the store, and check telling signals once ------------------------------------------


def on(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    monkeypatch.setattr("trialwatch.usecases.common.today", lambda: day)


def test_check_says_a_signal_once_when_it_starts_and_when_it_stops(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    registry.put(overdue_trial)
    assert cli(capsys, "watch", "add", "NCT03418623")[0] == 0
    on(monkeypatch, D(2021, 3, 1))
    code, out, _ = cli(capsys, "check", "--format", "text")
    assert code == 0 and "Transparency signals" not in out  # nothing in force yet
    # Time passes; the record does not change.
    on(monkeypatch, D(2021, 4, 20))
    code, out, _ = cli(capsys, "check", "--format", "text", "--force")
    assert code == 1
    assert "New signal: Results probably overdue: due 2021-03-13" in out
    assert "record unchanged" in out
    code, out, _ = cli(capsys, "check", "--format", "text", "--force")
    assert code == 0 and "signal" not in out  # told once
    # Results arrive: the signal stops, and that they came late starts.
    submitted = edited(
        overdue_trial,
        setting(
            resultsFirstSubmitDate="2021-05-20",
            lastUpdatePostDateStruct={"date": "2021-05-24", "type": "ACTUAL"},
        ),
    )
    registry.put(submitted)
    on(monkeypatch, D(2021, 6, 1))
    code, out, _ = cli(capsys, "check", "--format", "json", "--force")
    assert code == 1
    trial = json.loads(out)["trials"][0]
    events = {e["type"]: e for e in trial["events"]}
    assert events["signal_ended"]["headline"] == (
        "No longer: results probably overdue; results submitted 2021-05-20"
    )
    assert events["signal_started"]["data"]["signal"] == "results_late"
    # The audit reads the latest snapshot, offline.
    code, out, _ = cli(capsys, "audit", "--today", "2021-06-01", "--api-url", "http://127.0.0.1:9")
    assert code == 1 and "Results submitted 2 months after the deadline" in out


def test_fail_on_overdue(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    registry.put(overdue_trial)
    on(monkeypatch, D(2021, 3, 1))
    assert cli(capsys, "check", "NCT03418623")[0] == 0
    on(monkeypatch, D(2021, 4, 20))
    # A signal other than overdue does not fail a --fail-on overdue run…
    code, out, _ = cli(capsys, "check", "NCT03418623", "--fail-on", "status")
    assert code == 0 and "New signal" in out
    on(monkeypatch, D(2021, 3, 1))
    cli(capsys, "check", "NCT03418623")  # the signal stops again (as if the date moved)
    on(monkeypatch, D(2021, 4, 20))
    code, _, _ = cli(capsys, "check", "NCT03418623", "--fail-on", "overdue")
    assert code == 1


def test_signals_can_be_turned_off(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    registry.put(overdue_trial)
    Path("trialwatch.toml").write_text("signals = false\n", encoding="utf-8")
    on(monkeypatch, D(2021, 3, 1))
    assert cli(capsys, "check", "NCT03418623")[0] == 0
    on(monkeypatch, D(2021, 4, 20))
    code, out, _ = cli(capsys, "check", "NCT03418623")
    assert code == 0 and "signal" not in out


def test_a_signal_mail_could_not_carry_is_mailed_next_time(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    from tests.smtp_server import Mailbox, free_port, smtp_server

    registry.put(overdue_trial)
    port = free_port()
    Path("trialwatch.toml").write_text(
        'trials = ["NCT03418623"]\n\n[email]\nenabled = true\nto = ["w@example.org"]\n'
        f'from = "t@example.org"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        "timeout = 5\n",
        encoding="utf-8",
    )
    on(monkeypatch, D(2021, 3, 1))
    box = Mailbox()
    with smtp_server(box, port):
        assert cli(capsys, "check", "-q")[0] == 0
    assert box.messages == []  # a first check: no signal mailed
    on(monkeypatch, D(2021, 4, 20))
    code, out, err = cli(capsys, "check", "-q", "--force")  # the mail server is down
    assert code == 2 and "New signal: Results probably overdue" in out
    assert "kept and will be in the next run's digest" in err
    with smtp_server(box, port):
        code, out, _ = cli(capsys, "check", "-q", "--force")
        assert code == 0 and out == ""  # stdout was told already
        assert len(box.messages) == 1
        assert "NCT03418623" in box.messages[0]["Subject"]
        text = box.messages[0].get_body(preferencelist=("plain",)).get_content()
        assert text.count("New signal: Results probably overdue") == 1
        assert cli(capsys, "check", "-q", "--force")[0] == 0
        assert len(box.messages) == 1  # mailed once


def test_audit_fetch_refreshes_first_and_reports_nothing_itself(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    """audit --fetch stores the latest record; its change is still reported by the next check."""
    registry.put(overdue_trial)
    on(monkeypatch, D(2021, 3, 1))
    cli(capsys, "check", "NCT03418623")
    registry.put(edited(overdue_trial, setting(resultsFirstSubmitDate="2021-03-10")))
    code, out, _ = cli(capsys, "audit", "NCT03418623", "--fetch", "--today", "2021-06-01")
    assert code == 0 and "No signals: NCT03418623" in out  # audited from the fresh record
    code, out, _ = cli(capsys, "check", "NCT03418623", "--format", "text")
    assert code == 1 and "2021-03-10" in out  # the change was kept for check to report


def test_a_signal_the_calendar_starts_is_said_on_a_skipped_run(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overdue_trial: dict[str, Any],
) -> None:
    """The registry's data did not change (a weekend: nothing fetched), but the deadline
    passed: the signal is said from the snapshot, and only once."""
    registry.put(overdue_trial)
    Path("trialwatch.toml").write_text('trials = ["NCT03418623"]\n', encoding="utf-8")
    on(monkeypatch, D(2021, 3, 1))
    assert cli(capsys, "check", "-q")[0] == 0
    on(monkeypatch, D(2021, 4, 20))
    registry.requests.clear()
    code, out, err = cli(capsys, "check", "--format", "text")
    assert code == 1
    assert "registry data unchanged since the last complete run" in err
    assert "New signal: Results probably overdue" in out
    assert registry.requests == ["/api/v2/version"]  # nothing fetched
    code, out, _ = cli(capsys, "check", "--format", "text")
    assert code == 0 and "signal" not in out


def test_a_baseline_names_each_signal_once_with_what_it_is_about(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two estimated dates in the past are one signal name with both dates, not the name twice."""
    monkeypatch.setattr("trialwatch.usecases.common.today", lambda: dt.date(2026, 12, 4))
    reg = Registry()
    reg.put(load("NCT06224738.reconstructed.json"))  # start 2024-03 and completion 2026-03, est.
    with serve(reg) as url:
        code, out, err = cli(capsys, "check", "NCT06224738", "--api-url", url)
    assert code == 0, err
    assert (
        "Transparency signals in force: status not updated after completion; estimated date "
        "in the past (start, primary completion); verification overdue (trialwatch audit "
        "explains)"
    ) in out


def test_no_longer_verification_overdue_says_what_ended_it() -> None:
    """A new verification, or a trial now closed: each said as what ended the signal."""
    from trialwatch.audit.transitions import signal_events

    record = load("NCT06224738.reconstructed.json")  # not verified since 2024-01, open
    told = {"verification_overdue"}
    verified = edited(
        record, lambda r: r["protocolSection"]["statusModule"].update(statusVerifiedDate="2026-11")
    )
    (event,) = signal_events(told, [], verified)
    assert event.headline == "No longer: verification overdue; a new verification: verified 2026-11"
    closed = edited(
        record, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="WITHDRAWN")
    )
    (event,) = signal_events(told, [], closed)
    assert event.headline == (
        "No longer: verification overdue; the trial is now “Withdrawn”; last verified 2024-01"
    )
