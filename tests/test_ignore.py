"""Ignore rules that can be trusted: the paths the JSON report prints, wildcards, item
identities, JSON Pointers; a rule that names no field is said (refused with --strict); and
``diff --explain-ignore`` shows what each rule hid. Records: NCT03934567 with realistic edits
(a site renamed, the status completed, an outcome's time frame changed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli, edited, load
from trialwatch.changes.differ import compare
from trialwatch.changes.ignore import check
from trialwatch.errors import InputError

SITE = "protocolSection.contactsLocationsModule.locations"
NEW_NAME = "National Cancer Center/Cancer Hospital, Chinese Academy of Medical Sciences"


def edits(r: dict[str, Any]) -> None:
    # Its later name (a rename at the same place): the old name's own words are kept.
    r["protocolSection"]["contactsLocationsModule"]["locations"][0]["facility"] = NEW_NAME
    r["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    r["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "up to 9 months"


@pytest.fixture
def pair() -> tuple[dict[str, Any], dict[str, Any]]:
    old = load("NCT03934567.json")
    return old, edited(old, edits)


def kept(pair: tuple[dict[str, Any], dict[str, Any]], *patterns: str) -> list[str]:
    found = compare("NCT03934567", pair[0], pair[1], patterns)
    return [c.path.split("[")[0].split(".")[-1] for c in found.changes]


def test_every_change_without_rules(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    assert kept(pair) == ["overallStatus", "locations", "primaryOutcomes"]


@pytest.mark.parametrize(
    "pattern",
    [
        "protocolSection.contactsLocationsModule",  # a module, from the root
        "contactsLocationsModule.locations",  # from any field
        "locations.facility",  # an item need not be named
        "*.facility",  # at any depth
        "locations[*].facility",  # every item
        f"locations[{NEW_NAME}, Beijing, China]",  # that item, as the report prints it
        f"{SITE}[{NEW_NAME}, Beijing, China].facility",  # the JSON report's path, copied
        "/protocolSection/contactsLocationsModule/locations/0",  # the JSON report's pointer
        "/protocolSection/*/locations",
    ],
)
def test_patterns_that_hide_the_renamed_site(
    pair: tuple[dict[str, Any], dict[str, Any]], pattern: str
) -> None:
    assert kept(pair, pattern) == ["overallStatus", "primaryOutcomes"]


@pytest.mark.parametrize(
    "pattern",
    ["locations[Mayo Clinic, Rochester, United States]", "locations.contacts", "statusModul"],
)
def test_patterns_that_hide_nothing_here(
    pair: tuple[dict[str, Any], dict[str, Any]], pattern: str
) -> None:
    assert kept(pair, pattern) == ["overallStatus", "locations", "primaryOutcomes"]


def test_the_json_reports_own_paths_round_trip(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    for change in compare("NCT03934567", *pair).changes:
        for pattern in (change.path, change.pointer):
            rest = compare("NCT03934567", pair[0], pair[1], [pattern]).changes
            assert change.path not in [c.path for c in rest], pattern


def test_a_rule_that_names_no_field_is_said() -> None:
    rules, warnings = check(["protocolSection.contactLocationsModule", "*.contacts"])
    assert len(rules) == 2 and len(warnings) == 1
    assert "'contactLocationsModule' is no field of a study record" in warnings[0]
    assert "did you mean contactsLocationsModule?" in warnings[0]
    with pytest.raises(InputError, match="empty ignore pattern"):
        check([" "])
    with pytest.raises(InputError, match="would hide every change"):
        check(["*"])


def test_diff_explain_ignore_and_strict(
    pair: tuple[dict[str, Any], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    Path("old.json").write_text(json.dumps(pair[0]), encoding="utf-8")
    Path("new.json").write_text(json.dumps(pair[1]), encoding="utf-8")
    args = ["diff", "old.json", "new.json", "--format", "text"]
    code, out, err = cli(
        capsys,
        *args,
        "--ignore",
        "locations[*].facility",
        "--ignore",
        "*.contactz",
        "--explain-ignore",
    )
    assert code == 1
    assert "'locations[*].facility' hides 1 change:\n    • Site renamed:" in out
    assert "'*.contactz' hides nothing: 'contactz' is no field" in out
    assert "warning: ignore pattern '*.contactz'" in err and "did you mean contacts?" in err
    assert "Site renamed" not in out.split("\n\n", 1)[1]  # the report itself hides it
    code, _, err = cli(capsys, *args, "--ignore", "*.contactz", "--strict")
    assert code == 2 and "error: ignore pattern '*.contactz'" in err
    Path("trialwatch.toml").write_text('ignore = ["statusModule"]\n', encoding="utf-8")
    code, out, _ = cli(capsys, *args, "--explain-ignore")
    assert "'statusModule' hides 1 change:\n    • Overall status" in out
