"""The registry's version history: backfill, markup parity, failure modes, and `history`.

The stand-in registry (tests/registry_server.py) serves the history endpoints on 127.0.0.1
with versions built from real records (tests/history_data.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import all_records, load
from tests.history_data import as_history, serve_series
from tests.registry_server import Registry, serve
from trialwatch.changes.criteria import parse_criteria
from trialwatch.changes.differ import compare

pytestmark = pytest.mark.usefixtures("each_store")

EXE = str(Path(sys.executable).parent / "trialwatch")
NCT = "NCT03934567"


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    serve_series(reg)
    reg.put(load("NCT06171568.json"))  # a trial the history endpoint does not know
    with serve(reg) as url:
        yield reg, url


def tw(
    url: str, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "TRIALWATCH_API_URL": url,
        "TRIALWATCH_HISTORY_URL": url.replace("/api/v2", "/api/int"),
        "TRIALWATCH_BACKOFF_BASE": "0.01",
        "TRIALWATCH_REQUEST_INTERVAL": "0",
        **stores.process_env(),
        **(env or {}),
    }
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=120, check=False
    )


def stored(root: Path, nct: str = NCT) -> list[str]:
    """The registry versions stored of a trial, by file name (a database names them alike)."""
    if stores.on_database():
        return [f"v{n:04d}.json" for n in sorted(stores.version_numbers(nct))]
    folder = root / "snapshots" / nct / "registry"
    return sorted(p.name for p in folder.glob("v*.json")) if folder.exists() else []


def saved_version(root: Path, number: int, nct: str = NCT) -> dict[str, Any]:
    """A stored registry version as stored: provenance and study."""
    if stores.on_database():
        ((body,),) = stores.sql(
            "SELECT body FROM registry_versions WHERE nct = ? AND version = ?", (nct, number)
        )
        return dict(json.loads(body))
    path = root / "snapshots" / nct / "registry" / f"v{number:04d}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def snapshots_of(root: Path, nct: str = NCT) -> list[str]:
    """The snapshots check took of a trial (not the registry's versions)."""
    if stores.on_database():
        return stores.snapshot_names(nct)
    return sorted(p.name for p in (root / "snapshots" / nct).glob("*.json"))


# --- markup parity ----------------------------------------------------------------------------


def test_a_history_version_and_the_same_v2_record_are_no_change() -> None:
    """Every real record against its own content as the history endpoint serves it (HTML,
    entities, no derivedSection): no material change, and the criteria parse into the same
    items."""
    records = all_records()
    assert len(records) >= 30
    for record in records:
        html_form = as_history(record)
        assert html_form != record
        found = compare("NCT00000000", record, html_form)
        assert [c.sentence for c in found.changes if c.material] == []
        assert found.events == []
        criteria = (
            record["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria", "")
        )
        html_criteria = (
            html_form["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria", "")
        )
        assert [i.key for i in parse_criteria(criteria)] == [
            i.key for i in parse_criteria(html_criteria)
        ]


def test_the_real_html_version_parses_into_criteria_items() -> None:
    version = load("history-NCT04280705-v0.json")  # the study of {studyVersion, study}
    text = version["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert text.startswith("<p>Inclusion Criteria:</p><ol><li>")
    items = parse_criteria(text)
    assert items[0].section == "inclusion"
    assert items[0].text.startswith("Subject (or legally authorized representative) provides")
    assert any("≥" in i.text or ">/=18" in i.text for i in items)
    assert {i.section for i in items} == {"inclusion", "exclusion"}


# --- backfill ---------------------------------------------------------------------------------


def test_backfill_stores_every_version_once_and_resumes(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    reg, url = registry
    reg.unserved.add((NCT, 3))  # a version missing mid-way
    proc = tw(url, tmp_path, "backfill", NCT)
    assert proc.returncode == 2, proc.stderr
    assert "6 versions in the registry; 5 fetched, 0 already stored" in proc.stdout
    assert "not served: version 3" in proc.stdout
    assert stored(tmp_path) == [
        "v0000.json",
        "v0001.json",
        "v0002.json",
        "v0004.json",
        "v0005.json",
    ]
    saved = saved_version(tmp_path, 2)
    assert saved["provenance"]["version"] == 2 and saved["provenance"]["date"] == "2021-03-02"
    assert saved["provenance"]["moduleLabels"] == ["Study Status"]
    assert "<" in saved["study"]["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    # The next run asks only for what is missing.
    reg.unserved.clear()
    before = len(reg.requests)
    proc = tw(url, tmp_path, "backfill", NCT)
    assert proc.returncode == 0, proc.stderr
    assert "1 fetched, 5 already stored" in proc.stdout
    asked = [p for p in reg.requests[before:] if "/history" in p]
    assert asked == [f"/api/int/studies/{NCT}/history", f"/api/int/studies/{NCT}/history/3"]
    assert len(stored(tmp_path)) == 6
    # Never a search parameter (the registry would mark matches up in the text).
    assert not [p for p in reg.requests if "/api/int/" in p and "?" in p]
    # Nothing of this touched the snapshots check takes.
    assert not snapshots_of(tmp_path)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ((403, {"Content-Type": "text/html"}, b"<html>Forbidden</html>"), "HTTP 403"),
        (
            (404, {"Content-Type": "text/plain"}, b"No study NCT03934567 history summary"),
            "keeps no",
        ),
        ((200, {"Content-Type": "application/json"}, b'{"changes": "soon"}'), "expected shape"),
        (
            (200, {"Content-Type": "text/html"}, b"<html><body>Maintenance</body></html>"),
            "not JSON",
        ),
        ((200, {"Content-Type": "application/json"}, b'{"changes": [{"version": 0'), "not JSON"),
    ],
)
def test_an_unreadable_history_is_said_and_stores_nothing(
    registry: tuple[Registry, str], tmp_path: Path, answer: Any, said: str
) -> None:
    reg, url = registry
    reg.script(f"/api/int/studies/{NCT}/history", answer)
    proc = tw(url, tmp_path, "backfill", NCT, "NCT06171568")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{NCT}: history unavailable: ") and said in lines[0], lines
    # The other trial of the run is still tried (the registry keeps no history of it).
    assert lines[1].startswith("NCT06171568: history unavailable: the registry keeps no")
    assert stored(tmp_path) == []


def test_a_version_of_another_number_or_trial_is_not_stored(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    reg, url = registry
    wrong = json.dumps({"studyVersion": 4, "study": as_history(load("NCT03934567.json"))})
    reg.script(f"/api/int/studies/{NCT}/history/2", (200, {}, wrong.encode()))
    other = json.dumps({"studyVersion": 1, "study": as_history(load("NCT06171568.json"))})
    reg.script(f"/api/int/studies/{NCT}/history/1", (200, {}, other.encode()))
    proc = tw(url, tmp_path, "backfill", NCT)
    assert proc.returncode == 2
    assert "asked for version 2 of NCT03934567, the registry answered version 4" in proc.stdout
    assert "answered one of NCT06171568" in proc.stdout
    assert stored(tmp_path) == ["v0000.json", "v0003.json", "v0004.json", "v0005.json"]


def test_backfill_all_and_bad_input(registry: tuple[Registry, str], tmp_path: Path) -> None:
    _reg, url = registry
    (tmp_path / "trialwatch.toml").write_text(f'trials = ["{NCT}"]\n', encoding="utf-8")
    proc = tw(url, tmp_path, "backfill", "--all", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["fetched"] == 6
    proc = tw(url, tmp_path, "backfill", "NCT-1")
    assert proc.returncode == 2 and "is not a ClinicalTrials.gov id" in proc.stderr
    proc = tw(url, tmp_path, "backfill", "NCT03934567", env={"TRIALWATCH_HISTORY_URL": "ftp://x"})
    assert proc.returncode == 2 and "history_url" in proc.stderr


# --- history ----------------------------------------------------------------------------------


def _backfilled(url: str, cwd: Path) -> None:
    assert tw(url, cwd, "backfill", NCT).returncode == 0
    assert tw(url, cwd, "check", NCT).returncode == 0  # today's snapshot: the same as v5


def test_history_tells_the_whole_life(registry: tuple[Registry, str], tmp_path: Path) -> None:
    _reg, url = registry
    _backfilled(url, tmp_path)
    proc = tw(url, tmp_path, "history", NCT, "--original")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "6 versions known (6 from the registry)" in out
    assert "v0       2019-04-29  Not yet recruiting" in out
    assert "(registered)" in out
    # Today's snapshot is the last registry version again: folded into it, not a 7th step.
    assert "v5 = 20" in out
    assert "Overall status Not yet recruiting → Recruiting" in out
    assert "Primary completion moved 3 times, 2021-12-31 → 2025-01-29 in all" in out
    assert "later by 3 years 1 month" in out
    assert "Start moved once, 2019-06-30 → 2020-04-22" in out
    assert "Outcome changes after the trial started (2019-06-30, as first registered): 1" in out
    assert "v3 (2021-09-14): Primary outcome" in out and "time frame" in out
    assert "Time in each status: Not yet recruiting 1 year 0 months" not in out
    assert "Time in each status: Not yet recruiting 1 year" in out
    assert "Enrollment: 120 (estimated) → 87 (actual)" in out
    assert "Lead sponsor: unchanged since registration" in out
    since = tw(url, tmp_path, "history", NCT, "--since", "2023-01-01").stdout
    assert "v4 " in since and "v2 " not in since
    assert tw(url, tmp_path, "history", NCT, "--since", "soon").returncode == 2


def test_history_json_markdown_and_the_picture(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    _reg, url = registry
    _backfilled(url, tmp_path)
    data = json.loads(tw(url, tmp_path, "history", NCT, "--format", "json").stdout)
    assert data["schema"] == "trialwatch.history/1"
    assert [s["label"] for s in data["steps"]] == ["v0", "v1", "v2", "v3", "v4", "v5"]
    assert data["steps"][5]["also"] and data["steps"][0]["status"] == "NOT_YET_RECRUITING"
    pcd = next(x for x in data["date_ledger"] if x["field"] == "primaryCompletionDateStruct")
    assert len(pcd["moves"]) == 3 and pcd["slip_months"] == 37
    markdown = tw(url, tmp_path, "history", NCT, "--format", "markdown").stdout
    assert markdown.startswith(f"## {NCT} — ") and "| v3 | 2021-09-14 |" in markdown
    page = tw(url, tmp_path, "history", NCT, "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.split("<body>")[1].replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bands = root.findall(f"{ns}rect[@class='status']")
    assert [b.get("data-status") for b in bands] == [
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "RECRUITING",
        "RECRUITING",
        "RECRUITING",
        "ACTIVE_NOT_RECRUITING",
    ]
    lines = {p.get("data-field"): p for p in root.findall(f"{ns}polyline[@class='key-date']")}
    assert set(lines) == {"startDateStruct", "primaryCompletionDateStruct", "completionDateStruct"}
    points = [
        tuple(map(float, p.split(",")))
        for p in lines["primaryCompletionDateStruct"].get("points", "").split()
    ]
    assert len(points) == 12  # a step per version
    levels = [y for _, y in points[::2]]
    assert levels[2] < levels[1] and levels[4] < levels[3]  # slips climb (SVG y grows down)
    marks = root.findall(f"{ns}circle")
    assert len(marks) == 6
    flagged = [m.get("data-label") for m in marks if "flagged" in (m.get("class") or "")]
    assert "v3" in flagged
    assert root.find(f"{ns}polyline[@class='enrollment']") is not None


def test_history_without_registry_versions_says_how_to_get_them(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    _reg, url = registry
    assert tw(url, tmp_path, "check", NCT).returncode == 0
    out = tw(url, tmp_path, "history", NCT).stdout
    assert f"trialwatch backfill {NCT}" in out and "(first seen)" in out


def test_first_check_with_backfill_says_what_the_history_holds(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    _reg, url = registry
    proc = tw(url, tmp_path, "check", NCT, "NCT06171568", "--backfill")
    assert proc.returncode == 0, proc.stderr
    assert (
        "since registration (2019-04-29): 6 versions; primary completion moved 3 times, "
        "2021-12-31 → 2025-01-29 in all (later by 3 years 1 month); enrollment 120 → 87; "
        "1 outcome change after the start"
    ) in proc.stdout
    assert "history unavailable: the registry keeps no version history" in proc.stdout
    assert len(stored(tmp_path)) == 6
    assert snapshots_of(tmp_path)  # and the baseline
    # Only a first check backfills: the next one asks the history endpoint nothing.
    before = len(_reg.requests)
    assert tw(url, tmp_path, "check", NCT, "--backfill").returncode == 0
    assert not [p for p in _reg.requests[before:] if "/api/int/" in p]


def test_original_uses_the_registrys_original_data_where_it_speaks(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    reg, url = registry
    # The index's originalData holds an original value only where it differs from now, and a
    # "…Same" flag where it does not (the one real capture's shape).
    reg.original[NCT] = {
        "enrollmentInfo": {"count": 150, "type": "ESTIMATED"},
        "leadSponsorSame": True,
        "secondaryOutcomesSame": True,
    }
    assert tw(url, tmp_path, "backfill", NCT).returncode == 0
    out = tw(url, tmp_path, "history", NCT, "--original").stdout
    assert (
        "Enrollment: 150 (estimated) → 87 (actual) (original from the registry's original data)"
        in out
    )
    assert "Lead sponsor: unchanged since registration" in out
    assert (
        "Primary completion: 2021-12-31 (estimated) → 2025-01-29 (actual) (original from v0" in out
    )


def test_history_reads_posted_results_against_the_original_registration() -> None:
    """With the registry's versions stored, the results are set beside the outcomes as first
    registered, not only the current protocol (which the sponsor may have edited to match)."""
    import copy

    from trialwatch.timeline.render import render_text, tell
    from trialwatch.timeline.story import Step

    posted = load("NCT03064438.json")  # results posted; protocol now matches them
    original = copy.deepcopy(posted)
    del original["resultsSection"]
    outcomes = original["protocolSection"]["outcomesModule"]
    outcomes["primaryOutcomes"][0]["timeFrame"] = "Baseline, Week 8"  # as first registered
    steps = [
        Step("v0", "2017-03-01", "registry", original, version=0),
        Step("2026-12-04.json", "2021-08-17", "snapshot", posted, snapshot="2026-12-04.json"),
    ]
    story = tell("NCT03064438", steps, None)
    assert story.results_vs_original == [
        "Results report the primary outcome “Change From Baseline in Total Lesion Count at "
        "Week 12” at “Baseline, Week 12”; it was first registered (2017-03-01) at “Baseline, "
        "Week 8”"
    ]
    assert story.results_vs_original[0] in render_text(story)
    assert story.to_json()["results_vs_original"] == story.results_vs_original
    # Only trialwatch's snapshots (no registry version): nothing claimed about the original.
    steps[0].source = "snapshot"
    assert tell("NCT03064438", steps, None).results_vs_original == []


def test_snapshots_keep_the_order_the_store_saw_them_whatever_their_dates(
    her2: dict[str, Any],
) -> None:
    """A record served without a sponsor's submit date (real ones are) is dated by the day it
    was fetched; a later one with a submit date before that day must still come after it, or a
    trial that stopped recruiting reads as one that went back to recruiting."""
    from trialwatch.model import EventType
    from trialwatch.record import Fetched
    from trialwatch.store.open import open_store
    from trialwatch.timeline.story import steps

    nct = her2["protocolSection"]["identificationModule"]["nctId"]

    def version(status: str, submitted: str | None, day: str) -> Fetched:
        record = json.loads(json.dumps(her2))
        module = record["protocolSection"]["statusModule"]
        module["overallStatus"] = status
        if submitted:
            module["lastUpdateSubmitDate"] = submitted
        else:
            module.pop("lastUpdateSubmitDate", None)
        return Fetched(nct, record, "http://127.0.0.1/", f"{day}T09:00:00Z", nct)

    store = open_store(stores.spec())
    try:
        store.save(version("RECRUITING", None, "2026-12-01"))
        store.save(version("ACTIVE_NOT_RECRUITING", "2026-11-20", "2026-12-05"))
        found = steps(store, nct)
    finally:
        store.close()
    assert [s.status() for s in found] == ["RECRUITING", "ACTIVE_NOT_RECRUITING"]
    assert EventType.STATUS_REGRESSION.value not in found[-1].event_types
    assert found[-1].events[0].startswith("Overall status Recruiting → Active, not recruiting")
