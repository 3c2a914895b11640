"""An organisation's compliance desk (trialwatch audit --sponsor): every trial of the
organisation with its results state and due date, the 90-day calendar, and what moved since the
last audit, told once; on the folder and on PostgreSQL, from the store and from a registry
search by sponsor (the stand-in registry answers it, and the Results Submitted filter).

The organisation is Bayer. Its trials are real records with realistic edits, each said below:
three of Bayer's own (the 2023 download, registered June 2023 and not yet recruiting then) moved
on as trials do, and two real records of other sponsors transferred to Bayer (sponsorship moves
between organisations; trialwatch reports it as ``sponsor_changed``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest

from tests.conftest import FIXTURES, cli, edited, load
from tests.registry_server import Registry
from trialwatch.audit.desk import (
    ResultsState,
    belongs,
    calendar,
    name_matches,
    obligation,
    transitions,
)

pytestmark = pytest.mark.usefixtures("each_store")

DAY = dt.date(2026, 12, 7)
WEEK_LATER = dt.date(2026, 12, 14)
OVERDUE, DUE, IN_QC, RETURNED, POSTED = (
    "NCT05915728",
    "NCT05915702",
    "NCT05915026",
    "NCT02753764",
    "NCT04431453",
)


def _from(name: str, nct: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    studies = data["studies"] if isinstance(data, dict) else data
    for study in studies:
        if study["protocolSection"]["identificationModule"]["nctId"] == nct:
            assert isinstance(study, dict)
            return study
    raise AssertionError(f"{nct} is not in {name}")


def _status(record: dict[str, Any]) -> dict[str, Any]:
    module = record["protocolSection"]["statusModule"]
    assert isinstance(module, dict)
    return module


def _completed(day: str) -> Any:
    def edit(record: dict[str, Any]) -> None:
        s = _status(record)
        s["overallStatus"] = "COMPLETED"
        s["startDateStruct"] = {"date": "2023-07-26", "type": "ACTUAL"}
        s["primaryCompletionDateStruct"] = {"date": day, "type": "ACTUAL"}
        s["completionDateStruct"] = {"date": day, "type": "ACTUAL"}
        s["statusVerifiedDate"] = day[:7]

    return edit


def _to_bayer(record: dict[str, Any]) -> None:
    """The sponsorship transferred to Bayer (the responsible party stays who it was)."""
    module = record["protocolSection"]["sponsorCollaboratorsModule"]
    module["leadSponsor"] = {"name": "Bayer", "class": "INDUSTRY"}


def _tracking(*infos: dict[str, Any]) -> Any:
    """The 2026 download's submission tracking (NCT02753764's shape), with these submissions."""

    def edit(record: dict[str, Any]) -> None:
        record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})[
            "submissionTracking"
        ] = {
            "estimatedResultsFirstSubmitDate": infos[0]["releaseDate"],
            "submissionInfos": list(infos),
        }

    return edit


def organisation() -> dict[str, dict[str, Any]]:
    """Bayer's five trials as the registry serves them on 2026-12-07, and one that is not its."""
    bayer = "download-ctg-studies-2023-06-28.json"
    # Completed as planned (2024-10-31, now actual) and no results since: long overdue.
    overdue = edited(_from(bayer, OVERDUE), _completed("2024-10-31"))
    # Primary completion slipped to 2025-12-31 (actual): results due 2026-12-31, in 90 days.
    due = edited(_from(bayer, DUE), _completed("2025-12-31"))
    # Completed 2024-10-16, results submitted 2026-11-02 (within its deadline's certification
    # window is not needed: the submission is what counts): waiting for QC review.
    in_qc = edited(
        edited(_from(bayer, IN_QC), _completed("2024-10-16")),
        _tracking({"releaseDate": "2026-11-02"}),
    )
    # NCT02753764 (National Jewish Health, submitted 2026-04-08 in the 2026 download),
    # transferred to Bayer (its responsible party still Donald Leung, MD, PhD, of National
    # Jewish Health), and its submission returned by QC review on 2026-05-06.
    returned = edited(
        edited(_from("download-ctg-studies-2026-04-09.json", RETURNED), _to_bayer),
        _tracking({"releaseDate": "2026-04-08", "resetDate": "2026-05-06"}),
    )
    # NCT04431453 (Gilead, results posted), transferred to Bayer.
    posted = edited(load("NCT04431453.json"), _to_bayer)
    # Not Bayer's: Bayer only a collaborator of NCT03418623 (an overdue trial of another sponsor).
    other = edited(
        load("NCT03418623.json"),
        lambda r: r["protocolSection"]["sponsorCollaboratorsModule"].__setitem__(
            "collaborators", [{"name": "Bayer", "class": "INDUSTRY"}]
        ),
    )
    return {
        OVERDUE: overdue,
        DUE: due,
        IN_QC: in_qc,
        RETURNED: returned,
        POSTED: posted,
        "NCT03418623": other,
    }


