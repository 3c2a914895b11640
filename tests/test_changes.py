"""The change model on realistic edits of real records: each edit is reported as exactly the
fields edited, in plain sentences, with no other line (golden reports in tests/golden/)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import all_records, edited, load
from trialwatch.changes.differ import compare, diff_records, fill
from trialwatch.changes.match import schema_of
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.render.json_report import render_json
from trialwatch.render.markdown import render_markdown
from trialwatch.render.text import render_text

Edit = Callable[[dict[str, Any]], None]


def ps(r: dict[str, Any]) -> dict[str, Any]:
    p = r["protocolSection"]
    assert isinstance(p, dict)
    return p


@dataclass
class Case:
    name: str
    fixture: str
    edit: Edit
    paths: set[str]  # schema paths (no list items) of every expected change
    sentences: list[str]  # each must appear, exactly, among the sentences


def _terminate(r: dict[str, Any]) -> None:
    s = ps(r)["statusModule"]
    s["overallStatus"] = "TERMINATED"
    s["whyStopped"] = "Sponsor decision to stop development of abexinostat"
    s["completionDateStruct"] = {"date": "2025-06-30", "type": "ACTUAL"}


def _slip(r: dict[str, Any]) -> None:
    s = ps(r)["statusModule"]
    s["startDateStruct"] = {"date": "2024-05-01", "type": "ESTIMATED"}
    s["primaryCompletionDateStruct"] = {"date": "2025-05", "type": "ESTIMATED"}
    s["completionDateStruct"] = {"date": "2025-12-01", "type": "ESTIMATED"}


def _cut(r: dict[str, Any]) -> None:
    ps(r)["designModule"]["enrollmentInfo"] = {"count": 240, "type": "ESTIMATED"}


def _criteria(r: dict[str, Any]) -> None:
    e = ps(r)["eligibilityModule"]
    text = e["eligibilityCriteria"]
    text = text.replace(
        "* At least 18 years old at the start of Screening Visit",
        "* At least 18 years old and at most 65 years old at the start of Screening Visit",
    )
    text = text.replace("* Recent live vaccination\n", "")
    text = text.replace(
        "Exclusion Criteria:\n\n",
        "Exclusion Criteria:\n\n* Prior treatment with an IL-17 inhibitor\n",
    )
    e["eligibilityCriteria"] = text


def _sites(r: dict[str, Any]) -> None:
    locs = ps(r)["contactsLocationsModule"]["locations"]
    removed = next(i for i, s in enumerate(locs) if s["city"] == "Scottsdale")
    del locs[removed]
    locs.reverse()
    for n, city in enumerate(["Boston", "Denver", "Portland"]):
        locs.append(
            {
                "facility": f"As0006 9{n}",
                "city": city,
                "state": {"Boston": "Massachusetts", "Denver": "Colorado", "Portland": "Oregon"}[
                    city
                ],
                "country": "United States",
            }
        )


def _arms(r: dict[str, Any]) -> None:
    a = ps(r)["armsInterventionsModule"]
    a["armGroups"][1]["description"] = "Vehicle ointment applied twice daily for 12 weeks."
    a["interventions"].append(
        {
            "type": "DRUG",
            "name": "Rescue topical corticosteroid",
            "armGroupLabels": ["ACU-D1 Ointment"],
        }
    )


def _outcomes(r: dict[str, Any]) -> None:
    o = ps(r)["outcomesModule"]
    o["primaryOutcomes"][0]["timeFrame"] = "12 weeks"
    o["secondaryOutcomes"].append(
        {"measure": "Quality of life (EQ-5D-5L)", "timeFrame": "12 weeks"}
    )


def _contacts(r: dict[str, Any]) -> None:
    p = ps(r)
    p["contactsLocationsModule"]["centralContacts"][0]["phone"] = "01.49.95.81.70"
    p["sponsorCollaboratorsModule"]["collaborators"].append(
        {"name": "Fondation de l'Avenir", "class": "OTHER"}
    )


def _design(r: dict[str, Any]) -> None:
    d = ps(r)["designModule"]
    d["phases"] = ["PHASE2", "PHASE3"]
    d["designInfo"]["maskingInfo"] = {
        "masking": "DOUBLE",
        "whoMasked": ["PARTICIPANT", "INVESTIGATOR"],
    }


def _identification(r: dict[str, Any]) -> None:
    i = ps(r)["identificationModule"]
    i["acronym"] = "LARICOG"
    i["officialTitle"] = i["officialTitle"].replace("One-year", "Two-year")


def _description(r: dict[str, Any]) -> None:
    d = ps(r)["descriptionModule"]
    d["briefSummary"] = d["briefSummary"].rstrip() + (
        " An interim analysis is planned after 100 patients."
    )


def _references(r: dict[str, Any]) -> None:
    ps(r)["referencesModule"]["references"].append(
        {"pmid": "37000000", "type": "RESULT", "citation": "Doe J. Five-year results. 2024."}
    )


def _results_posted(r: dict[str, Any]) -> None:
    """The reverse edit: the record as it was before its results were posted."""
    r.pop("resultsSection")
    r["hasResults"] = False
    s = ps(r)["statusModule"]
    for k in ("resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"):
        s.pop(k)


def _results_updated(r: dict[str, Any]) -> None:
    """A results correction: one measured value fixed, one serious adverse event added."""
    rs = r["resultsSection"]
    measure = rs["outcomeMeasuresModule"]["outcomeMeasures"][0]
    measure["classes"][0]["categories"][0]["measurements"][0]["value"] = "19.36"
    rs["adverseEventsModule"].setdefault("seriousEvents", []).append(
        {
            "term": "Pancreatitis",
            "organSystem": "Gastrointestinal disorders",
            "stats": [{"groupId": "EG000", "numEvents": 1, "numAffected": 1, "numAtRisk": 16}],
        }
    )


def _documents(r: dict[str, Any]) -> None:
    r["documentSection"]["largeDocumentModule"]["largeDocs"].append(
        {
            "typeAbbrev": "ICF",
            "hasProtocol": False,
            "hasSap": False,
            "hasIcf": True,
            "label": "Informed Consent Form",
            "date": "2018-07-01",
            "uploadDate": "2019-05-01T10:00",
            "filename": "ICF_001.pdf",
            "size": 250000,
        }
    )


def _other(r: dict[str, Any]) -> None:
    p = ps(r)
    p["ipdSharingStatementModule"] = {
        "ipdSharing": "YES",
        "description": "Data available on request.",
    }
    p["oversightModule"]["oversightHasDmc"] = True


def _unknown_module(r: dict[str, Any]) -> None:
    """A module the registry might add one day: reported through the generic fallback."""
    ps(r)["fundingModule"] = {"fundingSource": "Public grant ANR-23-0001"}


def _site_status(r: dict[str, Any]) -> None:
    """A RECRUITING study whose first site closes and a new one opens."""
    locs = r["protocolSection"]["contactsLocationsModule"]["locations"]
    locs[0]["status"] = "COMPLETED"


CASES = [
    Case(
        "status_terminated",
        "NCT03934567.json",
        _terminate,
        {
            "protocolSection.statusModule.overallStatus",
            "protocolSection.statusModule.completionDateStruct",
        },
        [
            "Overall status Active, not recruiting → Terminated — why stopped: “Sponsor decision "
            "to stop development of abexinostat”",
            "Study completion became actual and moved earlier by 4 months "
            "(2025-10-30 → 2025-06-30, estimated → actual)",
        ],
    ),
    Case(
        "dates_slip",
        "NCT06171568.json",
        _slip,
        {
            "protocolSection.statusModule.startDateStruct",
            "protocolSection.statusModule.primaryCompletionDateStruct",
            "protocolSection.statusModule.completionDateStruct",
        },
        [
            "Start date moved later by 3 months (2024-02-01 → 2024-05-01, estimated)",
            "Primary completion slipped 3 months (2025-02-01 → 2025-05, estimated)",
            "Study completion slipped 10 months (2025-02-01 → 2025-12-01, estimated)",
        ],
    ),
    Case(
        "enrollment_cut",
        "NCT06171568.json",
        _cut,
        {"protocolSection.designModule.enrollmentInfo"},
        ["Enrollment target cut 40% (400 → 240, estimated)"],
    ),
    Case(
        "eligibility",
        "NCT02552212.json",
        _criteria,
        {"protocolSection.eligibilityModule.eligibilityCriteria"},
        [
            "Inclusion criterion reworded: “At least 18 years old at the start of Screening "
            "Visit” → “At least 18 years old and at most 65 years old at the start of Screening "
            "Visit”",
            "Exclusion criterion removed: “Recent live vaccination”",
            "Exclusion criterion added: “Prior treatment with an IL-17 inhibitor”",
        ],
    ),
    Case(
        "locations",
        "NCT02552212.json",
        _sites,
        {"protocolSection.contactsLocationsModule.locations"},
        ["Site removed: As0006 120, Scottsdale, Arizona, United States"],
    ),
    Case(
        "arms_interventions",
        "NCT03064438.json",
        _arms,
        {
            "protocolSection.armsInterventionsModule.armGroups.description",
            "protocolSection.armsInterventionsModule.interventions",
        },
        ["Intervention added: Rescue topical corticosteroid"],
    ),
    Case(
        "outcomes",
        "NCT03630471.json",
        _outcomes,
        {
            "protocolSection.outcomesModule.primaryOutcomes.timeFrame",
            "protocolSection.outcomesModule.secondaryOutcomes",
        },
        [
            "Primary outcome “Mental health symptoms”: time frame “6 weeks” → “12 weeks”",
            "Secondary outcome added: Quality of life (EQ-5D-5L)",
        ],
    ),
    Case(
        "sponsors_contacts",
        "NCT06171568.json",
        _contacts,
        {
            "protocolSection.contactsLocationsModule.centralContacts.phone",
            "protocolSection.sponsorCollaboratorsModule.collaborators",
        },
        ["Collaborator added: Fondation de l'Avenir"],
    ),
    Case(
        "design",
        "NCT03630471.json",
        _design,
        {
            "protocolSection.designModule.phases",
            "protocolSection.designModule.designInfo.maskingInfo.whoMasked",
            "protocolSection.designModule.designInfo.maskingInfo.maskingDescription",
        },
        ["Phase: added Phase 2, Phase 3; removed Not applicable"],
    ),
    Case(
        "identification",
        "NCT06171568.json",
        _identification,
        {
            "protocolSection.identificationModule.acronym",
            "protocolSection.identificationModule.officialTitle",
        },
        ["Acronym: ECOG → LARICOG"],
    ),
    Case(
        "description",
        "NCT03630471.json",
        _description,
        {"protocolSection.descriptionModule.briefSummary"},
        ["Brief summary edited (1 passage added)"],
    ),
    Case(
        "references",
        "NCT02552212.json",
        _references,
        {"protocolSection.referencesModule.references"},
        ["Reference added: 37000000"],
    ),
    Case(
        "results_updated",
        "NCT00763412.json",
        _results_updated,
        {
            "resultsSection.outcomeMeasuresModule.outcomeMeasures.classes.categories"
            ".measurements.value",
            "resultsSection.adverseEventsModule.seriousEvents",
        },
        [
            "Outcome measure “BMI” › OG000: value 19.63 → 19.36",
            "Serious adverse event added: Pancreatitis",
        ],
    ),
    Case(
        "documents",
        "NCT03630471.json",
        _documents,
        {"documentSection.largeDocumentModule.largeDocs"},
        ["Document added: ICF_001.pdf"],
    ),
    Case(
        "other",
        "NCT06171568.json",
        _other,
        {
            "protocolSection.ipdSharingStatementModule.ipdSharing",
            "protocolSection.ipdSharingStatementModule.description",
            "protocolSection.oversightModule.oversightHasDmc",
        },
        ["IPD sharing: no → yes", "Data monitoring committee: no → yes"],
    ),
    Case(
        "unknown_module",
        "NCT06171568.json",
        _unknown_module,
        {"protocolSection.fundingModule"},
        ["Funding added: funding source: “Public grant ANR-23-0001”"],
    ),
    Case(
        "site_status",
        "page-2025-06-17T11-15-33-773Z.json",
        _site_status,
        {"protocolSection.contactsLocationsModule.locations.status"},
        [],
    ),
]


def _record(fixture: str) -> dict[str, Any]:
    if fixture.startswith("page-"):
        from tests.conftest import FIXTURES

        data = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
        first = data["studies"][0]
        assert isinstance(first, dict)
        return first
    return load(fixture)


def _report(nct: str, old: dict[str, Any], new: dict[str, Any]) -> RunReport:
    trial = TrialReport(
        nct_id=nct,
        outcome=Outcome.UNCHANGED,
        title=new["protocolSection"]["identificationModule"].get("briefTitle"),
        snapshot="new.json",
        previous_snapshot="old.json",
    )
    fill(trial, compare(nct, old, new), show_admin=False)
    return RunReport(generated_at="2026-11-25T00:00:00Z", trials=[trial])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_realistic_edit(case: Case, golden: Callable[[str, str], None]) -> None:
    old = _record(case.fixture)
    new = edited(old, case.edit)
    nct = old["protocolSection"]["identificationModule"]["nctId"]
    changes, _ = diff_records(nct, old, new)
    material = [c for c in changes if c.material]
    assert {".".join(schema_of(c.path)) for c in material} == case.paths, [
        c.sentence for c in material
    ]
    sentences = [c.sentence for c in material]
    for sentence in case.sentences:
        assert sentence in sentences
    report = _report(nct, old, new)
    golden(f"{case.name}.txt", render_text(report))
    golden(f"{case.name}.md", render_markdown(report))
    golden(f"{case.name}.json", render_json(report))


def test_results_posted_is_a_headline() -> None:
    new = load("NCT00763412.json")
    old = edited(new, _results_posted)
    changes, _ = diff_records("NCT00763412", old, new)
    heads = [c.sentence for c in changes if c.headline]
    assert heads == ["Results posted (2017-06-05)"]
    assert {c.category.value for c in changes} == {"results"}
    assert any(c.path == "resultsSection" and c.kind.value == "added" for c in changes)
    assert "Results submitted (2016-07-11)" in [c.sentence for c in changes]


def test_estimated_to_actual_is_not_a_slip() -> None:
    old = load("NCT06171568.json")

    def actual(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["startDateStruct"]["type"] = "ACTUAL"

    changes, _ = diff_records("NCT06171568", old, edited(old, actual))
    assert [c.sentence for c in changes] == [
        "Start date became actual (2024-02-01, unchanged; not a slip)"
    ]


def test_partial_dates_compare_at_the_coarser_precision() -> None:
    old = load("NCT00184067.json")  # completion 2009-09, actual

    def refine(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["completionDateStruct"]["date"] = "2009-09-30"

    changes, _ = diff_records("NCT00184067", old, edited(old, refine))
    assert [c.sentence for c in changes] == [
        "Study completion made more precise (2009-09 → 2009-09-30, actual; no slip)"
    ]


def test_enrollment_becomes_actual() -> None:
    old = load("NCT06171568.json")

    def done(r: dict[str, Any]) -> None:
        ps(r)["designModule"]["enrollmentInfo"] = {"count": 352, "type": "ACTUAL"}

    changes, _ = diff_records("NCT06171568", old, edited(old, done))
    assert [c.sentence for c in changes] == [
        "Enrollment became actual: 352 (12% below the target of 400)"
    ]


def test_an_actual_enrollment_replaced_by_an_estimate_is_said_as_such() -> None:
    old = load("NCT03064438.json")  # 40, actual (completed)
    assert ps(old)["designModule"]["enrollmentInfo"] == {"count": 40, "type": "ACTUAL"}

    def reestimated(r: dict[str, Any]) -> None:
        ps(r)["designModule"]["enrollmentInfo"] = {"count": 60, "type": "ESTIMATED"}

    found = compare("NCT03064438", old, edited(old, reestimated))
    said = [c.sentence for c in found.changes]
    assert said == [
        "Actual enrollment of 40 replaced by an estimated 60 (an actual count turned back "
        "into an estimate)"
    ]
    headlines = " ".join(e.headline for e in found.events)
    assert "raised" not in headlines and "target" not in headlines

    def same_count(r: dict[str, Any]) -> None:
        ps(r)["designModule"]["enrollmentInfo"] = {"count": 40, "type": "ESTIMATED"}

    changes, _ = diff_records("NCT03064438", old, edited(old, same_count))
    assert [c.sentence for c in changes] == ["Actual enrollment turned back into an estimate (40)"]


def test_many_sites_closing_is_one_line() -> None:
    old = _record("page-2025-06-17T11-15-33-773Z.json")

    def close(r: dict[str, Any]) -> None:
        ps(r)["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            site.pop("status", None)

    found = compare("NCT05147467", old, edited(old, close))
    # Each site's move is its own change (JSON keeps them all) ...
    moves = [c for c in found.changes if c.label == "Site recruitment status"]
    assert len(moves) == 11
    assert len({c.pointer for c in moves}) == 11
    # ... and the report says the ten alike once.
    headlines = [e.headline for e in found.events]
    assert headlines[0] == "Overall status Recruiting → Active, not recruiting"
    assert "Recruitment status removed at 10 sites (was not yet recruiting)" in headlines
    report = _report("NCT05147467", old, edited(old, close))
    text = render_text(report)
    assert len(text.splitlines()) <= 20, text  # the ten sites named once, under one line
    assert (
        "Site Union Hospital medical college Huazhong University of Science and Technology, "
        "Wuhan, Hubei, China: recruitment status recruiting → not given"
    ) in text


# --- no false alarms -----------------------------------------------------------------------


def _reorder(r: dict[str, Any]) -> None:
    p = ps(r)
    p["contactsLocationsModule"]["locations"].reverse()
    p["armsInterventionsModule"]["armGroups"].reverse()
    p["armsInterventionsModule"]["interventions"].reverse()
    p["outcomesModule"]["secondaryOutcomes"].reverse()
    p["conditionsModule"]["keywords"].reverse()


def _whitespace(r: dict[str, Any]) -> None:
    e = ps(r)["eligibilityModule"]
    e["eligibilityCriteria"] = (
        e["eligibilityCriteria"].replace("\n", "\r\n").replace(" ", "  ") + "\n\n"
    )
    d = ps(r)["descriptionModule"]
    d["briefSummary"] = "  " + d["briefSummary"] + " "


def _unescape(r: dict[str, Any]) -> None:
    e = ps(r)["eligibilityModule"]
    e["eligibilityCriteria"] = e["eligibilityCriteria"].replace("\\>=", ">=")


def _bookkeeping(r: dict[str, Any]) -> None:
    r["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-11-24"
    s = ps(r)["statusModule"]
    s["statusVerifiedDate"] = "2026-10"
    s["lastUpdateSubmitDate"] = "2026-10-20"
    s["lastUpdatePostDateStruct"] = {"date": "2026-10-22", "type": "ACTUAL"}


@pytest.mark.parametrize("edit", [_reorder, _whitespace, _unescape, _bookkeeping])
def test_no_false_alarms(edit: Edit) -> None:
    old = load("NCT02552212.json")
    changes, _ = diff_records("NCT02552212", old, edited(old, edit))
    assert [c.sentence for c in changes if c.material] == []


def test_bookkeeping_is_context_and_admin() -> None:
    old = load("NCT02552212.json")
    changes, context = diff_records("NCT02552212", old, edited(old, _bookkeeping))
    assert context == [
        "registry record updated 2022-08-18 → 2026-10-22",
        "status verified 2022-08 → 2026-10",
    ]
    assert changes and all(not c.material for c in changes)
    assert not any("versionHolder" in c.path for c in changes)


def test_html_history_version_equals_its_markdown_form() -> None:
    """The internal history API serves HTML; the same text in markdown is not a change."""
    old = load("history-NCT04280705-v0.json")
    crit = ps(old)["eligibilityModule"]["eligibilityCriteria"]
    assert crit.startswith("<p>")
    import html
    import re

    def to_markdown(r: dict[str, Any]) -> None:
        text = ps(r)["eligibilityModule"]["eligibilityCriteria"].replace("<li><p>", "<li>")
        text = re.sub(r"</?p>", "\n\n", text)
        n = 0

        def item(_m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return f"\n{n}. "

        text = re.sub(r"<li>", item, text)
        text = re.sub(r"</?(ol|ul|li)>", "", text)
        ps(r)["eligibilityModule"]["eligibilityCriteria"] = (
            html.unescape(text).replace("<", "\\<").replace(">", "\\>")
        )

    changes, _ = diff_records("NCT04280705", old, edited(old, to_markdown))
    assert [c.sentence for c in changes] == []


def test_ignore_list() -> None:
    old = load("NCT06171568.json")
    new = edited(old, _contacts)
    changes, _ = diff_records(
        "NCT06171568", old, new, ignore=["protocolSection.contactsLocationsModule"]
    )
    assert [c.label for c in changes] == ["Collaborator"]


def test_criteria_headings_seen_in_real_records() -> None:
    from trialwatch.changes.criteria import heading, parse_criteria

    for line, which in [
        ("Inclusion Criteria:", "inclusion"),
        ("Key Exclusion Criteria:", "exclusion"),
        ("Other exclusion criteria:", "exclusion"),
        ("Specific inclusion criteria for lung transplant (LTx) patients:", "inclusion"),
        ("**Exclusion Criteria**", "exclusion"),
        ("INCLUSION CRITERIA", "inclusion"),
        ("Exclusion:", "exclusion"),
    ]:
        assert heading(line) == which, line
    for line in [
        "Note: Other protocol defined Inclusion/Exclusion criteria may apply",
        "Meets all inclusion criteria listed in the protocol",
        "Prior exclusion from another trial",
    ]:
        assert heading(line) is None, line
    text = (
        "Inclusion Criteria:\n\n* Adult\n\nSpecific exclusion criteria for healthy "
        "participants:\n\n* Smoker\n"
    )
    assert [(i.section, i.text) for i in parse_criteria(text)] == [
        ("inclusion", "Adult"),
        ("exclusion", "Smoker"),
    ]


def test_a_site_without_a_facility_name_is_known_by_its_place() -> None:
    """About one site in sixteen in the samples has no facility; its status change is a
    status change, not a site removed and another added."""
    record = next(
        r
        for r in all_records()
        if any(
            not s.get("facility")
            for s in r["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        )
    )
    nct = record["protocolSection"]["identificationModule"]["nctId"]

    def recruit(r: dict[str, Any]) -> None:
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            if not site.get("facility"):
                site["status"] = "RECRUITING"
                break

    changes, _ = diff_records(nct, record, edited(record, recruit))
    assert len(changes) == 1
    assert "recruitment status not given → recruiting" in changes[0].sentence


def test_a_nameless_site_contact_is_matched_by_role() -> None:
    record = next(
        r
        for r in all_records()
        if any(
            "name" not in c
            for s in r["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
            for c in s.get("contacts", [])
        )
    )
    nct = record["protocolSection"]["identificationModule"]["nctId"]

    def new_phone(r: dict[str, Any]) -> None:
        for site in ps(r)["contactsLocationsModule"]["locations"]:
            for contact in site.get("contacts", []):
                if "name" not in contact:
                    contact["phone"] = "+1 555 0100"
                    return

    changes, _ = diff_records(nct, record, edited(record, new_phone))
    assert len(changes) == 1 and changes[0].kind.value == "changed"
    assert changes[0].sentence.endswith("→ “+1 555 0100”")
