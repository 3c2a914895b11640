"""The registry's enum codes in the words a reader uses: ``ACTIVE_NOT_RECRUITING`` is
"Active, not recruiting", ``OLDER_ADULT`` is "65 and older", ``FEMALE`` in the sex field is
"women only". JSON keeps the codes; every text format says the words.

The codes are the API's (``/studies/enums``, spec 2.0.5); a code this table does not know yet
(the registry adds values now and then) is said as lower-case words, never shown raw."""

from __future__ import annotations

import re
from typing import Any

# Words by field name (the last key of the field's path), for codes whose words depend on the
# field; then the words every other field uses.
_BY_FIELD: dict[str, dict[str, str]] = {
    "sex": {"ALL": "all sexes", "FEMALE": "women only", "MALE": "men only"},
    "stdAges": {"CHILD": "under 18", "ADULT": "18 to 64", "OLDER_ADULT": "65 and older"},
    "class": {
        "NIH": "NIH",
        "FED": "US federal agency",
        "OTHER_GOV": "other government agency",
        "INDIV": "individual",
        "INDUSTRY": "industry",
        "NETWORK": "network",
        "AMBIG": "ambiguous",
        "OTHER": "other",
        "UNKNOWN": "unknown",
    },
    "masking": {"NONE": "none (open label)"},
    "allocation": {"NA": "not applicable"},
    "ipdSharing": {"YES": "yes", "NO": "no", "UNDECIDED": "undecided"},
    "type": {"RESET": "returned after QC review", "RELEASE": "submitted", "UNRELEASE": "cancelled"},
}

STATUS_WORDS: dict[str, str] = {
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "COMPLETED": "Completed",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "WITHDRAWN": "Withdrawn",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
    "UNKNOWN": "Unknown status",
}

# A site's recruitment status reads in lower case inside a sentence.
_BY_FIELD["status"] = {code: text.lower() for code, text in STATUS_WORDS.items()}

_WORDS: dict[str, str] = {
    **STATUS_WORDS,
    # dates and enrollment
    "ACTUAL": "actual",
    "ESTIMATED": "estimated",
    "ANTICIPATED": "anticipated",
    # phases
    "NA": "Not applicable",
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    # study type and design
    "INTERVENTIONAL": "Interventional",
    "OBSERVATIONAL": "Observational",
    "EXPANDED_ACCESS": "Expanded access",
    "RANDOMIZED": "randomized",
    "NON_RANDOMIZED": "non-randomized",
    "SINGLE_GROUP": "single group",
    "PARALLEL": "parallel",
    "CROSSOVER": "crossover",
    "FACTORIAL": "factorial",
    "SEQUENTIAL": "sequential",
    "TREATMENT": "treatment",
    "PREVENTION": "prevention",
    "DIAGNOSTIC": "diagnostic",
    "ECT": "educational, counselling or training",
    "SUPPORTIVE_CARE": "supportive care",
    "SCREENING": "screening",
    "HEALTH_SERVICES_RESEARCH": "health services research",
    "BASIC_SCIENCE": "basic science",
    "DEVICE_FEASIBILITY": "device feasibility",
    "NONE": "none",
    "SINGLE": "single",
    "DOUBLE": "double",
    "TRIPLE": "triple",
    "QUADRUPLE": "quadruple",
    "PARTICIPANT": "participant",
    "CARE_PROVIDER": "care provider",
    "INVESTIGATOR": "investigator",
    "OUTCOMES_ASSESSOR": "outcomes assessor",
    "COHORT": "cohort",
    "CASE_CONTROL": "case-control",
    "CASE_ONLY": "case-only",
    "CASE_CROSSOVER": "case-crossover",
    "ECOLOGIC_OR_COMMUNITY": "ecologic or community",
    "FAMILY_BASED": "family-based",
    "DEFINED_POPULATION": "defined population",
    "NATURAL_HISTORY": "natural history",
    "RETROSPECTIVE": "retrospective",
    "PROSPECTIVE": "prospective",
    "CROSS_SECTIONAL": "cross-sectional",
    "NONE_RETAINED": "none retained",
    "SAMPLES_WITH_DNA": "samples with DNA",
    "SAMPLES_WITHOUT_DNA": "samples without DNA",
    "PROBABILITY_SAMPLE": "probability sample",
    "NON_PROBABILITY_SAMPLE": "non-probability sample",
    # arms and interventions
    "EXPERIMENTAL": "experimental",
    "ACTIVE_COMPARATOR": "active comparator",
    "PLACEBO_COMPARATOR": "placebo comparator",
    "SHAM_COMPARATOR": "sham comparator",
    "NO_INTERVENTION": "no intervention",
    "BEHAVIORAL": "behavioural",
    "BIOLOGICAL": "biological",
    "COMBINATION_PRODUCT": "combination product",
    "DEVICE": "device",
    "DIAGNOSTIC_TEST": "diagnostic test",
    "DIETARY_SUPPLEMENT": "dietary supplement",
    "DRUG": "drug",
    "GENETIC": "genetic",
    "PROCEDURE": "procedure",
    "RADIATION": "radiation",
    "OTHER": "other",
    # eligibility (field-free fallbacks; the sex and age words above win in their fields)
    "ALL": "all",
    "FEMALE": "female",
    "MALE": "male",
    "CHILD": "child",
    "ADULT": "adult",
    "OLDER_ADULT": "older adult",
    # people
    "STUDY_CHAIR": "study chair",
    "STUDY_DIRECTOR": "study director",
    "PRINCIPAL_INVESTIGATOR": "principal investigator",
    "SUB_INVESTIGATOR": "sub-investigator",
    "CONTACT": "contact",
    "SPONSOR": "sponsor",
    "SPONSOR_INVESTIGATOR": "sponsor-investigator",
    "INDUSTRY": "industry",
    "OTHER_GOV": "other government agency",
    "INDIV": "individual",
    "NETWORK": "network",
    "AMBIG": "ambiguous",
    "FED": "US federal agency",
    "NIH": "NIH",
    "FDA": "FDA",
    "VA": "VA",
    "CDC": "CDC",
    "AHRQ": "AHRQ",
    "SAMHSA": "SAMHSA",
    # ids and references
    "OTHER_GRANT": "other grant",
    "EUDRACT_NUMBER": "EudraCT number",
    "CTIS": "CTIS number",
    "REGISTRY": "registry id",
    "BACKGROUND": "background",
    "RESULT": "result",
    "DERIVED": "derived from PubMed",
    # data sharing
    "UNDECIDED": "undecided",
    "STUDY_PROTOCOL": "study protocol",
    "SAP": "statistical analysis plan",
    "ICF": "informed consent form",
    "CSR": "clinical study report",
    "ANALYTIC_CODE": "analytic code",
    # results review and violations
    "RESET": "returned after QC review",
    "RELEASE": "submitted",
    "UNRELEASE": "cancelled",
    "VIOLATION_IDENTIFIED": "violation identified",
    "CORRECTION_CONFIRMED": "correction confirmed",
    "PENALTY_IMPOSED": "penalty imposed",
    "ISSUES_IN_CERTIFICATION": "issues in certification",
    "CERTIFICATION_CORRECTED": "certification corrected",
    # results tables
    "PRIMARY": "primary",
    "SECONDARY": "secondary",
    "OTHER_PRE_SPECIFIED": "other pre-specified",
    "POST_HOC": "post hoc",
    "POSTED": "posted",
    "NOT_POSTED": "not posted",
    "SYSTEMATIC_ASSESSMENT": "systematic assessment",
    "NON_SYSTEMATIC_ASSESSMENT": "non-systematic assessment",
    "MEAN": "mean",
    "MEDIAN": "median",
    "COUNT_OF_PARTICIPANTS": "count of participants",
    "STANDARD_DEVIATION": "standard deviation",
    "STANDARD_ERROR": "standard error",
    "FULL_RANGE": "full range",
    "INTER_QUARTILE_RANGE": "interquartile range",
}

