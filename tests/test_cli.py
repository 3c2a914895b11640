"""Every exit path of the CLI, through the same entry point the console script uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import edited, load
from tests.registry_server import Registry, serve
from trialwatch.cli import run

pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, her2: dict[str, Any]) -> Iterator[Registry]:
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_BACKOFF_BASE", "0.01")
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        yield reg


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0
    assert out.startswith("trialwatch 0.")


def test_first_check_records_a_baseline(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "check", "nct06224738")
    assert code == 0, err
    assert "NCT06224738  Human HER2-targeted Macrophages Therapy" in out
    assert "baseline recorded (" in out
    assert "    Status: Not yet recruiting" in out
    assert "    Primary completion: 2026-03-01 (estimated)" in out
    assert "    Enrollment: 9 (estimated)" in out
    assert "    Lead sponsor: First People's Hospital of Hangzhou" in out
    assert "    Last update posted: 2024-01-25" in out
    assert err == ""
    assert stores.snapshot_names("NCT06224738")


def test_no_change_then_change(
    registry: Registry, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "check", "NCT06224738")[0] == 0
    code, out, _ = cli(capsys, "check", "NCT06224738")
    assert code == 0
    assert "no change since" in out

    def terminate(r: dict[str, Any]) -> None:
        s = r["protocolSection"]["statusModule"]
        s["overallStatus"] = "TERMINATED"
        s["whyStopped"] = "Sponsor decision: slow accrual"
        r["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 3, "type": "ACTUAL"}

    registry.put(edited(her2, terminate))
    code, out, _ = cli(capsys, "check", "NCT06224738")
    assert code == 1
    assert (
        "Overall status Not yet recruiting → Terminated — why stopped: "
        "“Sponsor decision: slow accrual”"
    ) in out
    assert "Enrollment became actual: 3 (67% below the target of 9)" in out
    # The stored versions compared again, named as in the snapshot folder, whichever the store.
    first, second = stores.snapshot_names("NCT06224738")
    for old, new in ((f"NCT06224738/{first}", f"NCT06224738/{second}"),
                     ("NCT06224738/previous", "NCT06224738/latest")):  # fmt: skip
        code, again, err = cli(capsys, "diff", old, new, "--format", "text")
        assert code == 1, err
        assert "Overall status Not yet recruiting → Terminated" in again
    code, _, err = cli(capsys, "diff", "NCT06224738/2001-01-01.json", "NCT06224738/latest")
    assert code == 2 and "no snapshot NCT06224738/2001-01-01.json" in err
    assert f"its snapshots: {first}, {second}" in err


def test_quiet_prints_nothing_when_nothing_changed(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "check", "-q", "NCT06224738") == (0, "", "")
    assert cli(capsys, "check", "-q", "NCT06224738") == (0, "", "")


def test_malformed_id_is_named_and_others_still_checked(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "check", "NCT-0622", "../../etc/passwd", "NCT06224738")
    assert code == 2
    assert "baseline recorded" in out
    assert err.strip().splitlines() == [
        "trialwatch: error: NCT-0622: 'NCT-0622' is not a ClinicalTrials.gov id: expected NCT "
        "followed by 8 digits, for example NCT06224738",
        "trialwatch: error: ../../etc/passwd: '../../etc/passwd' is not a ClinicalTrials.gov "
        "id: expected NCT followed by 8 digits, for example NCT06224738",
        "trialwatch: 3 trials: 0 changed, 1 new, 0 unchanged, 2 errors",
    ]
    assert stores.trials() == ["NCT06224738"]


def test_unknown_trial_is_an_error_not_removed(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "check", "NCT99999999")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "trialwatch: error: NCT99999999: NCT99999999 is not in the registry "
        "(404 from the API); check the id at https://clinicaltrials.gov"
    )


def test_trouble_wins_over_changes(
    registry: Registry, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "check", "NCT06224738")
    registry.put(
        edited(
            her2, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="RECRUITING")
        )
    )
    code, out, _ = cli(capsys, "check", "NCT06224738", "NCT99999999")
    assert code == 2
    assert "Overall status Not yet recruiting → Recruiting" in out  # still reported


def test_json_output(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "check", "NCT06224738", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "trialwatch.report/2"
    assert data["trials"][0]["outcome"] == "new"
    assert data["trials"][0]["baseline"]["enrollment"] == 9


def test_registry_text_is_escaped(
    registry: Registry, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    nasty = edited(
        her2,
        lambda r: r["protocolSection"]["identificationModule"].update(
            briefTitle="[bold red]Title[/] \x1b[2J\x1b]0;owned\x07 end"
        ),
    )
    registry.put(nasty)
    code, out, _ = cli(capsys, "check", "NCT06224738")
    assert code == 0
    assert "[bold red]Title[/]" in out
    assert "\x1b" not in out and "\x07" not in out


def test_broken_config_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    Path("trialwatch.toml").write_text('api_url = "http://x"\nstore = 3\n', encoding="utf-8")
    code, _, err = cli(capsys, "check", "NCT06224738")
    assert code == 2
    assert "trialwatch.toml: store must be a string, not int (3)" in err
    Path("trialwatch.toml").write_text("api_url = \n", encoding="utf-8")
    code, _, err = cli(capsys, "check", "NCT06224738")
    assert code == 2
    assert "trialwatch.toml is not valid TOML" in err and "line 1" in err
    Path("trialwatch.toml").write_text('colour = "blue"\n', encoding="utf-8")
    code, _, err = cli(capsys, "check", "NCT06224738")
    assert code == 2 and "unknown key 'colour'" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "check", "--no-such-option")
    assert code == 2
    assert "No such option" in err


def test_bad_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "check", "NCT06224738", "--fail-on", "status,colour")
    assert code == 2
    assert "unknown category or signal 'colour'" in err


def test_diff_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = load("NCT03475563.json")
    new = edited(
        old, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="COMPLETED")
    )
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(old), encoding="utf-8")
    b.write_text(json.dumps(new), encoding="utf-8")
    code, out, _ = cli(capsys, "diff", str(a), str(b))
    assert code == 1
    assert "Overall status Unknown status → Completed" in out
    code, out, _ = cli(capsys, "diff", str(a), str(a))
    assert code == 0
    code, _, err = cli(capsys, "diff", str(a), str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err


def test_fail_on_limits_what_exits_1(
    registry: Registry, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "check", "NCT06224738")
    registry.put(
        edited(
            her2, lambda r: r["protocolSection"]["identificationModule"].update(acronym="HER2-CARM")
        )
    )
    code, out, _ = cli(capsys, "check", "NCT06224738", "--fail-on", "status,dates")
    assert code == 0  # reported, but not a category the team fails on
    assert "Acronym added: HER2-CARM" in out
    registry.put(
        edited(
            her2, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="RECRUITING")
        )
    )
    code, _, _ = cli(capsys, "check", "NCT06224738", "--fail-on", "status,dates")
    assert code == 1


def test_html_and_markdown_formats(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "check", "NCT06224738", "--format", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and "baseline recorded" in out
    code, out, _ = cli(capsys, "check", "NCT06224738", "--format", "markdown")
    assert code == 0 and out.startswith("## trialwatch report") and "no change" not in out


def test_history_shows_how_a_trial_moved(
    registry: Registry, her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "check", "NCT06224738")
    # The sponsor's update, posted before the old primary completion date had passed.
    registry.put(
        edited(
            her2,
            lambda r: r["protocolSection"]["statusModule"].update(
                overallStatus="RECRUITING",
                primaryCompletionDateStruct={"date": "2026-06-01", "type": "ESTIMATED"},
                lastUpdatePostDateStruct={"date": "2025-12-01", "type": "ACTUAL"},
            ),
        )
    )
    cli(capsys, "check", "NCT06224738")
    code, out, _ = cli(capsys, "history", "nct06224738", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "trialwatch.history/1"
    versions = data["steps"]
    assert [v["status"] for v in versions] == ["NOT_YET_RECRUITING", "RECRUITING"]
    assert versions[1]["primary_completion"] == {"date": "2026-06-01", "type": "ESTIMATED"}
    assert versions[1]["events"] == [
        "Overall status Not yet recruiting → Recruiting",
        "Primary completion slipped 3 months (2026-03-01 → 2026-06-01, estimated)",
    ]
    code, out, _ = cli(capsys, "history", "NCT06224738")
    assert code == 0 and "Recruiting" in out and "(first seen)" in out
    code, _, err = cli(capsys, "history", "NCT03475563")
    assert code == 2 and "no snapshots or registry versions of NCT03475563" in err


def test_several_ids_go_in_one_request_unless_told_otherwise(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.put(load("NCT03475563.json"))
    code, out, _ = cli(capsys, "check", "NCT06224738", "NCT03475563")
    assert code == 0 and out.count("baseline recorded") == 2
    assert [r.split("?")[0] for r in registry.requests] == ["/api/v2/studies"]
    registry.requests.clear()
    code, out, _ = cli(capsys, "check", "--no-batch", "NCT06224738", "NCT03475563")
    assert code == 0 and out.count("no change") == 2
    assert registry.requests == ["/api/v2/studies/NCT06224738", "/api/v2/studies/NCT03475563"]
    assert not (Path("snapshots") / ".run.json").exists()  # only watch-list runs leave one


def test_a_failing_registry_stops_one_by_one_checks_early(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIALWATCH_MAX_RETRIES", "0")
    ids = [f"NCT0000000{i}" for i in range(1, 7)]
    for nct in ids:
        registry.script(f"/api/v2/studies/{nct}", (503, {}, b"down"))
    code, _, err = cli(capsys, "check", "--no-batch", *ids)
    assert code == 2
    assert len(registry.requests) == 3  # three failures in a row; the rest not asked
    assert err.count("trialwatch: error: ") == 6
    assert "not checked: the registry failed 3 times in a row" in err


def test_shell_completion_is_offered() -> None:
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "trialwatch")
    # Run from bash, as a user runs it (a second command, so bash stays its parent rather than
    # exec it): the option takes no shell name but finds the shell it
    # was started from among its parent processes (under pytest-xdist that search can end
    # before it reaches the shell that started pytest).
    proc = subprocess.run(
        ["bash", "-c", f"'{exe}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "_trialwatch_completion" in proc.stdout, proc.stderr


def test_shell_completion_offers_format_values_and_watched_ids() -> None:
    import os
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "trialwatch")
    Path("watchlist.toml").write_text(
        'trials = [{ id = "NCT06224738", label = "HER2 CAR-M" }, "NCT03064438"]\n',
        encoding="utf-8",
    )

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_TRIALWATCH_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
        proc = subprocess.run([exe], env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert complete("trialwatch check --format ") == ["auto", "text", "markdown", "json", "html"]
    assert complete("trialwatch check NCT0") == ["NCT06224738", "NCT03064438"]
    assert complete("trialwatch history NCT062") == ["NCT06224738"]
    assert complete("trialwatch watch remove NCT03") == ["NCT03064438"]


def test_store_config_and_api_url_work_before_the_command_too(
    her2: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`trialwatch --store URL watch list` as `trialwatch watch list --store URL`: the options
    every command shares may come before it; given after it, they win."""
    from tests.registry_server import Registry, serve

    reg = Registry()
    reg.put(her2)
    elsewhere = tmp_path / "elsewhere"
    with serve(reg) as url:
        code, _, err = cli(
            capsys, "--api-url", url, "--store", str(elsewhere), "check", "NCT06224738"
        )
        assert code == 0, err
    assert list((elsewhere / "NCT06224738").glob("*.json"))
    assert not Path("snapshots").exists()  # not the default store
    code, out, _ = cli(
        capsys, "--store", str(elsewhere), "diff", "NCT06224738/latest", "NCT06224738/latest"
    )
    assert code == 0 and "no change" in out
    latest = "NCT06224738/latest"
    code, _, err = cli(
        capsys, "--store", str(tmp_path / "nowhere"), "diff", latest, latest, "--store",
        str(elsewhere),
    )  # fmt: skip
    assert code == 0, err  # the option after the command wins


def test_the_in_memory_store_keeps_nothing_and_leaves_nothing_on_disk(
    her2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--store memory:` (trying trialwatch): a check records its baseline in memory, a dry run
    too, and no folder named after it appears; the next command starts empty."""
    from tests.registry_server import Registry, serve

    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        for extra in ([], ["--dry-run"]):
            code, out, err = cli(
                capsys, "--store", "memory:", "--api-url", url, "check", "NCT06224738", *extra
            )
            assert code == 0, err
            assert "baseline recorded" in out  # never the store of an earlier command
    assert not Path("memory:").exists() and list(Path().iterdir()) == [], list(Path().iterdir())
