"""Human names and categories for record fields, keyed on their path in the API's Study shape."""

from __future__ import annotations

import re

from trialwatch.model import Category

Schema = tuple[str, ...]

LABELS: dict[str, str] = {
    "hasResults": "Has results",
    "nctId": "NCT id",
    "nctIdAliases": "Obsolete NCT ids",
    "orgStudyIdInfo": "Organization study id",
    "secondaryIdInfos": "Secondary id",
    "briefTitle": "Brief title",
    "officialTitle": "Official title",
    "acronym": "Acronym",
    "organization": "Organization",
    "overallStatus": "Overall status",
    "lastKnownStatus": "Last known status",
    "whyStopped": "Why stopped",
    "statusVerifiedDate": "Status verified",
    "delayedPosting": "Delayed posting",
    "expandedAccessInfo": "Expanded access",
    "startDateStruct": "Start date",
    "primaryCompletionDateStruct": "Primary completion",
    "completionDateStruct": "Study completion",
    "studyFirstSubmitDate": "First submitted",
    "studyFirstSubmitQcDate": "First submitted (QC)",
    "studyFirstPostDateStruct": "First posted",
    "resultsFirstSubmitDate": "Results first submitted",
    "resultsFirstSubmitQcDate": "Results first submitted (QC)",
    "resultsFirstPostDateStruct": "Results first posted",
    "lastUpdateSubmitDate": "Last update submitted",
    "lastUpdatePostDateStruct": "Last update posted",
    "responsibleParty": "Responsible party",
    "leadSponsor": "Lead sponsor",
    "collaborators": "Collaborator",
    "oversightHasDmc": "Data monitoring committee",
    "isFdaRegulatedDrug": "FDA-regulated drug",
    "isFdaRegulatedDevice": "FDA-regulated device",
    "briefSummary": "Brief summary",
    "detailedDescription": "Detailed description",
    "conditions": "Conditions",
    "keywords": "Keywords",
    "studyType": "Study type",
    "phases": "Phase",
    "designInfo": "Design",
    "allocation": "Allocation",
    "interventionModel": "Intervention model",
    "interventionModelDescription": "Intervention model description",
    "primaryPurpose": "Primary purpose",
    "observationalModel": "Observational model",
    "timePerspective": "Time perspective",
    "maskingInfo": "Masking",
    "masking": "Masking",
    "whoMasked": "Who is masked",
    "maskingDescription": "Masking description",
    "enrollmentInfo": "Enrollment",
    "armGroups": "Arm",
    "interventions": "Intervention",
    "interventionNames": "interventions",
    "armGroupLabels": "arms",
    "otherNames": "other names",
    "primaryOutcomes": "Primary outcome",
    "secondaryOutcomes": "Secondary outcome",
    "otherOutcomes": "Other outcome",
    "measure": "measure",
    "timeFrame": "time frame",
    "eligibilityCriteria": "Eligibility criteria",
    "healthyVolunteers": "Accepts healthy volunteers",
    "sex": "Sex",
    "genderBased": "Gender-based eligibility",
    "minimumAge": "Minimum age",
    "maximumAge": "Maximum age",
    "stdAges": "Age groups",
    "studyPopulation": "Study population",
    "samplingMethod": "Sampling method",
    "centralContacts": "Central contact",
    "overallOfficials": "Overall official",
    "locations": "Site",
    "contacts": "contact",
    "references": "Reference",
    "seeAlsoLinks": "Link",
    "ipdSharingStatementModule": "IPD sharing statement",
    "ipdSharing": "IPD sharing",
    "largeDocs": "Document",
    "geoPoint": "map position",
    "status": "recruitment status",
    "versionHolder": "Registry data version",
    "outcomeMeasures": "Outcome measure",
    "baselineMeasures": "Baseline measure",
    "seriousEvents": "Serious adverse event",
    "otherEvents": "Other adverse event",
    "eventGroups": "Event group",
    "flowGroups": "Participant flow group",
    "periods": "Period",
    "milestones": "Milestone",
    "dropWithdraws": "Withdrawal reason",
    "measurements": "measurement",
    "limitationsAndCaveats": "Limitations and caveats",
    "pointOfContact": "Results point of contact",
    "dispFirstSubmitDate": "Certification or extension request first submitted",
    "dispFirstSubmitQcDate": "Certification or extension request first submitted (QC)",
    "dispFirstPostDateStruct": "Certification or extension request first posted",
    "resultsWaived": "Results waived",
    "hasExpandedAccess": "Expanded access available",
    "statusForNctId": "expanded access status",
    "annotationSection": "Registry annotations",
    "annotationModule": "Registry annotations",
    "unpostedAnnotation": "Results under review",
    "unpostedEvents": "results review event",
    "unpostedResponsibleParty": "results submitted by",
    "violationAnnotation": "FDAAA 801 violation",
    "violationEvents": "violation event",
    "fdaaa801Violation": "FDAAA 801 violation",
    "submissionTracking": "Results submission tracking",
    "submissionInfos": "results submission",
    "releaseDate": "submitted",
    "unreleaseDate": "cancelled",
    "resetDate": "returned after QC review",
    "estimatedResultsFirstSubmitDate": "estimated results first submitted",
    "firstMcpInfo": "first QC review",
    "referencesModule": "References",
    "armsInterventionsModule": "Arms and interventions",
    "outcomesModule": "Outcomes",
    "eligibilityModule": "Eligibility",
    "contactsLocationsModule": "Contacts and locations",
    "sponsorCollaboratorsModule": "Sponsor and collaborators",
    "oversightModule": "Oversight",
    "descriptionModule": "Description",
    "conditionsModule": "Conditions",
    "designModule": "Design",
    "identificationModule": "Identification",
    "statusModule": "Status",
    "largeDocumentModule": "Documents",
    "documentSection": "Documents",
    "resultsSection": "Results",
    "derivedSection": "Registry-derived data",
    "miscInfoModule": "Registry information",
    "isUsExport": "Exported from the US",
    "isUnapprovedDevice": "Unapproved device",
    "isPpsd": "Pediatric postmarket surveillance of a device",
    "pmid": "PubMed id",
    "citation": "citation",
    "infoTypes": "information shared",
    "accessCriteria": "access criteria",
    "phoneExt": "phone extension",
    "investigatorFullName": "investigator",
    "investigatorTitle": "investigator title",
    "investigatorAffiliation": "investigator affiliation",
    "patientRegistry": "Patient registry",
    "targetDuration": "Target duration",
    "bioSpec": "Biospecimens",
    "retention": "retention",
    "genderDescription": "Gender eligibility description",
    "isFdaRegulatedDrugOrDevice": "FDA-regulated",
    # Adverse events, as a safety table names its columns.
    "numAffected": "participants affected",
    "numAtRisk": "participants at risk",
    "numEvents": "events",
    "deathsNumAffected": "deaths",
    "deathsNumAtRisk": "participants at risk of death",
    "seriousNumAffected": "participants with serious adverse events",
    "seriousNumAtRisk": "participants at risk of serious adverse events",
    "otherNumAffected": "participants with other adverse events",
    "otherNumAtRisk": "participants at risk of other adverse events",
}

