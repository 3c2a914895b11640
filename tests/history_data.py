"""Version series for the history tests and benchmark, built from real records.

The registry's history endpoint serves each version with its text HTML-encoded (the one real
version in the samples, ``history-NCT04280705-v0.json``, shows the form: ``<p>…</p><ol><li>…``,
``&gt;&#x2F;=``, ``\\n`` inside paragraphs) and without ``derivedSection``. :func:`as_history`
turns an API v2 record (markdown with backslash escapes) into that form, so a test can serve a
version whose content is exactly a v2 record's.

:func:`series` builds the life of NCT03934567 backwards from its real current record by the
edits a sponsor makes over a trial's life (registration, recruiting, slips, an outcome time frame
changed after the start, enrollment cut, primary completion reached)."""

from __future__ import annotations

import copy
import html
import re
from typing import Any

from tests.conftest import load

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ITEM = re.compile(r"^\s*(?:[*+-]|\d+\.)\s+")


def _html(text: str) -> str:
    """One markdown text as the history endpoint serves it."""
    text = _ESCAPE.sub(r"\1", text)

    def enc(s: str) -> str:
        return html.escape(s, quote=True).replace("/", "&#x2F;").replace("&#x27;", "&#x27;")

    if "\n" not in text:
        return enc(text)
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if lines and all(_ITEM.match(ln) for ln in lines):
            tag = "ol" if re.match(r"^\s*\d+\.", lines[0]) else "ul"
            items = "".join(f"<li>{enc(_ITEM.sub('', ln).strip())}</li>" for ln in lines)
            out.append(f"<{tag}>{items}</{tag}>")
        else:
            out.append("<p>" + "\n".join(enc(ln.strip()) for ln in lines) + "</p>")
    return "".join(out)


def as_history(record: dict[str, Any]) -> dict[str, Any]:
    """A v2 record as the history endpoint serves the same content: HTML text, no
    derivedSection (the registry computes it for the current record only)."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _html(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    study = walk({k: v for k, v in record.items() if k != "derivedSection"})
    assert isinstance(study, dict)
    return study


def _status(r: dict[str, Any]) -> dict[str, Any]:
    module = r["protocolSection"]["statusModule"]
    assert isinstance(module, dict)
    return module


def _submitted(r: dict[str, Any], day: str) -> None:
    _status(r)["lastUpdateSubmitDate"] = day
    _status(r)["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    _status(r)["statusVerifiedDate"] = day[:7]


def series(nct: str = "NCT03934567") -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(index entry, v2 record) for each version, oldest first; the last is the real record."""
    current = load(f"{nct}.json")
    steps: list[tuple[str, str, list[str], Any]] = []

    def registered(r: dict[str, Any]) -> None:
        s = _status(r)
        s["overallStatus"] = "NOT_YET_RECRUITING"
        s["startDateStruct"] = {"date": "2019-06-30", "type": "ESTIMATED"}
        s["primaryCompletionDateStruct"] = {"date": "2021-12-31", "type": "ESTIMATED"}
        s["completionDateStruct"] = {"date": "2022-06-30", "type": "ESTIMATED"}
        r["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 120, "type": "ESTIMATED"}
        r["protocolSection"]["contactsLocationsModule"]["locations"] = r["protocolSection"][
            "contactsLocationsModule"
        ]["locations"][:5]
        r["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = (
            "up to 12 months"
        )
        _submitted(r, "2019-04-29")

    def recruiting(r: dict[str, Any]) -> None:
        registered(r)
        s = _status(r)
        s["overallStatus"] = "RECRUITING"
        s["startDateStruct"] = {"date": "2020-04-22", "type": "ACTUAL"}
        r["protocolSection"]["contactsLocationsModule"]["locations"] = current["protocolSection"][
            "contactsLocationsModule"
        ]["locations"][:20]
        _submitted(r, "2020-05-11")

    def slipped(r: dict[str, Any]) -> None:
        recruiting(r)
        _status(r)["primaryCompletionDateStruct"] = {"date": "2023-06-30", "type": "ESTIMATED"}
        _status(r)["completionDateStruct"] = {"date": "2023-12-31", "type": "ESTIMATED"}
        _submitted(r, "2021-03-02")

    def outcome_after_start(r: dict[str, Any]) -> None:
        slipped(r)
        r["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "up to 56 days"
        _submitted(r, "2021-09-14")

    def slipped_again(r: dict[str, Any]) -> None:
        outcome_after_start(r)
        _status(r)["primaryCompletionDateStruct"] = {"date": "2024-12-31", "type": "ESTIMATED"}
        _status(r)["completionDateStruct"] = {"date": "2025-10-30", "type": "ESTIMATED"}
        r["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 90, "type": "ESTIMATED"}
        r["protocolSection"]["contactsLocationsModule"]["locations"] = current["protocolSection"][
            "contactsLocationsModule"
        ]["locations"]
        _submitted(r, "2023-02-20")

    steps = [
        ("2019-04-29", "NOT_YET_RECRUITING", [], registered),
        ("2020-05-11", "RECRUITING", ["Study Status", "Contacts/Locations"], recruiting),
        ("2021-03-02", "RECRUITING", ["Study Status"], slipped),
        ("2021-09-14", "RECRUITING", ["Outcome Measures"], outcome_after_start),
        ("2023-02-20", "RECRUITING", ["Study Status", "Study Design"], slipped_again),
    ]
    out = []
    for number, (day, status, labels, edit) in enumerate(steps):
        record = copy.deepcopy(current)
        edit(record)
        out.append(
            ({"version": number, "date": day, "status": status, "moduleLabels": labels}, record)
        )
    out.append(
        (
            {
                "version": len(steps),
                "date": _status(current)["lastUpdateSubmitDate"],
                "status": _status(current)["overallStatus"],
                "moduleLabels": ["Study Status", "Study Design"],
            },
            current,
        )
    )
    return out


def serve_series(registry: Any, nct: str = "NCT03934567") -> list[dict[str, Any]]:
    """Put the series on a test registry (history endpoints, and the current record on v2).
    Returns the v2 records, oldest first."""
    versions = series(nct)
    registry.versions[nct] = [(entry, as_history(record)) for entry, record in versions]
    registry.put(versions[-1][1])
    return [record for _, record in versions]
