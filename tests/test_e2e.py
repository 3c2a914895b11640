"""End to end: the installed ``trialwatch`` command against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import edited, load, renumbered
from tests.registry_server import Registry, serve

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]

EXE = shutil.which("trialwatch") or str(Path(sys.executable).parent / "trialwatch")


@pytest.fixture
def api(her2: dict[str, Any]) -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    reg.put(her2)
    reg.put(load("NCT03475563.json"))
    with serve(reg) as url:
        yield reg, url


def tw(
    url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "TRIALWATCH_API_URL": url,
        "TRIALWATCH_BACKOFF_BASE": "0.05",
        "TRIALWATCH_REQUEST_INTERVAL": "0",
        **stores.process_env(),
        **(env or {}),
    }
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def test_console_script_is_installed() -> None:
    assert Path(EXE).exists(), "pip install -e . first (see README)"
    proc = subprocess.run([EXE, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("trialwatch ")
    proc = subprocess.run(
        [sys.executable, "-m", "trialwatch", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("trialwatch ")


def test_baseline_then_no_change_then_change_in_colour(
    api: tuple[Registry, str], her2: dict[str, Any]
) -> None:
    reg, url = api
    first = tw(url, "check", "NCT06224738")
    assert first.returncode == 0, first.stderr
    assert "baseline recorded" in first.stdout
    assert "\x1b[" not in first.stdout  # piped: plain text
    again = tw(url, "check", "NCT06224738")
    assert again.returncode == 0
    assert "no change since" in again.stdout

    def recruit(r: dict[str, Any]) -> None:
        """Sponsor opens the trial and moves primary completion three months."""
        s = r["protocolSection"]["statusModule"]
        s["overallStatus"] = "RECRUITING"
        s["startDateStruct"] = {"date": "2024-03-01", "type": "ACTUAL"}
        s["primaryCompletionDateStruct"] = {"date": "2026-06-01", "type": "ESTIMATED"}
        s["lastUpdatePostDateStruct"] = {"date": "2024-03-05", "type": "ACTUAL"}

    reg.put(edited(her2, recruit))
    changed = tw(url, "check", "NCT06224738", env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert changed.returncode == 1, changed.stderr
    assert "\x1b[" in changed.stdout  # colour forced, as on a terminal
    plain = changed.stdout
    for code in ("\x1b[0m", "\x1b[1m", "\x1b[33m", "\x1b[2m", "\x1b[1;4m", "\x1b[32m", "\x1b[31m"):
        plain = plain.replace(code, "")
    assert "Overall status Not yet recruiting → Recruiting" in plain
    assert "Start date became actual (2024-03-01, unchanged; not a slip)" in plain
    assert "Primary completion slipped 3 months (2026-03-01 → 2026-06-01, estimated)" in plain
    assert "(registry record updated 2024-01-25 → 2024-03-05)" in plain
    assert len(stores.snapshot_names("NCT06224738")) == 2


def test_each_core_kind_of_change(api: tuple[Registry, str]) -> None:
    reg, url = api
    base = load("NCT03475563.json")
    assert tw(url, "check", "NCT03475563").returncode == 0

    def edit(r: dict[str, Any]) -> None:
        """Realistic update of an UNKNOWN-status study: back to recruiting with a smaller target
        and one more exclusion criterion."""
        r["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
        r["protocolSection"]["statusModule"].pop("lastKnownStatus", None)
        info = r["protocolSection"]["designModule"]["enrollmentInfo"]
        info["count"] = round(info["count"] * 0.6)
        crit = r["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
        r["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = (
            crit.rstrip() + "\n* Pregnancy or breastfeeding"
        )

    reg.put(edited(base, edit))
    proc = tw(url, "check", "NCT03475563", "--format", "json")
    assert proc.returncode == 1
    trial = json.loads(proc.stdout)["trials"][0]
    sentences = [c["sentence"] for c in trial["changes"]]
    count = base["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
    assert "Overall status Unknown status → Recruiting" in sentences
    assert any(s.startswith("Last known status Recruiting → none") for s in sentences)
    assert any(
        s.startswith(f"Enrollment target cut 40% ({count} → {round(count * 0.6)}")
        for s in sentences
    )
    assert "Exclusion criterion added: “Pregnancy or breastfeeding”" in sentences
    assert len(sentences) == 4, sentences


def test_404_and_malformed_id(api: tuple[Registry, str]) -> None:
    _, url = api
    proc = tw(url, "check", "NCT99999999", "NCT-1")
    assert proc.returncode == 2
    assert "NCT99999999 is not in the registry" in proc.stderr
    assert "'NCT-1' is not a ClinicalTrials.gov id" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not stores.snapshot_names("NCT99999999")
    assert not (Path("snapshots") / "NCT99999999").exists()


def test_500_then_200(api: tuple[Registry, str]) -> None:
    reg, url = api
    reg.script(
        "/api/v2/studies/NCT06224738",
        (500, {}, b"Internal Server Error"),
        (502, {}, b"Bad Gateway"),
    )
    proc = tw(url, "check", "NCT06224738")
    assert proc.returncode == 0, proc.stderr
    assert "baseline recorded" in proc.stdout
    assert "HTTP 500" in proc.stderr and "retry 1 of 5" in proc.stderr
    assert reg.requests.count("/api/v2/studies/NCT06224738") == 3


def test_429_with_retry_after(api: tuple[Registry, str]) -> None:
    reg, url = api
    reg.script("/api/v2/studies/NCT06224738", (429, {"Retry-After": "1"}, b"slow down"))
    proc = tw(url, "check", "NCT06224738")
    assert proc.returncode == 0, proc.stderr
    assert "HTTP 429" in proc.stderr and "in 1.0s" in proc.stderr


def test_500_storm_keeps_last_snapshot(api: tuple[Registry, str]) -> None:
    reg, url = api
    assert tw(url, "check", "NCT06224738").returncode == 0
    reg.script("/api/v2/studies/NCT06224738", *[(503, {}, b"")] * 10)
    proc = tw(url, "check", "NCT06224738", env={"TRIALWATCH_MAX_RETRIES": "2"})
    assert proc.returncode == 2
    assert "did not answer usefully after 3 attempts (last: HTTP 503)" in proc.stderr
    assert "no change" not in proc.stdout
    assert stores.snapshot_names("NCT06224738") == [
        f"{time.strftime('%Y-%m-%d', time.gmtime())}.json"
    ]
    ((outcome, error),) = stores.sql(
        "SELECT last_outcome, last_error FROM trials WHERE nct = 'NCT06224738'"
    )
    assert outcome == "error" and "HTTP 503" in error


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (
            b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
            "text/html",
            "answered with an HTML page",
        ),
        (None, "application/json", "invalid or truncated JSON"),
    ],
)
def test_garbage_body_is_an_error_and_stores_nothing(
    api: tuple[Registry, str], her2: dict[str, Any], body: bytes | None, ctype: str, message: str
) -> None:
    reg, url = api
    assert tw(url, "check", "NCT06224738").returncode == 0
    names, before = stores.snapshot_names("NCT06224738"), stores.latest_record("NCT06224738")
    changed = edited(
        her2, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="RECRUITING")
    )
    payload = body if body is not None else json.dumps(changed).encode()[:3000]
    reg.script("/api/v2/studies/NCT06224738", (200, {"Content-Type": ctype}, payload))
    proc = tw(url, "check", "NCT06224738")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert stores.snapshot_names("NCT06224738") == names and len(names) == 1
    assert stores.latest_record("NCT06224738") == before
    # Next time the registry is fine: the change is reported then.
    reg.put(changed)
    proc = tw(url, "check", "NCT06224738")
    assert proc.returncode == 1
    assert "Overall status Not yet recruiting → Recruiting" in proc.stdout


@pytest.mark.folder_only
def test_corrupt_snapshot_on_disk(api: tuple[Registry, str]) -> None:
    _, url = api
    assert tw(url, "check", "NCT06224738").returncode == 0
    snap = next((Path("snapshots") / "NCT06224738").glob("20*.json"))
    snap.write_text("<<<<<<< HEAD\n{}\n=======\n", encoding="utf-8")
    proc = tw(url, "check", "NCT06224738")
    assert proc.returncode == 2
    assert f"{snap.name} is not valid JSON" in proc.stderr
    assert "git checkout" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snap.read_text(encoding="utf-8").startswith("<<<<<<<")


def test_alias_redirect_is_followed_and_said(api: tuple[Registry, str]) -> None:
    reg, url = api
    reg.aliases["NCT00000141"] = "NCT03475563"
    proc = tw(url, "check", "NCT00000141")
    assert proc.returncode == 0, proc.stderr
    assert "NCT00000141 is now NCT03475563 (the registry redirected it)" in proc.stdout
    assert stores.snapshot_names("NCT03475563")


def test_interrupt_exits_130_and_keeps_the_store(api: tuple[Registry, str]) -> None:
    reg, url = api
    assert tw(url, "check", "NCT06224738").returncode == 0
    reg.script("/api/v2/studies/NCT06224738", *[(503, {"Retry-After": "30"}, b"")] * 3)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "TRIALWATCH_API_URL": url,
        **stores.process_env(),
    }
    proc = subprocess.Popen(
        [EXE, "check", "NCT06224738"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupted once it is waiting out the registry's Retry-After (its second request seen):
    # a state, not a time, so a loaded machine changes how long this takes, never the verdict.
    # The bound only keeps a broken run from hanging the suite.
    bound = time.monotonic() + 600
    while reg.requests.count("/api/v2/studies/NCT06224738") < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < bound, "the run never asked the registry again"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert len(stores.snapshot_names("NCT06224738")) == 1


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_in_the_middle_of_a_run_leaves_a_good_store(delay: float) -> None:
    """SIGKILL while snapshots are being written: every file left is whole, and the next run
    finishes the job with no duplicate and no error."""
    from tests.conftest import all_records

    reg = Registry()
    base = all_records()
    ids = []
    for i in range(400):
        reg.put(renumbered(base[i % len(base)], f"NCT{80000000 + i:08d}"))
        ids.append(f"NCT{80000000 + i:08d}")
    with serve(reg) as url:
        listed = ", ".join(f'"{i}"' for i in ids)
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = [{listed}]\n', encoding="utf-8"
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ["HOME"],
            **stores.process_env(),
        }
        proc = subprocess.Popen(
            [EXE, "check", "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not stores.trials():
            time.sleep(0.01)
        time.sleep(delay)
        proc.kill()
        proc.wait(10)
        for nct in stores.trials():
            stores.latest_record(nct)  # whole, never truncated: a torn one raises
        again = tw(url, "check", "--format", "json")
        assert again.returncode == 0, again.stderr
        outcomes = {t["outcome"] for t in json.loads(again.stdout)["trials"]}
        assert outcomes <= {"new", "unchanged"}
        assert stores.trials() == ids
        assert stores.snapshot_count() == len(ids)  # no duplicate


def test_a_wrong_api_url_says_so(api: tuple[Registry, str]) -> None:
    _, url = api
    proc = tw(url.removesuffix("/v2"), "check", "NCT06224738")
    assert proc.returncode == 2
    assert "answered 404 with an HTML page: is the API URL right?" in proc.stderr
    assert "not in the registry" not in proc.stderr


def _on_a_terminal(url: str, extra_env: dict[str, str]) -> str:
    """Run the command with stdout and stderr on a pseudo-terminal, as a person would."""
    import pty

    leader, follower = pty.openpty()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "TRIALWATCH_API_URL": url,
        "TERM": "xterm-256color",
        **extra_env,
    }
    proc = subprocess.Popen(
        [EXE, "check", "NCT06224738"],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_colour_on_a_terminal_and_none_with_no_color(api: tuple[Registry, str]) -> None:
    _, url = api
    coloured = _on_a_terminal(url, {})
    assert "baseline recorded" in coloured and "\x1b[" in coloured
    plain = _on_a_terminal(url, {"NO_COLOR": "1"})
    assert "no change since" in plain and "\x1b[3" not in plain
    dumb = _on_a_terminal(url, {"TERM": "dumb"})
    assert "no change since" in dumb and "\x1b[" not in dumb