# Bookkeeping: the registry's own dates and NLM's computed data. Shown as context, or with
# --show-admin, never as a change by default.
ADMIN_FIELDS: set[Schema] = {
    ("protocolSection", "statusModule", "statusVerifiedDate"),
    ("protocolSection", "statusModule", "lastUpdateSubmitDate"),
    ("protocolSection", "statusModule", "lastUpdatePostDateStruct"),
    ("protocolSection", "statusModule", "studyFirstSubmitQcDate"),
    ("protocolSection", "statusModule", "resultsFirstSubmitQcDate"),
    ("protocolSection", "statusModule", "dispFirstSubmitQcDate"),
    ("protocolSection", "contactsLocationsModule", "locations", "geoPoint"),
}

_MODULE_CATEGORY: dict[str, Category] = {
    "identificationModule": Category.IDENTIFICATION,
    "statusModule": Category.STATUS,
    "sponsorCollaboratorsModule": Category.SPONSORS_CONTACTS,
    "oversightModule": Category.OTHER,
    "descriptionModule": Category.DESCRIPTION,
    "conditionsModule": Category.DESCRIPTION,
    "designModule": Category.DESIGN,
    "armsInterventionsModule": Category.ARMS_INTERVENTIONS,
    "outcomesModule": Category.OUTCOMES,
    "eligibilityModule": Category.ELIGIBILITY,
    "contactsLocationsModule": Category.SPONSORS_CONTACTS,
    "referencesModule": Category.REFERENCES,
    "ipdSharingStatementModule": Category.OTHER,
}