def week_later(records: dict[str, dict[str, Any]]) -> None:
    """What the registry shows a week on: results posted for the overdue trial (submitted
    2026-11-20, posted 2026-12-10), and the trial in QC review returned on 2026-12-09."""
    s = _status(records[OVERDUE])
    s["resultsFirstSubmitDate"] = "2026-11-20"
    s["resultsFirstSubmitQcDate"] = "2026-12-08"
    s["resultsFirstPostDateStruct"] = {"date": "2026-12-10", "type": "ACTUAL"}
    records[OVERDUE]["hasResults"] = True
    _tracking({"releaseDate": "2026-11-02", "resetDate": "2026-12-09"})(records[IN_QC])


# --- the rules, on the records ----------------------------------------------------------------


def test_each_trial_has_one_results_state_and_its_due_date() -> None:
    records = organisation()
    found = {n: obligation(r, DAY, 30) for n, r in records.items()}
    assert found[OVERDUE].state is ResultsState.OVERDUE
    assert found[OVERDUE].due == dt.date(2025, 10, 31)
    assert found[OVERDUE].rule == "primary completion 2024-10-31 (actual) + 1 year"
    assert found[DUE].state is ResultsState.DUE and found[DUE].due == dt.date(2026, 12, 31)
    assert found[IN_QC].state is ResultsState.IN_QC_REVIEW
    assert found[IN_QC].reason == "submitted 2026-11-02, in QC review"
    assert found[RETURNED].state is ResultsState.RETURNED
    assert found[RETURNED].reason.startswith("returned by QC review on 2026-05-06 (1st round)")
    assert found[POSTED].state is ResultsState.POSTED
    assert found[POSTED].posted is not None
    # The collaborator-only trial is not Bayer's; the others are, by their lead sponsor.
    assert belongs(records["NCT03418623"], ["Bayer"]) is None
    assert belongs(records[OVERDUE], ["bayer"]) == "lead sponsor: Bayer"


def test_names_match_whole_words_case_insensitive() -> None:
    assert name_matches("Acme Oncology", "Acme Oncology, Inc.")
    assert name_matches("acme", "ACME Oncology")
    assert not name_matches("Acme", "Acmeco Inc.")
    assert not name_matches("Acme Oncology", "Acme Cardiology")
    assert not name_matches("", "Acme")


def test_a_responsible_investigators_organisation_counts() -> None:
    """NCT02753764's responsible party is a principal investigator of National Jewish Health."""
    record = _from("download-ctg-studies-2026-04-09.json", RETURNED)
    assert belongs(record, ["National Jewish"]) == "lead sponsor: National Jewish Health"
    record = edited(
        record,
        lambda r: r["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"].__setitem__(
            "name", "Donald Leung"
        ),
    )
    assert belongs(record, ["National Jewish Health"]) == (
        "responsible party's organisation: National Jewish Health"
    )


def test_the_calendar_holds_the_next_90_days_by_week() -> None:
    weeks = calendar(
        [
            ("NCT1", ResultsState.DUE, dt.date(2026, 12, 31)),  # a Thursday
            ("NCT2", ResultsState.DUE, dt.date(2026, 12, 28)),  # the Monday of that week
            ("NCT3", ResultsState.DUE, dt.date(2027, 3, 8)),  # 91 days on: out
            ("NCT4", ResultsState.OVERDUE, dt.date(2026, 12, 20)),  # not due: overdue
            ("NCT5", ResultsState.DUE, dt.date(2026, 12, 1)),  # passed, within grace
        ],
        DAY,
    )
    assert [(w.starts.isoformat(), [n for n, _ in w.trials]) for w in weeks] == [
        ("2026-12-28", ["NCT2", "NCT1"])
    ]


