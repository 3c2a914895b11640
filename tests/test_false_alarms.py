"""What a reader must never be told falsely (issue 30): each edit below is one a sponsor or the
registry makes, applied to a real record (tests/fixtures), and read back as the headline a
careful reader would write — no contradictory pair, no rename that is only encoding damage, no
design change left out of the summary."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import load
from tests.test_events import changed, from_download, one, ps, run
from trialwatch.model import EventType, Kind

ELIGIBILITY = (EventType.ELIGIBILITY_LOOSENED, EventType.ELIGIBILITY_TIGHTENED)


# --- 1. a criterion reworded around the same topic ----------------------------------------------


def test_a_criterion_rewritten_on_the_same_topic_is_one_rewording_with_no_direction() -> None:
    old = from_download("NCT00712335")  # exclusion: "history of COPD or respiratory disorder …"

    def reword(r: dict[str, Any]) -> None:
        module = ps(r)["eligibilityModule"]
        module["eligibilityCriteria"] = module["eligibilityCriteria"].replace(
            "history of COPD or respiratory disorder other than asthma",
            "any history of COPD, or of any respiratory disorder apart from asthma, "
            "whatever its severity",
        )

    found = run(old, changed(old, reword))
    assert not [e for e in found.events if e.type in ELIGIBILITY], [
        e.headline for e in found.events
    ]
    [change] = found.changes
    assert change.kind is Kind.CHANGED
    assert change.sentence.startswith("Exclusion criterion reworded: ")
    assert "whatever its severity" in change.sentence


def test_a_rewritten_criterion_whose_limit_moved_keeps_its_direction() -> None:
    old = load("NCT03064438.json")

    def older(r: dict[str, Any]) -> None:
        module = ps(r)["eligibilityModule"]
        module["eligibilityCriteria"] = module["eligibilityCriteria"].replace(
            "at least 18 years of age", "at least 21 years of age"
        )

    assert (
        "inclusion criterion"
        in one(run(old, changed(old, older)), EventType.ELIGIBILITY_TIGHTENED).headline
    )


def test_two_criteria_on_different_topics_stay_removed_and_added() -> None:
    old = from_download("NCT00712335")

    def swap(r: dict[str, Any]) -> None:
        module = ps(r)["eligibilityModule"]
        module["eligibilityCriteria"] = module["eligibilityCriteria"].replace(
            "history of psychiatric illness", "pregnancy or breast-feeding"
        )

    found = run(old, changed(old, swap))
    kinds = sorted(c.kind.value for c in found.changes)
    assert kinds == ["added", "removed"], [c.sentence for c in found.changes]


# --- 2. encoding damage and its repair ----------------------------------------------------------


def _mangled(name: str) -> str:
    """A name as the registry has served it damaged: its UTF-8 read as Windows-1250 ("Hôpital"
    → "HĂ´pital"), the stray accent served as a quote and the word title-cased ("Hă"Pital")."""
    words = []
    for word in name.split(" "):
        if word.isascii():
            words.append(word)
            continue
        damaged = word.encode("utf-8").decode("cp1250", errors="replace").replace("´", '"')
        words.append(damaged.title())
    return " ".join(words)


def _mended(name: str) -> str:
    """The registry's later repair of such a name: the stray quote dropped, the wrong letter
    left ("Hă"Pital" → "Hăpital")."""
    return re.sub(r'"(\w)', lambda m: m.group(1).lower(), name)


def test_encoding_damage_mended_in_site_names_is_no_change() -> None:
    record = load_from_all("NCT05915728")
    sites = ps(record)["contactsLocationsModule"]["locations"]
    damaged = [k for k, s in enumerate(sites) if not str(s.get("facility", "")).isascii()]
    assert len(damaged) > 5

    def mangle(r: dict[str, Any]) -> None:
        for k in damaged:
            site = ps(r)["contactsLocationsModule"]["locations"][k]
            site["facility"] = _mangled(site["facility"])

    old = changed(record, mangle)
    assert 'Hă"Pital Gă©Nă©Ral - Dijon' in [
        s["facility"] for s in ps(old)["contactsLocationsModule"]["locations"]
    ]

    def mend(r: dict[str, Any]) -> None:
        for k in damaged:
            site = ps(r)["contactsLocationsModule"]["locations"][k]
            site["facility"] = _mended(site["facility"])

    found = run(old, changed(old, mend))
    assert found.events == [] and found.changes == [], [c.sentence for c in found.changes]


def test_a_letter_changed_in_a_site_name_is_a_quiet_respelling_and_a_real_rename_stays() -> None:
    record = load_from_all("NCT05915728")
    sites = ps(record)["contactsLocationsModule"]["locations"]
    k = next(k for k, s in enumerate(sites) if s.get("facility") == "Hôpital Général - Dijon")

    def respell(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["locations"][k]["facility"] = "Hôpital General - Dijon"

    found = run(record, changed(record, respell))
    assert not [e for e in found.events if e.type is EventType.SITE_RENAMED]
    [change] = found.changes
    assert change.sentence.startswith("Site name respelled: “Hôpital Général - Dijon”")
    assert not change.material

    def rename(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["locations"][k]["facility"] = "Hôpital Général du Bocage"

    renamed = one(run(record, changed(record, rename)), EventType.SITE_RENAMED)
    assert renamed.headline.startswith(
        "Site renamed: “Hôpital Général - Dijon” → “Hôpital Général du Bocage”"
    )


def load_from_all(nct: str) -> dict[str, Any]:
    from tests.conftest import all_records

    return next(
        r for r in all_records() if r["protocolSection"]["identificationModule"]["nctId"] == nct
    )


# --- 3. design changes are headlines ------------------------------------------------------------


def test_a_blind_reduced_after_the_start_is_a_loud_design_headline() -> None:
    old = load("NCT03630471.json")  # double masking, randomized, started 2018-08-20 (actual)

    def unblind(r: dict[str, Any]) -> None:
        info = ps(r)["designModule"]["designInfo"]
        info["maskingInfo"]["masking"] = "SINGLE"
        info["maskingInfo"]["whoMasked"] = ["OUTCOMES_ASSESSOR"]

    found = run(old, changed(old, unblind))
    event = one(found, EventType.DESIGN_CHANGED)
    assert event.headline == (
        "Design changed: masking double → single (the blind was reduced) — after the trial "
        "started (2018-08-20)"
    )
    assert "after_the_fact" in event.flags
    # It leads the summary: above eligibility, sites and the rest.
    assert found.events[0] is event


def test_phase_allocation_and_purpose_are_said_in_words() -> None:
    def not_started(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["startDateStruct"] = {"date": "2030-01-01", "type": "ESTIMATED"}

    old = changed(load("NCT03630471.json"), not_started)  # a trial not yet started

    def redesign(r: dict[str, Any]) -> None:
        design = ps(r)["designModule"]
        design["phases"] = ["PHASE2", "PHASE3"]
        design["designInfo"]["allocation"] = "NON_RANDOMIZED"
        design["designInfo"]["primaryPurpose"] = "PREVENTION"

    event = one(run(old, changed(old, redesign)), EventType.DESIGN_CHANGED)
    assert event.headline == (
        "Design changed: allocation randomized → non-randomized; primary purpose treatment → "
        "prevention; phase not applicable → Phase 2/Phase 3"
    )
    assert event.flags == ()


# --- 4. revised safety results -------------------------------------------------------------------


def test_deaths_and_serious_events_revised_after_posting_are_a_headline_in_words() -> None:
    old = load("NCT02552212.json")  # results posted 2020-08-17
    groups = old["resultsSection"]["adverseEventsModule"]["eventGroups"]
    assert groups[1] == {**groups[1], "id": "EG001", "title": "CZP 200 mg Q2W (SS)"}

    def revise(r: dict[str, Any]) -> None:
        safety = r["resultsSection"]["adverseEventsModule"]
        glaucoma = safety["seriousEvents"][0]
        assert glaucoma["term"] == "Glaucoma"
        glaucoma["stats"][1].update(numAffected=2, numEvents=2)
        safety["eventGroups"][1]["seriousNumAffected"] += 1
        safety["eventGroups"][1]["deathsNumAffected"] += 1

    found = run(old, changed(old, revise))
    event = one(found, EventType.SAFETY_REVISED)
    assert event.headline == (
        "Safety results revised upward after they were posted (2020-08-17): deaths: "
        "CZP 200 mg Q2W (SS) 0 → 1; serious adverse events: CZP 200 mg Q2W (SS) 8 → 9 "
        "participants (Glaucoma 1 → 2)"
    )
    assert set(event.flags) == {"deaths_rose", "serious_rose"}
    sentences = [c.sentence for c in found.changes]
    assert (
        "Serious adverse event “Glaucoma” › CZP 200 mg Q2W (SS): participants affected 1 → 2"
        in (sentences)
    )
    assert not [s for s in sentences if "EG0" in s or "num affected" in s], sentences


def test_a_safety_figure_lowered_is_told_but_is_no_headline() -> None:
    old = load("NCT02552212.json")

    def lower(r: dict[str, Any]) -> None:
        r["resultsSection"]["adverseEventsModule"]["eventGroups"][0]["otherNumAffected"] -= 1

    found = run(old, changed(old, lower))
    assert not [e for e in found.events if e.type is EventType.SAFETY_REVISED]
    [change] = found.changes
    assert change.sentence == (
        "Event group “Placebo (SS)”: participants with other adverse events 59 → 58"
    )


# --- 5. both halves of an outcome switch ---------------------------------------------------------


def _posted_with(record: dict[str, Any], kinds: dict[int, str]) -> dict[str, Any]:
    def retype(r: dict[str, Any]) -> None:
        measures = r["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
        for k, kind in kinds.items():
            measures[k]["type"] = kind

    return changed(record, retype)


def test_a_secondary_reported_as_primary_says_what_became_of_the_registered_primary() -> None:
    posted = load("NCT03064438.json")  # primary: total lesion count; secondary: responders …
    measures = posted["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    assert measures[0]["type"] == "PRIMARY" and "Responders" in measures[2]["title"]
    registered = ps(posted)["outcomesModule"]["primaryOutcomes"][0]["measure"]

    # The registered primary reported as secondary, a registered secondary as primary.
    swapped = _posted_with(posted, {0: "SECONDARY", 2: "PRIMARY"})
    found = run(posted, swapped)
    [said] = [e.headline for e in found.events if e.type is EventType.RESULTS_VS_REGISTRATION]
    assert said == (
        f"Results report “{measures[2]['title']}” as a primary outcome; it was registered as "
        f"secondary; the primary outcome registered, “{registered}”, is reported as secondary"
    )

    # The registered primary not reported at all.
    def dropped(r: dict[str, Any]) -> None:
        del r["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][0]

    gone = changed(_posted_with(posted, {2: "PRIMARY"}), dropped)
    found = run(posted, gone)
    said_all = [e.headline for e in found.events if e.type is EventType.RESULTS_VS_REGISTRATION]
    assert any(h.endswith(f"“{registered}”, is not reported") for h in said_all), said_all


# --- 6. sites withdrawn in place ------------------------------------------------------------------


def _recruiting(record: dict[str, Any]) -> dict[str, Any]:
    """The record as it stood while it recruited: every site open (a completed trial's sites
    carry no status)."""

    def open_all(r: dict[str, Any]) -> None:
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            site["status"] = "RECRUITING"

    return changed(record, open_all)


def _in(country: str, edit: Any) -> Any:
    def apply(r: dict[str, Any]) -> None:
        sites = ps(r)["contactsLocationsModule"]["locations"]
        ps(r)["contactsLocationsModule"]["locations"] = [
            s for s in sites if s.get("country") != country or edit(s)
        ]

    return apply


def test_every_site_of_a_country_withdrawn_in_place_reads_as_leaving_it() -> None:
    old = _recruiting(load_from_all("NCT05915728"))  # 107 sites, 7 in Germany

    def withdraw(site: dict[str, Any]) -> bool:
        site["status"] = "WITHDRAWN"
        return True

    event = one(run(old, changed(old, _in("Germany", withdraw))), EventType.SITES_CHANGED)
    assert event.headline == (
        "7 sites withdrawn (now 107 sites, 100 recruiting); no longer recruiting in Germany"
    )
    deleted = one(run(old, changed(old, _in("Germany", lambda s: False))), EventType.SITES_CHANGED)
    assert deleted.headline.endswith("no longer in Germany")


def test_one_site_withdrawn_where_others_recruit_is_no_headline() -> None:
    old = _recruiting(load_from_all("NCT05915728"))

    def withdraw_one(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["locations"][0]["status"] = "WITHDRAWN"

    found = run(old, changed(old, withdraw_one))
    assert not [e for e in found.events if e.type is EventType.SITES_CHANGED]
    assert len(found.changes) == 1


# --- 7. a person replaced ------------------------------------------------------------------------


def test_a_person_replaced_is_one_change_and_a_shortened_name_is_none(
    her2: dict[str, Any],
) -> None:
    people = ps(her2)["contactsLocationsModule"]
    assert people["overallOfficials"][0]["name"] == "Bing Xia"
    assert people["centralContacts"][0]["name"] == "Bing Xia, Doctor"

    def hand_over(r: dict[str, Any]) -> None:
        where = ps(r)["contactsLocationsModule"]
        where["overallOfficials"][0] = {**where["overallOfficials"][0], "name": "Wei Chen"}
        where["centralContacts"][0] = {**where["centralContacts"][0], "name": "Wei Chen, Doctor"}
        ps(r)["sponsorCollaboratorsModule"]["responsibleParty"]["investigatorFullName"] = "Wei Chen"

    found = run(her2, changed(her2, hand_over))
    assert sorted(c.sentence for c in found.changes) == [
        "Central contact changed: Bing Xia, Doctor → Wei Chen, Doctor",
        "Overall official changed: Bing Xia → Wei Chen (principal investigator)",
        "Responsible party changed: Bing Xia → Wei Chen",
    ]

    def shortened(r: dict[str, Any]) -> None:
        where = ps(r)["contactsLocationsModule"]
        where["overallOfficials"][0]["name"] = "B. Xia"
        where["centralContacts"][0]["name"] = "Bing Xia"
        ps(r)["sponsorCollaboratorsModule"]["responsibleParty"]["investigatorFullName"] = (
            "Xia Bing, MD"
        )

    found = run(her2, changed(her2, shortened))
    assert found.changes == [], [c.sentence for c in found.changes]


def test_a_second_official_added_is_still_added() -> None:
    record = load_from_all("NCT05914155")

    def add(r: dict[str, Any]) -> None:
        ps(r)["contactsLocationsModule"]["overallOfficials"].append(
            {"name": "Shinobu Shimizu, PhD", "role": "STUDY_DIRECTOR"}
        )

    [change] = run(record, changed(record, add)).changes
    assert change.kind is Kind.ADDED
    assert change.sentence == "Overall official added: Shinobu Shimizu, PhD"


# --- 8. arms merged ------------------------------------------------------------------------------


def test_two_arms_with_the_same_interventions_merged_read_as_merged() -> None:
    record = load_from_all("NCT05915728")  # a crossover: the same four drugs, in two orders
    arms = ps(record)["armsInterventionsModule"]["armGroups"]
    assert [a["label"] for a in arms] == [
        "Gadoquatrane - Approved Macrocyclic GBCA",
        "Approved Macrocyclic GBCA - Gadoquatrane",
    ]

    def merge(r: dict[str, Any]) -> None:
        module = ps(r)["armsInterventionsModule"]
        first = module["armGroups"][0]
        module["armGroups"] = [{**first, "label": "Gadoquatrane and approved GBCA, either order"}]
        for item in module["interventions"]:
            item["armGroupLabels"] = ["Gadoquatrane and approved GBCA, either order"]

    found = run(record, changed(record, merge))
    assert one(found, EventType.ARMS_MERGED).headline == (
        "Arms merged: “Gadoquatrane - Approved Macrocyclic GBCA” + “Approved Macrocyclic GBCA - "
        "Gadoquatrane” → “Gadoquatrane and approved GBCA, either order”"
    )
    assert not [
        e for e in found.events if e.type in (EventType.ARM_DROPPED, EventType.ARM_RELABELLED)
    ]


# --- 9. one data-sharing decision -----------------------------------------------------------------


def test_a_data_sharing_decision_is_said_first_then_what_it_no_longer_shares() -> None:
    old = load("NCT04431453.json")  # shares IPD: protocol and analysis plan, 18 months after

    def stop_sharing(r: dict[str, Any]) -> None:
        ps(r)["ipdSharingStatementModule"] = {
            "ipdSharing": "NO",
            "description": "There is no plan to share IPD.",
        }

    sentences = [c.sentence for c in run(old, changed(old, stop_sharing)).changes]
    assert sentences[:2] == [
        "IPD sharing: yes → no",
        "IPD sharing: no longer shares study protocol, statistical analysis plan",
    ]
    assert len(sentences) == 6 and not [s for s in sentences[2:] if "information shared" in s]


# --- 10. repeats and slips ----------------------------------------------------------------------


def test_a_step_of_several_results_headlines_says_the_deadline_once() -> None:
    new = from_download("NCT02753764")  # results submitted 2026-04-08, under QC review

    def before(r: dict[str, Any]) -> None:
        del r["derivedSection"]["miscInfoModule"]["submissionTracking"]

    def returned_and_resubmitted(r: dict[str, Any]) -> None:
        infos = r["derivedSection"]["miscInfoModule"]["submissionTracking"]["submissionInfos"]
        infos[0]["resetDate"] = "2026-05-12"
        infos.append({"releaseDate": "2026-06-03"})

    found = run(changed(new, before), changed(new, returned_and_resubmitted))
    results = [e.headline for e in found.events if e.type.value.startswith("results_")]
    assert len(results) == 3, results
    assert sum(h.count("2020-02-25") for h in results) == 1, results


def test_signal_names_say_each_signal_once_with_its_subjects() -> None:
    import datetime as dt

    from trialwatch.audit.signals import audit_record, signal_list

    record = load("NCT04207047.json")

    def estimated(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["startDateStruct"] = {"date": "2019-01-01", "type": "ESTIMATED"}

    signals = audit_record(changed(record, estimated), dt.date(2026, 12, 4))
    names = [s.name for s in signals]
    assert names.count("estimated date in the past") == 2, names
    listed = signal_list(signals)
    assert "estimated date in the past (start, completion)" in listed, listed
    assert len(listed) == len(set(names))


def test_the_site_page_says_a_signal_name_once_and_a_command_as_code() -> None:
    import datetime as dt

    from trialwatch.audit.signals import audit_record
    from trialwatch.site.pages import _signal_html, with_code

    [overdue] = [
        s
        for s in audit_record(load("NCT04207047.json"), dt.date(2026, 12, 4))
        if s.name == "results probably overdue"
    ]
    shown = _signal_html(overdue)
    assert shown.count("Results probably overdue") == 1, shown
    assert with_code("snapshots: `trialwatch backfill NCT04207047` adds <b>") == (
        "snapshots: <code>trialwatch backfill NCT04207047</code> adds &lt;b&gt;"
    )


def test_the_count_over_a_summary_names_the_signals_it_lists_beside_the_changes() -> None:
    from trialwatch.changes.differ import fill
    from trialwatch.model import Attribution, Event, Outcome, TrialReport
    from trialwatch.render.common import status_line

    old = load("NCT03064438.json")

    def stop(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["overallStatus"] = "TERMINATED"

    report = TrialReport("NCT03064438", Outcome.UNCHANGED, title="t", snapshot="b.json")
    fill(report, run(old, changed(old, stop)), show_admin=False)
    started = Event(
        EventType.SIGNAL_STARTED, "New signal: status stale", 150, Attribution.UNKNOWN, "", ()
    )
    report.events = [*report.events, started, started]
    assert status_line(report) == "1 change; 2 signals started or ended"


def test_a_start_given_to_the_month_still_makes_a_design_change_late() -> None:
    old = load("NCT02552212.json")  # started 2015-09 (actual), quadruple masking
    assert ps(old)["statusModule"]["startDateStruct"] == {"date": "2015-09", "type": "ACTUAL"}

    def unblind(r: dict[str, Any]) -> None:
        ps(r)["designModule"]["designInfo"]["maskingInfo"]["masking"] = "SINGLE"

    event = one(run(old, changed(old, unblind)), EventType.DESIGN_CHANGED)
    assert event.headline.endswith("(the blind was reduced) — after the trial started (2015-09)")
