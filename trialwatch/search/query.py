"""A search query as the API takes it, from ``key=value`` pairs or from a URL copied from the
registry's search page (translated to API parameters as ctrdata does), with a stable id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from trialwatch.errors import InputError
from trialwatch.model import search_words

# Short names (the website's) for the API's query parameters.
QUERY_AREAS = ("cond", "term", "locn", "titles", "intr", "outc", "spons", "lead", "id", "patient")
FILTERS = ("overallStatus", "geo", "ids", "advanced", "synonyms")
ALLOWED = {
    *(f"query.{a}" for a in QUERY_AREAS),
    *(f"filter.{f}" for f in FILTERS),
    *(f"postFilter.{f}" for f in FILTERS),
    "aggFilters",
    "geoDecay",
}
# Paging and shape: the watch decides these itself.
IGNORED = {"pageSize", "pageToken", "countTotal", "fields", "format", "markupFormat", "sort"}
# The website's date ranges ("lastUpdPost=2024-01-01_2024-06-30") and the search area each is.
DATE_RANGES = {
    "lastUpdPost": "LastUpdatePostDate",
    "firstPost": "StudyFirstPostDate",
    "resFirstPost": "ResultsFirstPostDate",
    "primComp": "PrimaryCompletionDate",
    "start": "StartDate",
    "studyComp": "CompletionDate",
}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})?_?(\d{4}-\d{2}-\d{2})?$")


@dataclass(frozen=True, slots=True)
class Query:
    params: tuple[tuple[str, str], ...]  # sorted (name, value) pairs
    label: str | None = None

    @property
    def id(self) -> str:
        """Stable across runs and machines: the same parameters, the same id."""
        text = "&".join(f"{k}={v}" for k, v in self.params)
        return "q" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        return self.label or self.describe()

    def describe(self) -> str:
        """In words: condition “gastric cancer”, intervention “CAR-T”."""
        return search_words(dict(self.params))

    def as_params(self) -> dict[str, str]:
        return dict(self.params)

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": dict(self.params)}
        if self.label:
            out["label"] = self.label
        return out


def _name(key: str) -> str:
    key = key.strip()
    if key in QUERY_AREAS:
        return f"query.{key}"
    if key == "status":
        return "filter.overallStatus"
    if key == "advanced":
        return "filter.advanced"
    return key


def _range(area: str, value: str) -> str:
    match = _DATE.match(value.strip())
    if not match:
        raise InputError(
            f"a date range wants FROM_TO (2024-01-01_2024-06-30, or one side), not {value!r}"
        )
    low, high = match.group(1) or "MIN", match.group(2) or "MAX"
    return f"AREA[{area}]RANGE[{low},{high}]"


def build(pairs: list[tuple[str, str]], label: str | None = None) -> Query:
    """A query from parameter pairs (short or API names, website date ranges and places)."""
    params: dict[str, str] = {}
    advanced: list[str] = []
    geo: dict[str, str] = {}
    places: list[str] = []
    for key, value in pairs:
        key, value = key.strip(), value.strip()
        if not value or key in IGNORED:
            continue
        if key in DATE_RANGES:
            advanced.append(_range(DATE_RANGES[key], value))
            continue
        if key in ("lat", "lng", "distance"):
            geo[key] = value
            continue
        if key in ("country", "state", "city", "locStr"):
            places.append(value)
            continue
        name = _name(key)
        if name not in ALLOWED:
            raise InputError(
                f"unknown search parameter {key!r}: use cond, term, intr, titles, outc, spons, "
                "lead, locn, id, patient, status, aggFilters or an API name such as "
                "filter.advanced"
            )
        if name == "filter.advanced":
            advanced.append(value)
        elif name in params:
            params[name] = f"{params[name]} AND {value}" if name.startswith("query.") else value
        else:
            params[name] = value
    if advanced:
        params["filter.advanced"] = " AND ".join(f"({a})" if " " in a else a for a in advanced)
    if places and "query.locn" not in params:
        params["query.locn"] = " AND ".join(dict.fromkeys(places))
    if geo:
        if not {"lat", "lng"} <= set(geo):
            raise InputError("a distance search needs lat, lng and distance")
        miles = geo.get("distance", "50").rstrip("mi")
        params["filter.geo"] = f"distance({geo['lat']},{geo['lng']},{miles}mi)"
    if not params:
        raise InputError(
            "a query needs at least one search parameter, e.g. --query 'cond=gastric cancer'"
        )
    return Query(tuple(sorted(params.items())), label)


def from_args(raw: list[str], label: str | None = None) -> Query:
    """``--query 'cond=gastric cancer' --query 'intr=CAR-T'``, or one URL."""
    if len(raw) == 1 and raw[0].strip().lower().startswith(("http://", "https://")):
        return from_url(raw[0], label)
    pairs = []
    for item in raw:
        if "=" not in item:
            raise InputError(
                f"--query wants name=value (cond=asthma, intr=CAR-T, status=RECRUITING) or a "
                f"search URL, not {item!r}"
            )
        key, value = item.split("=", 1)
        pairs.append((key, value))
    return build(pairs, label)


def from_url(url: str, label: str | None = None) -> Query:
    """A URL of the registry's search page (``https://clinicaltrials.gov/search?cond=…``) or of
    the API (``…/api/v2/studies?query.cond=…``)."""
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=False)
    if not pairs:
        raise InputError(f"the URL {url!r} carries no search parameters")
    return build(pairs, label)


def from_toml(entry: Any, where: str) -> Query:
    if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
        raise InputError(f"{where}: a query must be a table with params = {{ … }}")
    label = entry.get("label")
    if label is not None and not isinstance(label, str):
        raise InputError(f"{where}: a query's label must be a string")
    pairs = [(str(k), str(v)) for k, v in entry["params"].items()]
    return build(pairs, label)
