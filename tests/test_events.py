"""The event layer on real records (tests/fixtures, copied from the shared samples): each edit
below is one a sponsor or the registry makes, applied to a real record, and each must come out
as its headline sentence, with the field changes it explains."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import FIXTURES, load
from trialwatch.changes.differ import Comparison, compare, fill
from trialwatch.model import Attribution, EventType, Kind, Outcome, RunReport, TrialReport
from trialwatch.render.markdown import render_markdown
from trialwatch.render.text import render_text

Edit = Callable[[dict[str, Any]], None]


def ps(r: dict[str, Any]) -> dict[str, Any]:
    section = r["protocolSection"]
    assert isinstance(section, dict)
    return section


def status(r: dict[str, Any]) -> dict[str, Any]:
    module = ps(r)["statusModule"]
    assert isinstance(module, dict)
    return module


def from_download(nct: str) -> dict[str, Any]:
    """One study of the 2026-04-09 website download (real, newest data in the samples)."""
    studies = json.loads((FIXTURES / "download-ctg-studies-2026-04-09.json").read_text("utf-8"))
    for study in studies:
        if study["protocolSection"]["identificationModule"]["nctId"] == nct:
            assert isinstance(study, dict)
            return study
    raise AssertionError(nct)


def changed(record: dict[str, Any], edit: Edit) -> dict[str, Any]:
    new = copy.deepcopy(record)
    edit(new)
    return new


def run(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    nct = new["protocolSection"]["identificationModule"]["nctId"]
    return compare(nct, old, new)


def one(found: Comparison, type_: EventType) -> Any:
    events = [e for e in found.events if e.type is type_]
    assert len(events) == 1, [(e.type.value, e.headline) for e in found.events]
    event = events[0]
    ids = {c.id for c in found.changes}
    assert event.changes and set(event.changes) <= ids
    return event


def sponsor_update(day: str) -> Edit:
    def edit(r: dict[str, Any]) -> None:
        status(r)["lastUpdateSubmitDate"] = day
        status(r)["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}

    return edit


# --- outcome switching ------------------------------------------------------------------------


def test_primary_outcome_moved_to_secondary_is_major_switching() -> None:
    old = load("NCT03934567.json")

    def demote(r: dict[str, Any]) -> None:
        outcomes = ps(r)["outcomesModule"]
        outcomes["secondaryOutcomes"].insert(0, outcomes["primaryOutcomes"].pop(0))
        outcomes["primaryOutcomes"].append(
            {"measure": "Progression-free survival", "timeFrame": "Up to 2 years"}
        )
        sponsor_update("2025-07-01")(r)

    found = run(old, changed(old, demote))
    moved = one(found, EventType.OUTCOME_MOVED)
    assert moved.headline.startswith(
        "Outcome moved from primary to secondary (outcome switching): “Clinical effect"
    )
    assert "major" in moved.flags
    assert moved.attribution is Attribution.SPONSOR
    assert "2025-07-01" in moved.clue
    # The summary leads with it: primary outcomes come before dates and the rest.
    assert found.events[0] is moved or found.events[0].rank <= moved.rank


def test_primary_outcome_replaced_time_frame_and_reworded() -> None:
    old = load("NCT03630471.json")
    primary = old["protocolSection"]["outcomesModule"]["primaryOutcomes"]
    assert primary[0]["measure"] == "Mental health symptoms"

    def replace_it(r: dict[str, Any]) -> None:
        ps(r)["outcomesModule"]["primaryOutcomes"][0] = {
            "measure": "Remission of the presenting problem",
            "description": "Rated by the participant on a four-point scale",
            "timeFrame": "12 weeks",
        }

    found = run(old, changed(old, replace_it))
    event = one(found, EventType.OUTCOME_REPLACED)
    # The record's primary completion (2019-01-20, actual) had passed when it was edited.
    assert event.headline == (
        "Primary outcome replaced (outcome switching): “Mental health symptoms” → "
        "“Remission of the presenting problem” — changed after primary completion (2019-01-20, "
        "actual; edited 2023-11-06)"
    )
    assert "after_completion" in event.flags

    def frame(r: dict[str, Any]) -> None:
        ps(r)["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "12 weeks"

    found = run(old, changed(old, frame))
    event = one(found, EventType.OUTCOME_TIME_FRAME)
    assert event.headline.startswith("Primary outcome “Mental health symptoms”: time frame")
    assert "→ “12 weeks”" in event.headline


def test_reworded_measure_shows_the_words_that_changed() -> None:
    old = load("NCT03934567.json")

    def reword(r: dict[str, Any]) -> None:
        first = ps(r)["outcomesModule"]["primaryOutcomes"][0]
        first["measure"] = first["measure"].replace("objective response rate", "overall response")

    event = one(run(old, changed(old, reword)), EventType.OUTCOME_REWORDED)
    assert "[objective response rate → overall response]" in event.headline
    assert "Primary outcome measure reworded" in event.headline


def test_cosmetic_outcome_edit_is_called_cosmetic() -> None:
    old = load("NCT03630471.json")

    def retype(r: dict[str, Any]) -> None:
        ps(r)["outcomesModule"]["primaryOutcomes"][0]["measure"] = "Mental Health Symptoms."

    event = one(run(old, changed(old, retype)), EventType.OUTCOME_COSMETIC)
    assert "case or punctuation only" in event.headline


def test_assessor_change_in_the_description() -> None:
    old = load("NCT03934567.json")
    first = old["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]
    assert "independent" in first["measure"].lower() or first.get("description")

    def assessor(r: dict[str, Any]) -> None:
        item = ps(r)["outcomesModule"]["primaryOutcomes"][0]
        item["description"] = (item.get("description") or "ORR") + " Assessed by the investigator."

    event = one(run(old, changed(old, assessor)), EventType.OUTCOME_DESCRIPTION)
    assert "assessor changed in the description" in event.headline


def test_outcome_edits_with_results_entry_are_likely_administrative() -> None:
    old = load("NCT03630471.json")

    def with_results(r: dict[str, Any]) -> None:
        ps(r)["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "6 weeks post-randomisation"
        status(r)["resultsFirstSubmitDate"] = "2024-02-01"

    event = one(run(old, changed(old, with_results)), EventType.OUTCOME_TIME_FRAME)
    assert "likely_administrative" in event.flags
    assert "likely administrative" in event.headline


def test_one_time_frame_edit_on_every_outcome_is_one_event() -> None:
    old = load("NCT04431453.json")
    outcomes = old["protocolSection"]["outcomesModule"]
    total = sum(len(outcomes.get(k, [])) for k in ("primaryOutcomes", "secondaryOutcomes"))
    assert total >= 3

    def shorten(r: dict[str, Any]) -> None:
        for key in ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes"):
            for item in ps(r)["outcomesModule"].get(key, []):
                item["timeFrame"] = "Up to 58 months"

    found = run(old, changed(old, shorten))
    frames = [e for e in found.events if e.type is EventType.OUTCOME_TIME_FRAME]
    assert len(frames) == 1, [e.headline for e in frames]
    assert f"on all {total} outcomes" in frames[0].headline or "outcomes" in frames[0].headline


# --- results lifecycle ------------------------------------------------------------------------


def _before_submission(r: dict[str, Any]) -> None:
    """NCT02753764 as it stood before its results went in (the real record has them under QC)."""
    del r["derivedSection"]["miscInfoModule"]["submissionTracking"]


def test_results_submitted_says_where_the_trial_stands() -> None:
    new = from_download("NCT02753764")
    old = changed(new, _before_submission)
    event = one(run(old, new), EventType.RESULTS_SUBMITTED)
    # Primary completion 2019-02-25 (actual): due a year later; submitted 2026-04-08.
    assert event.headline.startswith("Results submitted for QC review (2026-04-08)")
    assert "due 2020-02-25 (primary completion 2019-02-25, actual + 1 year)" in event.headline
    assert "6 years 1 month after the deadline" in event.headline
    assert event.attribution is Attribution.SPONSOR


def test_results_returned_by_qc_then_resubmitted() -> None:
    submitted = from_download("NCT02753764")

    def returned(r: dict[str, Any]) -> None:
        infos = r["derivedSection"]["miscInfoModule"]["submissionTracking"]["submissionInfos"]
        infos[0]["resetDate"] = "2026-05-12"

    old, new = submitted, changed(submitted, returned)
    event = one(run(old, new), EventType.RESULTS_RETURNED)
    # Names the submission it answers and the deadline the submission was measured against.
    assert event.headline == (
        "Results submitted 2026-04-08 returned by QC review (1st return, 2026-05-12); "
        "results were due 2020-02-25 (primary completion 2019-02-25, actual + 1 year)"
    )
    assert event.attribution is Attribution.REGISTRY

    def resubmitted(r: dict[str, Any]) -> None:
        infos = r["derivedSection"]["miscInfoModule"]["submissionTracking"]["submissionInfos"]
        infos.append({"releaseDate": "2026-06-03"})

    event = one(run(new, changed(new, resubmitted)), EventType.RESULTS_RESUBMITTED)
    assert event.headline.startswith("Results re-submitted after the 1st QC return (2026-06-03)")


def test_qc_events_from_the_annotation_section() -> None:
    new = from_download("NCT02753764")

    def annotated(events: list[dict[str, Any]]) -> Edit:
        def edit(r: dict[str, Any]) -> None:
            r["annotationSection"] = {
                "annotationModule": {"unpostedAnnotation": {"unpostedEvents": events}}
            }

        return edit

    first = changed(new, annotated([{"type": "RELEASE", "date": "2026-04-08"}]))
    second = changed(
        new,
        annotated(
            [
                {"type": "RELEASE", "date": "2026-04-08"},
                {"type": "RESET", "date": "2026-05-12"},
                {"type": "RELEASE", "date": "2026-06-03"},
                {"type": "RESET", "date": "2026-07-20"},
            ]
        ),
    )
    found = run(first, second)
    returns = [e.headline for e in found.events if e.type is EventType.RESULTS_RETURNED]
    assert returns == [
        "Results submitted 2026-04-08 returned by QC review (1st return, 2026-05-12)"
        "; results were due 2020-02-25 (primary completion 2019-02-25, actual + 1 year)",
        # The deadline is said once in a step, not again in each headline of it.
        "Results submitted 2026-06-03 returned by QC review (2nd return, 2026-07-20)",
    ]
    one(found, EventType.RESULTS_RESUBMITTED)
    text = _text(first, second)
    assert "Unposted" not in text and "#" not in text.split("\n", 1)[1]


def test_submission_cancelled() -> None:
    new = from_download("NCT02753764")

    def cancel(r: dict[str, Any]) -> None:
        infos = r["derivedSection"]["miscInfoModule"]["submissionTracking"]["submissionInfos"]
        infos[0]["unreleaseDate"] = "2026-04-20"

    event = one(run(new, changed(new, cancel)), EventType.RESULTS_CANCELLED)
    assert event.headline == "Results submission cancelled by the sponsor (2026-04-20)"


def test_certification_to_delay_results() -> None:
    old = load("NCT03418623.json")

    def certify(r: dict[str, Any]) -> None:
        status(r)["dispFirstSubmitDate"] = "2019-03-01"
        status(r)["dispFirstSubmitQcDate"] = "2019-03-01"
        status(r)["dispFirstPostDateStruct"] = {"date": "2019-03-05", "type": "ACTUAL"}

    found = run(old, changed(old, certify))
    event = one(found, EventType.RESULTS_DELAY_CERTIFIED)
    assert event.headline.startswith(
        "Certification or extension request to delay results filed (2019-03-01)"
    )
    assert "+ 3 years (delay certified)" in event.headline
    text = _text(old, changed(old, certify))
    assert "Disp" not in text and "struct" not in text.lower()


def test_results_posted_names_the_wait() -> None:
    new = load("NCT03064438.json")

    def unposted(r: dict[str, Any]) -> None:
        del r["resultsSection"]
        r["hasResults"] = False
        for key in ("resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"):
            del status(r)[key]

    found = run(changed(new, unposted), new)
    event = one(found, EventType.RESULTS_POSTED)
    assert event.headline.startswith("Results posted (2021-08-23); first submitted on 2021-08-17")
    assert "2 years 2 months after the deadline" in event.headline
    assert event.attribution is Attribution.REGISTRY


# --- registry actions -------------------------------------------------------------------------


def test_registry_sets_unknown_status_after_two_years_unverified() -> None:
    new = load("NCT04207047.json")  # UNKNOWN, last known ACTIVE_NOT_RECRUITING, verified 2019-12

    def before(r: dict[str, Any]) -> None:
        status(r)["overallStatus"] = "ACTIVE_NOT_RECRUITING"
        del status(r)["lastKnownStatus"]

    found = run(changed(new, before), new)
    event = one(found, EventType.STATUS_UNKNOWN)
    assert event.attribution is Attribution.REGISTRY
    assert "not verified the record since 2019-12" in event.headline
    assert "last known status: Active, not recruiting" in event.headline


def test_publication_linked_from_pubmed() -> None:
    new = from_download("NCT04650464")  # one DERIVED reference
    ref = new["protocolSection"]["referencesModule"]["references"][0]

    def unlinked(r: dict[str, Any]) -> None:
        del r["protocolSection"]["referencesModule"]

    event = one(run(changed(new, unlinked), new), EventType.PUBLICATION_LINKED)
    assert event.attribution is Attribution.REGISTRY
    assert f"(PMID {ref['pmid']})" in event.headline
    assert "Cardiopulmonary fitness in children" in event.headline  # by its title, not authors


def test_first_posted_becoming_actual_is_silent_bookkeeping() -> None:
    old = load("NCT06171568.json")  # first posted 2023-12-14, still ESTIMATED in this capture
    assert old["protocolSection"]["statusModule"]["studyFirstPostDateStruct"]["type"] == "ESTIMATED"

    def published(r: dict[str, Any]) -> None:
        status(r)["studyFirstPostDateStruct"]["type"] = "ACTUAL"

    new = changed(old, published)
    found = run(old, new)
    event = one(found, EventType.FIRST_POSTED_ACTUAL)
    assert event.silent and event.attribution is Attribution.REGISTRY
    assert not any(c.material for c in found.changes)
    report = _report(old, new)
    assert report.trials[0].outcome is Outcome.UNCHANGED


# --- after the fact ---------------------------------------------------------------------------


def test_date_pushed_back_after_it_had_passed() -> None:
    old = load("NCT03475563.json")  # primary completion estimated, in the past of its update

    def slip(r: dict[str, Any]) -> None:
        status(r)["primaryCompletionDateStruct"] = {"date": "2021-06", "type": "ESTIMATED"}
        sponsor_update("2020-11-02")(r)

    before = old["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"]
    found = run(old, changed(old, slip))
    event = one(found, EventType.DATE_AFTER_THE_FACT)
    assert "after_the_fact" in event.flags
    assert f"({before} → 2021-06" in event.headline
    assert (
        "moved 10 months after the old date had passed (edited 2020-11-02; the registry asks "
        "for updates within 30 days)"
    ) in event.headline
    change = next(c for c in found.changes if c.id in event.changes)
    assert change.computed["after_the_fact"] is True
    assert change.computed["slip_days"] > 0


def test_a_date_confirmed_soon_after_it_passed_is_the_normal_course() -> None:
    old = load("NCT03475563.json")  # primary completion 2019-12-30, estimated

    def confirmed(day: str, edited: str) -> Any:
        def edit(r: dict[str, Any]) -> None:
            status(r)["primaryCompletionDateStruct"] = {"date": day, "type": "ACTUAL"}
            sponsor_update(edited)(r)

        return edit

    # Replaced by the actual day two weeks later, and recorded within the 30 days: no flag.
    found = run(old, changed(old, confirmed("2020-01-14", "2020-01-30")))
    event = one(found, EventType.DATE_BECAME_ACTUAL)
    assert "after_the_fact" not in event.flags and "after the old date" not in event.headline

    # Moved (still an estimate) a week after the old date passed: within the window, no flag.
    def nudged(r: dict[str, Any]) -> None:
        status(r)["primaryCompletionDateStruct"] = {"date": "2020-02-28", "type": "ESTIMATED"}
        sponsor_update("2020-01-06")(r)

    found = run(old, changed(old, nudged))
    assert not [e for e in found.events if e.type is EventType.DATE_AFTER_THE_FACT]
    # Recorded months late: said as a late update, not as a date moved after the fact.
    found = run(old, changed(old, confirmed("2019-12-30", "2020-06-15")))
    event = one(found, EventType.DATE_BECAME_ACTUAL)
    assert "late_update" in event.flags and "after_the_fact" not in event.flags
    assert "recorded 6 months after it happened (edited 2020-06-15; the registry asks" in (
        event.headline
    )


def test_actual_date_edited_and_reverted() -> None:
    old = load("NCT03934567.json")  # primary completion ACTUAL 2025-01-29

    def edit_actual(r: dict[str, Any]) -> None:
        status(r)["primaryCompletionDateStruct"]["date"] = "2025-02-14"

    one(run(old, changed(old, edit_actual)), EventType.ACTUAL_DATE_EDITED)

    def revert(r: dict[str, Any]) -> None:
        status(r)["primaryCompletionDateStruct"] = {"date": "2025-09-30", "type": "ESTIMATED"}

    event = one(run(old, changed(old, revert)), EventType.DATE_REVERTED_TO_ESTIMATED)
    assert "an actual date went back to an estimate" in event.headline


def test_enrollment_changed_after_completion() -> None:
    old = load("NCT03418623.json")  # COMPLETED, actual enrollment
    assert old["protocolSection"]["designModule"]["enrollmentInfo"]["type"] == "ACTUAL"
    count = old["protocolSection"]["designModule"]["enrollmentInfo"]["count"]

    def recount(r: dict[str, Any]) -> None:
        ps(r)["designModule"]["enrollmentInfo"]["count"] = count + 7

    found = run(old, changed(old, recount))
    event = one(found, EventType.ENROLLMENT_AFTER_CLOSE)
    assert "after the trial was completed" in event.headline
    change = next(c for c in found.changes if c.id in event.changes)
    assert change.computed["enrollment_change"] == 7


def test_status_regression() -> None:
    old = load("NCT03418623.json")  # COMPLETED

    def reopen(r: dict[str, Any]) -> None:
        status(r)["overallStatus"] = "RECRUITING"

    found = run(old, changed(old, reopen))
    event = one(found, EventType.STATUS_REGRESSION)
    assert event.headline == "Overall status went backwards: Completed → Recruiting"
    assert found.events[0] is event
    assert next(c for c in found.changes if c.id in event.changes).computed["regression"]


@pytest.mark.parametrize(
    ("before", "after", "headline"),
    [
        # Withdrawn is a trial halted before its first participant: a stop, not a step back.
        (
            "NOT_YET_RECRUITING",
            "WITHDRAWN",
            "Withdrawn before enrolling anyone (Not yet recruiting → Withdrawn)",
        ),
        ("RECRUITING", "WITHDRAWN", "Withdrawn before enrolling anyone (Recruiting → Withdrawn)"),
        # A suspension is a pause; its end is a resumption.
        ("ACTIVE_NOT_RECRUITING", "SUSPENDED", "Suspended (Active, not recruiting → Suspended)"),
        ("SUSPENDED", "RECRUITING", "Resumed after a suspension (Suspended → Recruiting)"),
        # An ending corrected is no reopening.
        ("TERMINATED", "COMPLETED", "Overall status Terminated → Completed"),
    ],
)
def test_stops_and_corrections_are_not_went_backwards(
    before: str, after: str, headline: str
) -> None:
    old = changed(load("NCT03418623.json"), lambda r: status(r).update(overallStatus=before))
    found = run(old, changed(old, lambda r: status(r).update(overallStatus=after)))
    assert not [e for e in found.events if e.type is EventType.STATUS_REGRESSION]
    event = one(found, EventType.STATUS_CHANGED)
    assert event.headline == headline
    assert "backwards" not in event.headline and "regression" not in event.flags


@pytest.mark.parametrize(
    ("before", "after"),
    [("COMPLETED", "RECRUITING"), ("TERMINATED", "RECRUITING"), ("WITHDRAWN", "RECRUITING")],
)
def test_a_real_reopening_still_went_backwards(before: str, after: str) -> None:
    old = changed(load("NCT03418623.json"), lambda r: status(r).update(overallStatus=before))
    found = run(old, changed(old, lambda r: status(r).update(overallStatus=after)))
    assert one(found, EventType.STATUS_REGRESSION).headline.startswith(
        "Overall status went backwards"
    )


# --- sponsors ---------------------------------------------------------------------------------


def test_a_new_lead_sponsor_is_one_headline() -> None:
    old = load("NCT03418623.json")  # lead Laboratorio Farmaceutico Ct S.r.l., collaborator Latis

    def acquired(r: dict[str, Any]) -> None:
        module = ps(r)["sponsorCollaboratorsModule"]
        module["leadSponsor"] = {"name": "Recordati S.p.A.", "class": "INDUSTRY"}
        module["collaborators"] = [
            {"name": "Latis S.r.l.", "class": "INDUSTRY"},
            {"name": "Laboratorio Farmaceutico Ct S.r.l.", "class": "INDUSTRY"},
        ]

    found = run(old, changed(old, acquired))
    event = one(found, EventType.SPONSOR_CHANGED)
    assert event.headline == "Lead sponsor: Laboratorio Farmaceutico Ct S.r.l. → Recordati S.p.A."
    collab = one(found, EventType.COLLABORATORS_CHANGED)
    assert collab.headline == "Collaborator: Laboratorio Farmaceutico Ct S.r.l. joined"
    # Every sponsor change is explained by one of the two headlines: none left in the details.
    explained = {i for e in found.events for i in e.changes}
    sponsor_changes = [c for c in found.changes if "sponsorCollaboratorsModule" in c.path]
    assert sponsor_changes and all(c.id in explained for c in sponsor_changes)


def test_collaborators_leaving_and_a_sponsor_spelled_anew() -> None:
    old = load("NCT06171568.json")  # AP-HP, two collaborators

    def edit(r: dict[str, Any]) -> None:
        module = ps(r)["sponsorCollaboratorsModule"]
        module["leadSponsor"]["name"] = "ASSISTANCE PUBLIQUE - HÔPITAUX DE PARIS"
        module["collaborators"] = []

    found = run(old, changed(old, edit))
    assert not [e for e in found.events if e.type is EventType.SPONSOR_CHANGED]  # same sponsor
    event = one(found, EventType.COLLABORATORS_CHANGED)
    assert event.headline == (
        "Collaborators: SBT Human(s) Matter, Clinical Research Unit Saint Louis Lariboisière left"
    )


# --- eligibility ------------------------------------------------------------------------------


def test_eligibility_loosened_and_tightened() -> None:
    old = load("NCT03418623.json")  # 21 Years minimum, no maximum, no healthy volunteers

    def loosen(r: dict[str, Any]) -> None:
        ps(r)["eligibilityModule"]["minimumAge"] = "18 Years"
        ps(r)["eligibilityModule"]["healthyVolunteers"] = True

    event = one(run(old, changed(old, loosen)), EventType.ELIGIBILITY_LOOSENED)
    assert event.headline == (
        "Eligibility loosened: minimum age 21 years → 18 years; healthy volunteers now accepted"
    )

    def tighten(r: dict[str, Any]) -> None:
        ps(r)["eligibilityModule"]["maximumAge"] = "30 Years"
        ps(r)["eligibilityModule"]["sex"] = "FEMALE"

    event = one(run(old, changed(old, tighten)), EventType.ELIGIBILITY_TIGHTENED)
    assert "maximum age 40 years → 30 years" in event.headline
    assert "now women only (was all sexes)" in event.headline


def test_criteria_item_reworded_shows_words() -> None:
    old = load("NCT02552212.json")
    text = old["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    line = next(ln for ln in text.split("\n") if len(ln.split()) > 20)

    def reword(r: dict[str, Any]) -> None:
        words = line.split()
        words[len(words) // 2] = "substantially"
        ps(r)["eligibilityModule"]["eligibilityCriteria"] = text.replace(line, " ".join(words))

    found = run(old, changed(old, reword))
    sentences = [c.sentence for c in found.changes]
    assert len(sentences) == 1 and "reworded" in sentences[0]
    assert "→ substantially]" in sentences[0], sentences


# --- sites ------------------------------------------------------------------------------------


def test_site_renamed_at_the_same_place() -> None:
    old = load("NCT02552212.json")
    site = old["protocolSection"]["contactsLocationsModule"]["locations"][0]

    def rename(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["locations"][0]["facility"] = "Renamed Research Center"

    found = run(old, changed(old, rename))
    event = one(found, EventType.SITE_RENAMED)
    assert event.headline.startswith(f"Site renamed: “{site['facility']}” → “Renamed Research")
    assert not [e for e in found.events if e.type is EventType.SITES_CHANGED]


def test_same_named_sites_are_told_apart_by_zip_and_status() -> None:
    old = load("page-2025-06-17T11-15-33-773Z.json".replace(".json", ".json"))["studies"][0]
    sites = old["protocolSection"]["contactsLocationsModule"]["locations"]
    twin = copy.deepcopy(sites[0])
    twin["zip"], twin["status"] = "99999", "NOT_YET_RECRUITING"
    sites.insert(1, twin)

    def close_the_twin(r: dict[str, Any]) -> None:
        locations = ps(r)["contactsLocationsModule"]["locations"]
        locations[1]["status"] = "RECRUITING"
        locations.reverse()  # order is not meaning

    found = run(old, changed(old, close_the_twin))
    moves = [c for c in found.changes if c.label == "Site recruitment status"]
    assert len(moves) == 1, [c.sentence for c in found.changes]
    assert moves[0].old == "NOT_YET_RECRUITING" and moves[0].new == "RECRUITING"
    assert not [c for c in found.changes if "zip" in c.path]


def test_sites_counted_with_countries() -> None:
    old = load("NCT03934567.json")  # 26 sites in China

    def grow(r: dict[str, Any]) -> None:
        locations = ps(r)["contactsLocationsModule"]["locations"]
        del locations[3]
        locations.append(
            {"facility": "Toronto General Hospital", "city": "Toronto", "country": "Canada"}
        )
        locations.append(
            {"facility": "Vancouver General Hospital", "city": "Vancouver", "country": "Canada"}
        )

    found = run(old, changed(old, grow))
    event = one(found, EventType.SITES_CHANGED)
    assert event.headline.startswith("+2 sites, −1 site (net +1; now 27 sites)")
    assert "first site in Canada" in event.headline
    added = [c for c in found.changes if c.label == "Site" and c.kind is Kind.ADDED]
    assert len(added) == 2 and all(c.pointer.startswith("/protocolSection/") for c in added)


def test_one_contact_added_at_many_sites_is_one_line() -> None:
    old = load("NCT02552212.json")
    n = len(old["protocolSection"]["contactsLocationsModule"]["locations"])

    def placeholder(r: dict[str, Any]) -> None:
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            site.setdefault("contacts", []).append(
                {"name": "Principal Investigator", "role": "PRINCIPAL_INVESTIGATOR"}
            )

    new = changed(old, placeholder)
    found = run(old, new)
    event = one(found, EventType.GROUPED_EDIT)
    assert event.headline.startswith(f"Contact added at all {n} sites: ")
    assert "Principal Investigator" in event.headline
    assert len(event.changes) == n
    text = _text(old, new)
    assert len(text.splitlines()) < 50  # not one line per site


# --- the report -------------------------------------------------------------------------------


def _report(old: dict[str, Any], new: dict[str, Any]) -> RunReport:
    nct = new["protocolSection"]["identificationModule"]["nctId"]
    trial = TrialReport(nct_id=nct, outcome=Outcome.UNCHANGED, previous_snapshot="old.json")
    fill(trial, compare(nct, old, new), show_admin=False)
    return RunReport(generated_at="2026-12-02T00:00:00Z", trials=[trial])


def _text(old: dict[str, Any], new: dict[str, Any]) -> str:
    return render_text(_report(old, new))


def test_summary_leads_in_reader_order() -> None:
    old = load("NCT03934567.json")

    def many(r: dict[str, Any]) -> None:
        ps(r)["descriptionModule"]["briefSummary"] += " Updated."
        ps(r)["designModule"]["enrollmentInfo"]["count"] = 30
        status(r)["completionDateStruct"] = {"date": "2026-06-30", "type": "ESTIMATED"}
        ps(r)["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "Up to 3 years"
        status(r)["overallStatus"] = "TERMINATED"
        status(r)["whyStopped"] = "Business decision"

    text = _text(old, changed(old, many))
    lines = text.splitlines()
    summary = lines.index("  Summary")
    order = [ln.strip() for ln in lines[summary + 1 :] if ln.startswith("    ▸")]
    assert order[0].startswith("▸ Overall status Active, not recruiting → Terminated")
    assert order[1].startswith("▸ Primary outcome")
    assert order[2].startswith("▸ Study completion")
    assert order[3].startswith("▸ Actual enrollment")
    assert "Brief summary edited" in text.split("  Details", 1)[1]


def test_markdown_summary_first_details_folded_and_capped() -> None:
    old = load("NCT02552212.json")

    def big(r: dict[str, Any]) -> None:
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            site["facility"] = site.get("facility", "") + " " + "Research Institute " * 40
        ps(r)["descriptionModule"]["briefSummary"] += " More."

    report = _report(old, changed(old, big))
    full = render_markdown(report, limit=None)
    assert full.index("**Summary**") < full.index("<details><summary>Details")
    many = RunReport(
        generated_at="2026-12-02T00:00:00Z",
        trials=[
            TrialReport(
                nct_id=f"NCT0000{i:04d}",
                outcome=Outcome.CHANGED,
                changes=report.trials[0].changes,
                events=report.trials[0].events,
            )
            for i in range(30)
        ],
    )
    capped = render_markdown(many)
    assert len(capped) <= 65536
    assert "Cut to fit GitHub's 65,536-character limit" in capped
    assert "`--format json` has everything" in capped


@pytest.mark.parametrize("fixture", ["NCT03934567.json", "NCT02552212.json", "NCT06171568.json"])
def test_no_change_controls_stay_silent(fixture: str) -> None:
    old = load(fixture)

    def reorder(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"].get("locations", []).reverse()
        outcomes = ps(r).get("outcomesModule", {})
        for key in ("primaryOutcomes", "secondaryOutcomes"):
            outcomes.get(key, []).reverse()
        r["derivedSection"]["miscInfoModule"]["versionHolder"] = "2099-01-01"

    found = run(old, changed(old, reorder))
    assert found.events == [] and found.changes == []


# --- properties over the sample corpus --------------------------------------------------------


def _corpus() -> list[dict[str, Any]]:
    records = [load(p.name) for p in sorted(FIXTURES.glob("NCT*.json"))]
    for name in ("download-ctg-studies-2023-06-28.json", "download-ctg-studies-2026-04-09.json"):
        records += json.loads((FIXTURES / name).read_text("utf-8"))
    return records


def _free_text_and_codes(records: list[dict[str, Any]]) -> tuple[str, set[str]]:
    from trialwatch.changes.words import ENUM_FIELDS

    codes: set[str] = set()
    free: list[str] = []

    def walk(value: Any, key: str | None = None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if key in ENUM_FIELDS and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
                codes.add(value)
            else:
                free.append(value)

    for r in records:
        walk(r)
    text = "\n".join(free)
    # A code that is also a word in the registry's own text (an acronym) cannot be told apart.
    return text, {c for c in codes if not re.search(rf"\b{c}\b", text)}


def _resolve(record: Any, at: str) -> bool:
    node = record
    for part in at.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


@pytest.mark.slow
def test_every_pair_of_sample_records_reads_in_words_and_hides_nothing() -> None:
    """Each sample record against the next (different trials: every field differs, every
    shape is met): no enum code, API field name or "#N" in the text or Markdown report; every
    change has a pointer that resolves and a unique (pointer, item); every event points at
    changes the JSON holds."""
    records = _corpus()
    free, codes = _free_text_and_codes(records)
    camel = re.compile(r"\b[a-z]+[A-Z][A-Za-z]+\b")
    leaks: dict[str, str] = {}
    assert len(records) >= 30 and len(codes) >= 20
    for i, old in enumerate(records):
        new = records[(i + 1) % len(records)]
        found = compare("NCT00000000", old, new)
        ids = [c.id for c in found.changes]
        assert len(ids) == len(set(ids))
        keys = [(c.kind is Kind.REMOVED, c.pointer, c.item) for c in found.changes]
        assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1][:3]
        for c in found.changes:
            assert _resolve(old if c.kind is Kind.REMOVED else new, c.pointer), (c.pointer, c.path)
        for e in found.events:
            assert set(e.changes) <= set(ids)
        trial = TrialReport(nct_id="NCT00000000", outcome=Outcome.UNCHANGED)
        fill(trial, found, show_admin=True)
        report = RunReport(generated_at="2026-12-02T00:00:00Z", trials=[trial])
        shown = {c.id for c in trial.changes}
        assert {c.id for c in found.changes if c.material} <= shown
        for line in (render_text(report) + render_markdown(report, limit=None)).splitlines():
            hits = [c for c in codes if re.search(rf"\b{c}\b", line)]
            hits += [w for w in camel.findall(line) if w not in free]
            hits += [
                w for w in re.findall(r"\w*(?:Struct|Module|Section)\b|#\d+", line) if w not in free
            ]
            for hit in hits:
                leaks.setdefault(hit, line[:160])
    assert not leaks, leaks


def test_one_word_edited_in_a_long_text_shows_the_words_around_it() -> None:
    old = load("NCT03934567.json")
    summary = old["protocolSection"]["descriptionModule"]["briefSummary"]
    assert len(summary) > 200

    def typo(r: dict[str, Any]) -> None:
        ps(r)["descriptionModule"]["briefSummary"] = summary.replace(
            "abexinostat", "Abexinostat", 1
        )

    found = run(old, changed(old, typo))
    assert len(found.changes) == 1
    change = found.changes[0]
    assert change.sentence == "Brief summary edited (1 passage reworded)"
    assert len(change.details) == 1 and change.details[0].startswith("~ “")
    assert "[abexinostat, → Abexinostat,]" in change.details[0]
    assert len(change.details[0]) < len(summary)


def test_the_first_qc_return_arrives_with_a_new_annotation_section() -> None:
    """A record that had no annotations gets its first: the whole annotationSection is new."""
    submitted = from_download("NCT02753764")
    assert "annotationSection" not in submitted

    def returned(r: dict[str, Any]) -> None:
        r["annotationSection"] = {
            "annotationModule": {
                "unpostedAnnotation": {
                    "unpostedResponsibleParty": "Sponsor",
                    "unpostedEvents": [
                        {"type": "RELEASE", "date": "2026-04-08"},
                        {"type": "RESET", "date": "2026-05-12"},
                    ],
                }
            }
        }

    found = run(submitted, changed(submitted, returned))
    event = one(found, EventType.RESULTS_RETURNED)
    assert event.headline == (
        "Results submitted 2026-04-08 returned by QC review (1st return, 2026-05-12)"
        "; results were due 2020-02-25 (primary completion 2019-02-25, actual + 1 year)"
    )
    assert [c.path for c in found.changes if c.id in event.changes] == ["annotationSection"]
    assert not [e for e in found.events if e.type is EventType.RESULTS_SUBMITTED]


def test_two_hospitals_of_one_city_are_not_a_rename() -> None:
    """The registry geocodes sites to their city: a hospital that left and another of the same
    city that came are one site removed and one added, not a site renamed."""
    old = load("NCT03934567.json")
    sites = ps(old)["contactsLocationsModule"]["locations"]
    k, site = next((k, s) for k, s in enumerate(sites) if s.get("city") == "Nantong")
    assert site["facility"] == "Nantong Tumor Hospital"

    def swap(r: dict[str, Any]) -> None:
        moved = dict(site, facility="Affiliated Hospital of Nantong University")
        ps(r)["contactsLocationsModule"]["locations"][k] = moved

    found = run(old, changed(old, swap))
    assert not [e for e in found.events if e.type is EventType.SITE_RENAMED], [
        e.headline for e in found.events
    ]
    assert "+1 site, −1 site" in one(found, EventType.SITES_CHANGED).headline

    def respelled(r: dict[str, Any]) -> None:
        named = dict(site, facility=f"{site['facility']} (Main Campus)")
        ps(r)["contactsLocationsModule"]["locations"][k] = named

    one(run(old, changed(old, respelled)), EventType.SITE_RENAMED)  # a name extended: renamed


def test_a_flip_of_character_encoding_in_site_names_is_no_change() -> None:
    """UTF-8 read as Windows-1252 ("Hospital Sant Joan de DÃ©u") and read back: no change at
    all, either way; a real accent change still is one."""
    old = load("NCT04431453.json")
    sites = ps(old)["contactsLocationsModule"]["locations"]
    k = next(k for k, s in enumerate(sites) if s["facility"] == "Hospital Sant Joan de Déu")

    def garble(r: dict[str, Any]) -> None:
        site = ps(r)["contactsLocationsModule"]["locations"][k]
        site["facility"] = site["facility"].encode("utf-8").decode("cp1252")

    garbled = changed(old, garble)
    assert "DÃ©u" in ps(garbled)["contactsLocationsModule"]["locations"][k]["facility"]
    for a, b in ((old, garbled), (garbled, old)):
        found = run(a, b)
        assert found.changes == [] and found.events == [], [c.sentence for c in found.changes]

    def respelled(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["locations"][k]["facility"] = "Hospital Sant Joan de Deu"

    assert run(old, changed(old, respelled)).changes


def test_trivia_is_not_material_and_publications_are_named_by_title() -> None:
    old = load("NCT03418623.json")
    assert status(old)["expandedAccessInfo"] == {"hasExpandedAccess": False}

    def dropped(r: dict[str, Any]) -> None:
        del status(r)["expandedAccessInfo"]

    found = run(old, changed(old, dropped))
    assert found.changes and not any(c.material for c in found.changes)

    def linked(r: dict[str, Any]) -> None:
        ps(r).setdefault("referencesModule", {}).setdefault("references", []).append(
            {
                "pmid": "36446481",
                "type": "DERIVED",
                "citation": "Moreau J, Socchi F, Renoux MC, Requirand A, Abassi H, Guillaumont "
                "S, Matecki S, Amedro P. Cardiopulmonary fitness in children with asthma versus "
                "healthy children. Arch Dis Child. 2023 Apr;108(4):309-315. doi: "
                "10.1136/archdischild-2022-324236.",
            }
        )

    event = one(run(old, changed(old, linked)), EventType.PUBLICATION_LINKED)
    assert event.headline == (
        "Publication linked from PubMed: “Cardiopulmonary fitness in children with asthma "
        "versus healthy children”, Arch Dis Child, 2023 (PMID 36446481)"
    )


def test_a_primary_outcome_changed_before_completion_is_not_flagged_late() -> None:
    old = load("NCT03630471.json")

    def early(r: dict[str, Any]) -> None:
        status(r)["primaryCompletionDateStruct"] = {"date": "2027-01-20", "type": "ESTIMATED"}

    before = changed(old, early)
    found = run(before, changed(before, lambda r: ps(r)["outcomesModule"]["primaryOutcomes"][0]
                                .update(timeFrame="12 weeks")))  # fmt: skip
    event = one(found, EventType.OUTCOME_TIME_FRAME)
    assert "after_completion" not in event.flags and "after primary completion" not in (
        event.headline
    )


def test_an_outcome_switch_inside_the_same_boilerplate_is_a_switch() -> None:
    """One score swapped for another in the same sentence frame is a replaced primary outcome,
    not a rewording; a rewording of the same measure still is one."""
    old = load("NCT03630471.json")

    def framed(measure: str) -> Any:
        def edit(r: dict[str, Any]) -> None:
            ps(r)["outcomesModule"]["primaryOutcomes"][0]["measure"] = measure

        return edit

    base = changed(old, framed("Change from baseline in PHQ-9 score at week 12"))
    switched = run(base, changed(base, framed("Change from baseline in GAD-7 score at week 12")))
    event = one(switched, EventType.OUTCOME_REPLACED)
    assert "“Change from baseline in PHQ-9 score at week 12” → “Change from baseline in GAD-7" in (
        event.headline
    )
    assert not [e for e in switched.events if e.type is EventType.OUTCOME_REWORDED]
    reworded = run(
        base, changed(base, framed("Change from baseline in the PHQ-9 score at 12 weeks"))
    )
    one(reworded, EventType.OUTCOME_REWORDED)


# --- posted results against the registration -----------------------------------------------


def _first_posting(record: dict[str, Any]) -> dict[str, Any]:
    """The same record the day before its results were posted."""
    before = copy.deepcopy(record)
    del before["resultsSection"]
    return before


def test_results_that_match_the_registration_raise_nothing_about_it() -> None:
    posted = load("NCT03064438.json")  # results posted; primary outcome as registered
    found = run(_first_posting(posted), posted)
    assert not [e for e in found.events if e.type is EventType.RESULTS_VS_REGISTRATION]


def test_posted_results_are_read_against_the_registration() -> None:
    posted = load("NCT03064438.json")

    def registered_otherwise(r: dict[str, Any]) -> None:
        outcomes = ps(r)["outcomesModule"]
        outcomes["primaryOutcomes"][0]["timeFrame"] = "Baseline, Week 8"
        outcomes["primaryOutcomes"].append(
            {
                "measure": "Change From Baseline in Clinician Erythema Assessment",
                "timeFrame": "Week 12",
            }
        )
        # The responder analysis is reported as primary, though never registered as an outcome.
        outcomes["secondaryOutcomes"] = [
            o for o in outcomes["secondaryOutcomes"] if "Responders" not in o["measure"]
        ]
        r["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][2]["type"] = "PRIMARY"

    new = changed(posted, registered_otherwise)
    found = run(_first_posting(new), new)
    said = [e.headline for e in found.events if e.type is EventType.RESULTS_VS_REGISTRATION]
    assert said == [
        "Results report the primary outcome “Change From Baseline in Total Lesion Count at "
        "Week 12” at “Baseline, Week 12”; it was registered at “Baseline, Week 8”",
        "Results report “Percentage of Participants Who Were Treatment Responders at Week 12” "
        "as a primary outcome; no outcome like it was registered",
        "Registered primary outcome “Change From Baseline in Clinician Erythema Assessment” has "
        "no reported result",
    ]
    for e in found.events:
        assert set(e.changes) <= {c.id for c in found.changes}


def test_a_posted_result_corrected_is_named_by_its_outcome_and_group() -> None:
    posted = load("NCT03064438.json")

    def corrected(r: dict[str, Any]) -> None:
        measure = r["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][0]
        measure["classes"][0]["categories"][0]["measurements"][0]["value"] = "-11.0"

    event = one(run(posted, changed(posted, corrected)), EventType.RESULT_CORRECTED)
    assert event.headline == (
        "Posted result corrected: “Change From Baseline in Total Lesion Count at Week 12” — "
        "ACU-D1 Ointment: -10.2 → -11.0 (number of lesions)"
    )
    assert "OG000" not in event.headline


# --- arms and interventions ----------------------------------------------------------------


def _arms(edit: Callable[[dict[str, Any]], None]) -> Comparison:
    old = load("NCT03064438.json")  # an ointment arm and its vehicle (placebo comparator) arm
    return run(old, changed(old, lambda r: edit(ps(r)["armsInterventionsModule"])))


def _unexplained(found: Comparison) -> list[str]:
    explained = {i for e in found.events for i in e.changes}
    return [c.sentence for c in found.changes if c.material and c.id not in explained]


def test_the_placebo_arm_dropped_is_said_loudly() -> None:
    def drop(m: dict[str, Any]) -> None:
        m["armGroups"].pop(1)
        m["interventions"].pop(1)

    found = _arms(drop)
    event = one(found, EventType.ARM_DROPPED)
    assert event.headline == (
        "Control arm dropped: “ACU-D1 Ointment Vehicle” (placebo comparator); no control arm "
        "is left"
    )
    assert "control_arm" in event.flags and found.events[0] is event  # leads the Summary
    assert _unexplained(found) == []


def test_arms_relabelled_merged_and_an_intervention_renamed() -> None:
    def relabel(m: dict[str, Any]) -> None:
        m["armGroups"][1]["label"] = "Vehicle Ointment"
        m["interventions"][1]["armGroupLabels"] = ["Vehicle Ointment"]

    found = _arms(relabel)
    assert one(found, EventType.ARM_RELABELLED).headline == (
        "Arm relabelled: “ACU-D1 Ointment Vehicle” → “Vehicle Ointment”"
    )
    assert not [e for e in found.events if e.type is EventType.ARM_DROPPED]
    assert _unexplained(found) == []

    def merge(m: dict[str, Any]) -> None:
        a, b = m["armGroups"]
        both = a["interventionNames"] + b["interventionNames"]
        m["armGroups"] = [
            {"label": "All participants", "type": "EXPERIMENTAL", "interventionNames": both}
        ]

    assert one(_arms(merge), EventType.ARMS_MERGED).headline == (
        "Arms merged: “ACU-D1 Ointment” + “ACU-D1 Ointment Vehicle” → “All participants”"
    )

    def rename(m: dict[str, Any]) -> None:
        m["interventions"][0].update(name="Minocycline ointment", otherNames=["ACCU-D1"])
        m["armGroups"][0]["interventionNames"] = ["Drug: Minocycline ointment"]

    found = _arms(rename)
    assert one(found, EventType.INTERVENTION_RENAMED).headline == (
        "Intervention renamed: ACCU-D1 → “Minocycline ointment”"
    )
    assert _unexplained(found) == []


def test_criteria_reworded_with_a_direction() -> None:
    old = load("NCT03064438.json")
    text = ps(old)["eligibilityModule"]["eligibilityCriteria"]
    assert "at least 18 years of age" in text

    def criteria(edit: Callable[[str], str]) -> Comparison:
        def apply(r: dict[str, Any]) -> None:
            module = ps(r)["eligibilityModule"]
            module["eligibilityCriteria"] = edit(module["eligibilityCriteria"])

        return run(old, changed(old, apply))

    older = criteria(lambda t: t.replace("at least 18 years of age", "at least 21 years of age"))
    event = one(older, EventType.ELIGIBILITY_TIGHTENED)
    assert event.headline == (
        "Eligibility tightened: inclusion criterion “Participant is male or non-pregnant and "
        "non-lactating female at least 18 years of age” → “Participant is male or non-pregnant "
        "and non-lactating female at least 21 years of age”"
    )
    younger = criteria(lambda t: t.replace("at least 18 years of age", "at least 16 years of age"))
    assert "loosened" in one(younger, EventType.ELIGIBILITY_LOOSENED).headline
    # An exclusion added keeps more people out; a wording change with no limit moving has no
    # direction (it stays "reworded" in the details).
    excluded = criteria(lambda t: t + "\n* Prior treatment with any tetracycline within 30 days")
    assert "exclusion criterion added" in one(excluded, EventType.ELIGIBILITY_TIGHTENED).headline
    reworded = criteria(lambda t: t.replace("at least 18 years of age", "aged 18 years or older"))
    assert not [
        e
        for e in reworded.events
        if e.type in (EventType.ELIGIBILITY_LOOSENED, EventType.ELIGIBILITY_TIGHTENED)
    ]


def test_time_frame_edits_of_one_pattern_are_one_line() -> None:
    """The same words added to every secondary outcome's time frame (28 of them, with
    different frames): one grouped line, not one per outcome or per old frame."""
    from tests.conftest import all_records

    old = next(
        r
        for r in all_records()
        if r["protocolSection"]["identificationModule"]["nctId"] == "NCT05913700"
    )

    def extend(r: dict[str, Any]) -> None:
        for o in ps(r)["outcomesModule"]["secondaryOutcomes"]:
            o["timeFrame"] = f"{o['timeFrame']} (up to 2 years)"

    found = run(old, changed(old, extend))
    frames = [e for e in found.events if e.type is EventType.OUTCOME_TIME_FRAME]
    assert len(frames) == 1
    assert frames[0].headline.startswith(
        "Time frame “(up to 2 years)” added after each (e.g. “On admission” → "
    )
    assert frames[0].headline.endswith("on 28 outcomes")
