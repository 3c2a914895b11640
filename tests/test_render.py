"""Every format is rendered from the same report, and registry text stays text in each."""

from __future__ import annotations

import json
import re

from trialwatch.model import Category, Change, Kind, Outcome, RunReport, TrialReport
from trialwatch.render.html import render_html
from trialwatch.render.json_report import render_json
from trialwatch.render.markdown import render_markdown
from trialwatch.render.text import render_text

EVIL = "[click](http://evil.test) <img src=x onerror=alert(1)> **bold** @octocat \x1b[31m|x|"


def report() -> RunReport:
    change = Change(
        "NCT06224738",
        "protocolSection.statusModule.whyStopped",
        "Why stopped",
        Kind.ADDED,
        None,
        EVIL,
        f"Why stopped added: “{EVIL}”",
        Category.STATUS,
    )
    trial = TrialReport(
        "NCT06224738",
        Outcome.CHANGED,
        title=EVIL,
        changes=[change],
        previous_snapshot="2026-11-24.json",
        snapshot="2026-11-25.json",
    )
    broken = TrialReport("NCT99999999", Outcome.ERROR, error="NCT99999999 is not in the registry")
    return RunReport("2026-11-25T00:00:00Z", [trial, broken], data_timestamp="2026-11-25T09:00")


def test_markdown_is_inert() -> None:
    md = render_markdown(report())
    assert "[click](http" not in md and "\\[click\\]" in md
    assert not re.search(r"(?<!\\)<img", md) and "\\<img" in md
    assert "**bold**" not in md
    assert "@octocat" not in md  # no mention pings from registry text
    assert "\x1b" not in md
    assert "| x |" not in md and "\\|x\\|" in md
    assert "### Errors (not checked this run)" in md
    assert "- **NCT99999999**: NCT99999999 is not in the registry" in md


def test_html_is_escaped_and_self_contained() -> None:
    html = render_html(report())
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "\x1b" not in html
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "http://" not in html.replace("http://evil.test", "")  # no external resources
    assert 'href="https://clinicaltrials.gov/study/NCT06224738"' in html


def test_text_strips_control_characters_and_keeps_errors_apart() -> None:
    text = render_text(report())
    assert "\x1b" not in text
    assert EVIL.replace("\x1b[31m", "") in text  # the whole escape sequence, not only ESC
    assert text.startswith(
        "Errors (not checked this run)\n  NCT99999999: NCT99999999 is not in the registry\n"
    )


def test_json_keeps_the_text_exactly() -> None:
    data = json.loads(render_json(report()))
    assert data["schema"] == "trialwatch.report/2"
    assert data["trials"][0]["changes"][0]["new"] == EVIL
    assert data["summary"] == {
        "checked": 2,
        "new": 0,
        "changed": 1,
        "unchanged": 0,
        "removed": 0,
        "error": 1,
        "matches": ["status"],  # what --fail-on can match: the changed trial's categories
    }


def test_a_report_survives_the_outbox_round_trip() -> None:
    for trial in report().trials:
        again = TrialReport.from_json(json.loads(json.dumps(trial.to_json())))
        assert again == trial


def test_long_first_run_is_compact() -> None:
    from trialwatch.model import Baseline

    def new(i: int) -> TrialReport:
        b = Baseline(f"Trial {i}", "RECRUITING", [], None, None, None, None, None, None, None)
        return TrialReport(
            f"NCT{i:08d}", Outcome.NEW, title=f"Trial {i}", baseline=b, snapshot="2026-11-25.json"
        )

    run = RunReport("2026-11-25T00:00:00Z", [new(i) for i in range(1, 13)])
    text = render_text(run)
    assert len(text.splitlines()) == 12
    assert text.splitlines()[0] == (
        "NCT00000001  baseline recorded (Recruiting, 2026-11-25.json)  Trial 1"
    )
    md = render_markdown(run)
    assert "### Baselines recorded (12)" in md
    assert "| NCT00000012 | Recruiting | Trial 12 |" in md