def test_transitions_say_why() -> None:
    records = organisation()
    before = {n: obligation(r, DAY, 30).memory() for n, r in records.items()}
    week_later(records)
    now = {n: obligation(r, WEEK_LATER, 30) for n, r in records.items()}
    said = {t.nct_id: t for t in transitions(before, now, 30)}
    assert set(said) == {OVERDUE, IN_QC}
    assert said[OVERDUE].reason == "no longer overdue: results posted on 2026-12-10"
    assert not said[OVERDUE].started and said[OVERDUE].signal == "results_overdue"
    assert said[IN_QC].reason == "returned by QC review (1st round) on 2026-12-09"
    assert said[IN_QC].started and said[IN_QC].signal == "results_returned"
    # A trial becoming overdue says the rule and the day it passed.
    before = {DUE: obligation(records[DUE], DAY, 30).memory()}
    later = {DUE: obligation(records[DUE], dt.date(2027, 2, 1), 30)}
    (moved,) = transitions(before, later, 30)
    assert moved.reason == (
        "newly overdue (primary completion 2025-12-31 (actual) + 1 year passed on 2026-12-31, "
        "30 days' grace ended; no results)"
    )


# --- the command, on each store ----------------------------------------------------------------


def test_an_organisations_desk_and_what_moved_a_week_later(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    records = organisation()
    for record in records.values():
        registry.put(record)
    code, out, err = cli(capsys, "check", *records, "--format", "json")
    assert code in (0, 1), err
    code, out, err = cli(
        capsys, "audit", "--sponsor", "Bayer", "--today", DAY.isoformat(), "--format", "json"
    )
    assert code == 1, err  # signals apply (results overdue)
    data = json.loads(out)
    assert data["schema"] == "trialwatch.audit/1"
    org = data["organisation"]
    assert org["first_audit"] is True and org["transitions"] == []
    states = {t["nct_id"]: t["results"]["state"] for t in data["trials"]}
    assert states == {
        OVERDUE: "overdue",
        RETURNED: "returned",
        DUE: "due",
        IN_QC: "in_qc_review",
        POSTED: "posted",
    }
    assert [t["nct_id"] for t in data["trials"]] == [OVERDUE, RETURNED, DUE, IN_QC, POSTED]
    assert org["results_states"] == {
        "overdue": 1, "returned": 1, "due": 1, "in_qc_review": 1, "posted": 1, "not_due": 0,
    }  # fmt: skip
    assert org["calendar"] == [
        {"week_of": "2026-12-28", "trials": [{"nct_id": DUE, "due": "2026-12-31"}]}
    ]
    overdue = data["trials"][0]
    assert overdue["results"]["due"] == "2025-10-31"
    assert overdue["results"]["rule"] == "primary completion 2024-10-31 (actual) + 1 year"
    assert "results_overdue" in {s["type"] for s in overdue["signals"]}

    # A week on, the registry posts the overdue trial's results and returns the one in review.
    week_later(records)
    for nct in (OVERDUE, IN_QC):
        registry.put(records[nct])
    code, out, err = cli(capsys, "check", *records, "--format", "json")
    assert code == 1, err
    code, out, err = cli(
        capsys, "audit", "--sponsor", "Bayer", "--today", WEEK_LATER.isoformat(), "--format",
        "text",
    )  # fmt: skip
    assert code == 1, err
    assert "Since the audit of 2026-12-07:" in out
    assert f"{OVERDUE}  no longer overdue: results posted on 2026-12-10" in out
    assert f"{IN_QC}  returned by QC review (1st round) on 2026-12-09" in out
    assert "week of 2026-12-28: NCT05915702 (due 2026-12-31)" in out
    # The transitions are events, filed once, that anything following events can route.
    code, out, err = cli(capsys, "events", "--type", "signal_started", "--type", "signal_ended",
                         "--format",
                         "json")  # fmt: skip
    rows = json.loads(out)["events"]
    assert sorted((r["nct_id"], r["type"]) for r in rows) == [
        (IN_QC, "signal_started"),
        (OVERDUE, "signal_ended"),
    ]
    assert {r["category"] for r in rows} == {"results"}
    # The same audit again that day shows the same transitions and files none twice.
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--today",
                         WEEK_LATER.isoformat(), "--format", "json")  # fmt: skip
    assert len(json.loads(out)["organisation"]["transitions"]) == 2
    code, out, err = cli(capsys, "events", "--type", "signal_started", "--type", "signal_ended",
                         "--format",
                         "json")  # fmt: skip
    assert len(json.loads(out)["events"]) == 2
    # The weekly run after that: told already, nothing moved.
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--today", "2026-12-21",
                         "--format", "text")  # fmt: skip
    assert "Nothing moved since the audit of 2026-12-14." in out