# Field names that say little on their own: labelled with the module they belong to.
_GENERIC_LEAVES = {"description", "type", "name", "label", "url", "id", "timeFrame", "infoTypes"}

DATE_FIELDS = ("startDateStruct", "primaryCompletionDateStruct", "completionDateStruct")


def is_admin(schema: Schema) -> bool:
    if not schema:
        return False
    if schema[0] == "derivedSection":
        return True
    return any(schema[: len(f)] == f for f in ADMIN_FIELDS)


def category_for(schema: Schema) -> Category:
    if not schema:
        return Category.OTHER
    top = schema[0]
    if top in ("resultsSection", "hasResults"):
        return Category.RESULTS
    if top == "documentSection":
        return Category.DOCUMENTS
    if top != "protocolSection" or len(schema) < 2:
        return Category.OTHER
    module = schema[1]
    field = schema[2] if len(schema) > 2 else ""
    if module == "statusModule":
        if field in DATE_FIELDS:
            return Category.DATES
        if field.startswith("results"):
            return Category.RESULTS
    if module == "designModule" and field == "enrollmentInfo":
        return Category.ENROLLMENT
    if module == "contactsLocationsModule" and field == "locations":
        return Category.LOCATIONS
    return _MODULE_CATEGORY.get(module, Category.OTHER)


def humanize(key: str) -> str:
    """``investigatorFullName`` → ``investigator full name``; the API's structural suffixes
    (``…DateStruct``, ``…Module``, ``…Info``) are not words a reader needs."""
    key = re.sub(r"(?<=[a-z])(DateStruct|Struct|Module|Section|Infos?|List)$", "", key) or key
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").split()
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


def field_label(schema: Schema) -> str:
    """A short label for a field: its own name, with the name of the thing it belongs to."""
    names = [k for k in schema if not k.endswith(("Module", "Section"))]
    if not names:
        if not schema:
            return "Record"
        return _upper_first(LABELS.get(schema[-1], humanize(schema[-1])))
    last = names[-1]
    label = LABELS.get(last, humanize(last))
    module = next((k for k in reversed(schema[:-1]) if k.endswith("Module")), None)
    if len(names) == 1 and last in _GENERIC_LEAVES and module:
        owner = LABELS.get(module, humanize(module.removesuffix("Module")))
        return _upper_first(f"{owner} {label.lower()}")
    if len(names) >= 2:
        parent = names[-2]
        if parent not in ("designInfo", "maskingInfo", "statusModule") and last not in (
            "maskingInfo",
        ):
            parent_label = LABELS.get(parent, humanize(parent))
            # "Organization study id" › "id" is the organization study id, not its "id id".
            if not parent_label.lower().endswith(label.lower()):
                label = f"{parent_label} {label}"
            else:
                label = parent_label
    return _upper_first(label)


def _upper_first(label: str) -> str:
    """ "IPD sharing statement" stays as it is ("Ipd …" was str.capitalize)."""
    return label[0].upper() + label[1:] if label else label