# Fields whose values are enum codes (from the API's metadata, `isEnum`): a code in them that the
# table does not know is still said as words.
ENUM_FIELDS = frozenset(
    {
        "type",
        "class",
        "overallStatus",
        "lastKnownStatus",
        "statusForNctId",
        "studyType",
        "phases",
        "allocation",
        "interventionModel",
        "primaryPurpose",
        "observationalModel",
        "timePerspective",
        "masking",
        "whoMasked",
        "retention",
        "sex",
        "stdAges",
        "samplingMethod",
        "role",
        "status",
        "ipdSharing",
        "infoTypes",
        "paramType",
        "dispersionType",
        "reportingStatus",
        "ciNumSides",
        "nonInferiorityType",
        "assessmentType",
        "restrictionType",
        "relevance",
    }
)

_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_PHASE = re.compile(r"PHASE(\d)")


def is_enum_code(text: str) -> bool:
    """A value that looks like an API enum code (``ACTIVE_NOT_RECRUITING``, ``PHASE2``)."""
    return bool(_CODE.match(text))


def known_code(text: str) -> bool:
    return text in _WORDS


def words(value: Any, field: str | None = None) -> str:
    """One enum code in words; anything else unchanged (as text).

    ``field`` is the field's name (the last key of its path). A field that is not an enum keeps
    its text as it is (an acronym or a sponsor's own id is not a code); without a field, only the
    codes this table knows are translated."""
    if not isinstance(value, str):
        return str(value)
    if field is not None and field not in ENUM_FIELDS:
        return value
    by_field = _BY_FIELD.get(field or "")
    if by_field and value in by_field:
        return by_field[value]
    if value in _WORDS:
        return _WORDS[value]
    if field is not None and _CODE.match(value):
        return _PHASE.sub(r"phase \1", value).replace("_", " ").lower()
    return value


def status_words(code: Any) -> str:
    """An overall status in words, or "none"."""
    if not code:
        return "none"
    return words(code, "overallStatus")
