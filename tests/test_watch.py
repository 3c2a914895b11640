"""Config, the watch list, and batched checks of a whole list (issue: watch lists at scale)."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import all_records, edited
from tests.registry_server import Registry, serve
from trialwatch.cli import run
from trialwatch.config import load_settings
from trialwatch.errors import ConfigError

pytestmark = pytest.mark.usefixtures("each_store")


def with_id(record: dict[str, Any], n: int) -> dict[str, Any]:
    """A real record under another id (for lists larger than the samples)."""
    out = copy.deepcopy(record)
    out["protocolSection"]["identificationModule"]["nctId"] = f"NCT{90000000 + n:08d}"
    return out


def ids(n: int) -> list[str]:
    return [f"NCT{90000000 + i:08d}" for i in range(n)]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    base = all_records()
    for i in range(1200):
        reg.put(with_id(base[i % len(base)], i))
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        monkeypatch.setenv("TRIALWATCH_BACKOFF_BASE", "0.01")
        yield reg, url


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_list(n: int) -> None:
    entries = "\n".join(f'  "{i}",' for i in ids(n))
    Path("trialwatch.toml").write_text(
        f"# my hand-written config\nrequest_interval = 0\ntrials = [\n{entries}\n]\n",
        encoding="utf-8",
    )


# --- configuration -----------------------------------------------------------------------


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("trialwatch.toml").write_text('api_url = "http://file.test/api/v2"\n', encoding="utf-8")
    assert load_settings()["api_url"] == "http://file.test/api/v2"
    monkeypatch.setenv("TRIALWATCH_API_URL", "http://env.test/api/v2")
    s = load_settings()
    assert s["api_url"] == "http://env.test/api/v2"
    assert s.sources["api_url"] == "TRIALWATCH_API_URL"
    s = load_settings({"api_url": "http://flag.test/api/v2"})
    assert (s["api_url"], s.sources["api_url"]) == ("http://flag.test/api/v2", "command line")
    monkeypatch.delenv("TRIALWATCH_API_URL")
    Path("trialwatch.toml").unlink()
    assert load_settings()["api_url"] == "https://clinicaltrials.gov/api/v2"


def test_user_config_folder_is_used_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "trialwatch").mkdir(parents=True)
    (xdg / "trialwatch" / "config.toml").write_text("timeout = 12\n", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert load_settings()["timeout"] == 12
    Path("trialwatch.toml").write_text("timeout = 7\n", encoding="utf-8")
    assert load_settings()["timeout"] == 7


@pytest.mark.folder_only
def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "trialwatch.toml").write_text('store = "data/snaps"\n', encoding="utf-8")
    s = load_settings(config=str(repo / "trialwatch.toml"))
    assert Path(s.store) == repo.resolve() / "data" / "snaps"
    assert s.watchlist == repo.resolve() / "watchlist.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("store = [1]\n", "store must be a string, not list"),
        ("request_interval = 'fast'\n", "request_interval must be a number"),
        ("max_retries = true\n", "max_retries must be a whole number"),
        ("colour = 1\n", "unknown key 'colour'"),
        ("[email]\nport = 'x'\n", "email.port must be a whole number"),
        ("[email]\npassword = 'hunter2'\n", "never put the mail password in the file"),
        ("trials = ['NCT1234567890']\n", "trials entry 1: 'NCT1234567890' is not a Clinical"),
        ("fail_on = ['colour']\n", "unknown category 'colour'"),
        ("api_url = 'ftp://x'\n", "must start with http:// or https://"),
        ("a = [\n", "is not valid TOML"),
    ],
)
def test_broken_config_names_file_key_and_expectation(
    text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("trialwatch.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="trialwatch.toml") as info:
        load_settings()
    assert message in str(info.value)


def test_missing_explicit_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "config", "--config", "nope.toml")
    assert code == 2
    assert "config file nope.toml (from --config) does not exist" in err


def test_config_command_shows_sources(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("trialwatch.toml").write_text("timeout = 9\n", encoding="utf-8")
    monkeypatch.setenv("TRIALWATCH_STORE", "/tmp/elsewhere")
    code, out, _ = cli(capsys, "config")
    assert code == 0
    assert f"config file: {Path('trialwatch.toml').resolve()}" in out or "trialwatch.toml" in out
    assert "timeout = 9  (" in out and "store = '/tmp/elsewhere'  (TRIALWATCH_STORE)" in out


# --- the watch list ----------------------------------------------------------------------


def test_watch_add_remove_list(capsys: pytest.CaptureFixture[str]) -> None:
    Path("trialwatch.toml").write_text("# keep this comment\ntimeout = 9\n", encoding="utf-8")
    before = Path("trialwatch.toml").read_bytes()
    code, _, err = cli(capsys, "watch", "add", "nct06224738", "--label", "HER2 CAR-M")
    assert code == 0 and "watching NCT06224738" in err
    assert cli(capsys, "watch", "add", "NCT03475563")[0] == 0
    code, _, err = cli(capsys, "watch", "add", "NCT06224738")
    assert code == 2 and "NCT06224738 is already watched" in err
    code, _, err = cli(capsys, "watch", "add", "NCT-42")
    assert code == 2 and "'NCT-42' is not a ClinicalTrials.gov id" in err
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    rows = json.loads(out)
    assert [(r["id"], r["label"]) for r in rows] == [
        ("NCT06224738", "HER2 CAR-M"),
        ("NCT03475563", None),
    ]
    code, out, _ = cli(capsys, "watch", "list")
    assert code == 0 and "NCT06224738" in out and "HER2 CAR-M" in out and "never" in out
    assert cli(capsys, "watch", "remove", "NCT03475563")[0] == 0
    code, _, err = cli(capsys, "watch", "remove", "NCT03475563")
    assert code == 2 and "NCT03475563 is not watched" in err
    assert Path("trialwatch.toml").read_bytes() == before  # the hand-written config untouched
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == ["NCT06224738"]


def test_check_with_empty_list_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "check")
    assert code == 2
    assert "no trials to check" in err and "trialwatch watch add" in err


# --- batched checks ----------------------------------------------------------------------


def test_batched_check_costs_few_requests(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, _ = registry
    write_list(1200)
    code, _, err = cli(capsys, "check", "--quiet")
    assert code == 0, err
    batches = [r for r in reg.requests if r.startswith("/api/v2/studies?")]
    # 500 + 500 + 200 ids; the first page is cautious (100 records) until the records' size
    # is known, so one batch takes two pages on a first run.
    assert len(batches) == 4
    assert all(r.count("NCT") <= 500 for r in batches)
    assert len(reg.requests) == math.ceil(1200 / 500) + 2  # and /version
    assert len(stores.trials()) == 1200
    # Unchanged registry data: one request, nothing fetched.
    reg.requests.clear()
    code, _, err = cli(capsys, "check")
    assert code == 0
    assert reg.requests == ["/api/v2/version"]
    assert "registry data unchanged since the last complete run" in err
    # New registry data, same records: ceil(N/500) + 1 requests, no new snapshot.
    reg.data_timestamp = "2026-11-26T09:00:05"
    reg.requests.clear()
    code, out, err = cli(capsys, "check")
    assert code == 0
    assert len(reg.requests) == math.ceil(1200 / 500) + 1  # pages sized from the last run
    assert "1200 trials: 0 changed, 0 new, 1200 unchanged, 0 errors" in err
    assert out == ""  # unchanged trials of a long list are counted, not listed
    assert stores.snapshot_count() == 1200
    # --force checks even when the data timestamp has not moved.
    reg.requests.clear()
    assert cli(capsys, "check", "--force")[0] == 0
    assert len(reg.requests) == 4


def test_changes_errors_and_aliases_in_one_list(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, _ = registry
    write_list(20)
    assert cli(capsys, "check", "-q")[0] == 0
    # One trial changes, one disappears from the batch (404), one is now an alias.
    target = ids(20)[3]
    reg.put(
        edited(
            reg.studies[target],
            lambda r: r["protocolSection"]["statusModule"].update(
                overallStatus="SUSPENDED", whyStopped="Safety review"
            ),
        )
    )
    gone = ids(20)[5]
    del reg.studies[gone]
    aliased = ids(20)[7]
    moved = with_id(reg.studies[aliased], 5000)
    moved["protocolSection"]["identificationModule"]["nctIdAliases"] = [aliased]
    del reg.studies[aliased]
    reg.put(moved)
    reg.data_timestamp = "2026-11-26T09:00:05"
    reg.requests.clear()
    code, out, err = cli(capsys, "check")
    assert code == 2  # trouble wins
    assert f"{target}" in out and "Suspended — why stopped: “Safety review”" in out
    assert f"trialwatch: error: {gone}: {gone} is not in the registry" in err
    assert f"{aliased} is now {moved['protocolSection']['identificationModule']['nctId']}" in out
    assert f"/api/v2/studies/{gone}" in reg.requests  # told apart one by one
    assert "20 trials: 1 changed, 1 new, 17 unchanged, 1 error" in err
    # The failed trial keeps its snapshot; the run was not complete, so the next is not skipped.
    assert stores.snapshot_names(gone)
    reg.requests.clear()
    cli(capsys, "check")
    assert len(reg.requests) > 1


def test_a_failing_registry_is_a_gap_not_unchanged(
    registry: tuple[Registry, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg, _ = registry
    write_list(700)
    assert cli(capsys, "check", "-q")[0] == 0
    monkeypatch.setenv("TRIALWATCH_MAX_RETRIES", "1")
    reg.data_timestamp = "2026-11-26T09:00:05"
    reg.script("/api/v2/studies", *[(503, {}, b"Service Unavailable")] * 10)
    reg.requests.clear()
    code, out, _err = cli(capsys, "check", "--format", "json")
    assert code == 2
    data = json.loads(out)
    assert data["summary"]["error"] == 700 and data["summary"]["unchanged"] == 0
    assert "HTTP 503" in data["trials"][0]["error"]
    assert len(reg.requests) == 3  # /version, one batch and its retry; then the run stops
    assert stores.snapshot_count() == 700


def test_concurrent_watch_adds_lose_nothing() -> None:
    """Eight `watch add` processes at once: every id ends up in the list."""
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "trialwatch")
    procs = [
        subprocess.Popen(
            [exe, "watch", "add", "--offline", f"NCT{70000000 + i:08d}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(8)
    ]
    assert all(p.wait(60) == 0 for p in procs)
    listed = subprocess.run(
        [exe, "watch", "list", "--format", "json"], capture_output=True, text=True, check=True
    ).stdout
    assert all(f"NCT{70000000 + i:08d}" in listed for i in range(8))