def test_fetch_searches_the_registry_by_sponsor_and_reads_results_submitted(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    records = organisation()
    for record in records.values():
        registry.put(record)
    # The registry's Results Submitted filter already lists the due trial: a submission its
    # record does not show yet.
    registry.listed_submitted.add(DUE)
    code, out, err = cli(
        capsys, "audit", "--sponsor", "Bayer", "--fetch", "--today", DAY.isoformat(),
        "--format", "csv",
    )  # fmt: skip
    assert code == 1, err
    rows = {r["nct_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {OVERDUE, DUE, IN_QC, RETURNED, POSTED}  # not the collaborator's
    assert rows[DUE]["results_state"] == "in_qc_review"
    assert "Results Submitted" in rows[DUE]["reason"]
    assert rows[OVERDUE]["due"] == "2025-10-31"
    assert [rows[n]["results_rank"] for n in (OVERDUE, RETURNED, IN_QC, POSTED)] == [
        "1", "2", "4", "5",
    ]  # fmt: skip
    searches = [r for r in registry.requests if "query.term" in r]
    assert searches and all("LeadSponsorName" in r for r in searches)
    assert any("aggFilters=ressub" in r for r in searches)


def test_a_registry_without_the_filter_is_a_note_not_a_failure(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for record in organisation().values():
        registry.put(record)
    monkeypatch.setattr("trialwatch.usecases.desk.RESULTS_SUBMITTED", "no-such-filter")
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--fetch", "--today",
                         DAY.isoformat(), "--format", "text")  # fmt: skip
    assert code == 1, err
    assert "Results Submitted filter could not be read" in out
    assert "5 trials: 1 overdue" in out


def test_bad_sponsor_input_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "audit", "--sponsor", "  ,  ")
    assert code == 2 and "has no word to match" in err and "Traceback" not in err
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "NCT05915728")
    assert code == 2 and "without NCT ids" in err
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--today", DAY.isoformat())
    assert code == 0 and "no trial of Bayer" in out and "--fetch" in out


def test_registry_text_is_escaped_in_every_format(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """A title with markup, a formula and a terminal escape (hostile, as registry text may be)."""
    records = organisation()
    hostile = '=HYPERLINK("http://x") <script>alert(1)</script> \x1b[31mred'
    records[OVERDUE]["protocolSection"]["identificationModule"]["briefTitle"] = hostile
    for record in records.values():
        registry.put(record)
    cli(capsys, "check", *records)
    args = ("audit", "--sponsor", "Bayer", "--today", DAY.isoformat(), "--format")
    _, page, _ = cli(capsys, *args, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    _, table, _ = cli(capsys, *args, "csv")
    row = next(r for r in csv.DictReader(io.StringIO(table)) if r["nct_id"] == OVERDUE)
    assert row["title"].startswith("'=")
    _, text, _ = cli(capsys, *args, "text")
    assert "\x1b" not in text


# --- to the person who can fix it ---------------------------------------------------------------


def _owner_config(url: str, port: int, owners: str) -> None:
    from pathlib import Path

    Path("trialwatch.toml").write_text(
        f'api_url = "{url}"\nrequest_interval = 0\n\n[email]\nto = ["office@example.org"]\n'
        'from = "trialwatch@example.org"\nhost = "127.0.0.1"\n'
        f'port = {port}\nsecurity = "none"\ntimeout = 5\n\n[owners]\n{owners}\n',
        encoding="utf-8",
    )


def test_each_person_gets_the_trials_they_answer_for(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.smtp_server import Mailbox, free_port, smtp_server

    records = organisation()
    for record in records.values():
        registry.put(record)
    url = registry_url()
    cli(capsys, "check", *records)
    # NCT02753764's responsible party is "Donald Leung, MD, PhD"; the posted trial's official
    # is "Gilead Study Director" (nothing to do: no mail).
    owners = (
        '"Donald Leung" = "leung@example.org"\n"Gilead Study Director" = ["disclosure@example.com"]'
    )
    box = Mailbox()
    with smtp_server(box) as port:
        _owner_config(url, port, owners)
        code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--mail-owners", "--today",
                             DAY.isoformat(), "--format", "json")  # fmt: skip
    assert code == 1, err
    assert "mailed leung@example.org (1 trials)" in err
    assert [m["To"] for m in box.messages] == ["leung@example.org"]
    msg = box.messages[0]
    assert msg["Subject"] == "[trialwatch] Your 1 trial at Bayer: 1 needs action"
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert RETURNED in text and "returned by QC review on 2026-05-06" in text
    assert OVERDUE not in text  # not his
    # A mail server that is down: said, exit 2, and the next audit mails the list again.
    _owner_config(url, free_port(), owners)
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--mail-owners", "--today",
                         DAY.isoformat(), "--format", "json")  # fmt: skip
    assert code == 2
    assert "mail to leung@example.org" in err and "next audit" in err and "Traceback" not in err
    # A broken table is a config error, before anything is audited.
    _owner_config(url, 25, '"Donald Leung" = "not an address"')
    code, out, err = cli(capsys, "audit", "--sponsor", "Bayer", "--mail-owners")
    assert code == 2 and "is not a mail address" in err and out == ""


def registry_url() -> str:
    """The stand-in registry's URL (the registry fixture exports it as a user would)."""
    import os

    return os.environ["TRIALWATCH_API_URL"]


def test_a_subscription_of_the_organisation_tells_each_person_their_trials(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """owners = true: the subscription's events go to its own address and, trial by trial, to
    the person [owners] names for it; the desk's transitions are events it routes too."""
    from tests.smtp_server import Mailbox, smtp_server

    records = organisation()
    for record in records.values():
        registry.put(record)
    url = registry_url()
    owners = '"Donald Leung" = "leung@example.org"'
    box = Mailbox()
    with smtp_server(box) as port:
        _owner_config(url, port, owners)
        extra = (
            '\n[[subscription]]\nname = "bayer"\nsponsor = "Bayer"\n'
            'when = \'category == "results"\'\nnotify = ["office@example.org"]\nowners = true\n'
        )
        with open("trialwatch.toml", "a", encoding="utf-8") as handle:
            handle.write(extra)
        ids = list(records)
        assert cli(capsys, "check", *ids, "-q")[0] in (0, 1)
        assert box.messages == []  # baselines are no news
        # QC review returns NCT02753764 a second time; the overdue trial's results are posted.
        _tracking(
            {"releaseDate": "2026-04-08", "resetDate": "2026-05-06"},
            {"releaseDate": "2026-06-01", "resetDate": "2026-07-01"},
        )(records[RETURNED])
        week_later(records)
        for nct in (RETURNED, OVERDUE, IN_QC):
            registry.put(records[nct])
        code, _, err = cli(capsys, "check", *ids, "-q")
        assert code == 1, err
    by_address = {m["To"]: m for m in box.messages}
    assert set(by_address) == {"office@example.org", "leung@example.org"}

    def text(address: str) -> str:
        part = by_address[address].get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    office, leung = text("office@example.org"), text("leung@example.org")
    assert RETURNED in office and OVERDUE in office and IN_QC in office
    assert RETURNED in leung and OVERDUE not in leung and IN_QC not in leung
    assert "returned by QC review (2nd return" in leung


def test_a_first_audit_that_finds_nothing_stays_the_first(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forgetting --fetch on an empty store records nothing: the audit that finds the trials
    is the first, not a list of "new to the organisation" transitions."""
    args = ("audit", "--sponsor", "Bayer", "--today", DAY.isoformat(), "--format", "json")
    code, out, _ = cli(capsys, *args)
    assert code == 0 and json.loads(out)["organisation"]["first_audit"] is True
    for record in organisation().values():
        registry.put(record)
    code, out, _ = cli(capsys, *args, "--fetch")
    org = json.loads(out)["organisation"]
    assert org["first_audit"] is True and org["transitions"] == []
