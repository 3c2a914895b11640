"""Nothing lost, nothing let through: kill -9 at random moments, slow servers, a store kept in
git, hostile text. Each test runs the installed command against local servers it starts."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import all_records, load, renumbered
from tests.registry_server import Registry, serve
from tests.smtp_server import Mailbox, smtp_server
from tests.test_e2e import EXE, tw

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]

TRIALS = 12
ROUNDS = 10


def _design(record: dict[str, Any]) -> dict[str, Any]:
    design = record.get("protocolSection", {}).get("designModule", {})
    return design if isinstance(design, dict) else {}


def _watch_list(n: int) -> tuple[Registry, list[dict[str, Any]]]:
    """n real records with ids rewritten, each with an enrollment target to edit."""
    reg = Registry()
    records = [
        r
        for r in all_records()
        if isinstance(
            r.get("protocolSection", {}).get("designModule", {}).get("enrollmentInfo"), dict
        )
    ]
    out = []
    for i in range(n):
        record = renumbered(records[i % len(records)], f"NCT{81000000 + i:08d}")
        record["protocolSection"]["designModule"]["enrollmentInfo"] = {
            "count": 100,
            "type": "ESTIMATED",
        }
        reg.put(record)
        out.append(record)
    return reg, out


def _id(record: dict[str, Any]) -> str:
    return str(record["protocolSection"]["identificationModule"]["nctId"])


def _enrollment_reports(stdout: str) -> list[tuple[str, int]]:
    """(trial, new enrollment target) for every enrollment change in a JSON report; nothing
    for output cut short by the kill (it was never whole, so it was never reported)."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        return []
    found = []
    for trial in doc["trials"]:
        for change in trial["changes"]:
            if change["category"] == "enrollment" and isinstance(change["new"], dict):
                found.append((trial["nct_id"], int(change["new"]["count"])))
    return found


def _mailed(box: Mailbox) -> Counter[tuple[str, int]]:
    counts: Counter[tuple[str, int]] = Counter()
    for msg in box.messages:
        part = msg.get_body(("plain",))
        assert part is not None
        text = part.get_content()
        trial = None
        for line in text.splitlines():
            head = re.match(r"^(NCT\d{8})\b", line)
            if head:
                trial = head.group(1)
            target = re.search(r"Enrollment target \w+ \d+% \(\d+ → (\d+)", line)
            if target and trial:
                counts[(trial, int(target.group(1)))] += 1
    return counts


def test_kill_9_at_random_moments_loses_no_change(tmp_path: Path) -> None:
    """Every round edits every trial's enrollment target; a check is killed at a random moment,
    then a check runs to the end. By counting: every edit reached stdout and mail at least once,
    a completing run reports each at most once, and a run after it reports nothing."""
    rng = random.Random(20261202)
    reg, records = _watch_list(TRIALS)
    box = Mailbox()
    with serve(reg) as url, smtp_server(box) as port:
        ids = ", ".join(
            f'"{r["protocolSection"]["identificationModule"]["nctId"]}"' for r in records
        )
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\nbackoff_base = 0.05\ntrials = [{ids}]\n'
            f'[email]\nenabled = true\nto = ["you@example.org"]\nfrom = "tw@example.org"\n'
            f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ["HOME"],
            **stores.process_env(),
        }

        def run(kill_after: float | None) -> str:
            out = tmp_path / "out.json"
            with open(out, "w", encoding="utf-8") as sink:
                proc = subprocess.Popen(
                    [EXE, "check", "--format", "json"],
                    env=env,
                    stdout=sink,
                    stderr=subprocess.DEVNULL,
                )
                if kill_after is None:
                    assert proc.wait(60) in (0, 1)
                else:
                    time.sleep(kill_after)
                    proc.kill()
                    proc.wait(10)
            return out.read_text(encoding="utf-8")

        started = time.monotonic()
        first = run(None)
        full = time.monotonic() - started
        assert len(json.loads(first)["trials"]) == TRIALS
        stdout_seen: Counter[tuple[str, int]] = Counter()
        edits: list[tuple[str, int]] = []
        kills_that_cut = 0
        for round_ in range(1, ROUNDS + 1):
            for record in records:
                nct = record["protocolSection"]["identificationModule"]["nctId"]
                target = 100 + 10 * round_
                record["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = target
                reg.put(record)
                edits.append((nct, target))
            reg.data_timestamp = f"2026-12-{round_:02d}T09:00:00"
            killed = run(rng.uniform(0.0, full * 1.3))
            kills_that_cut += not killed.strip().endswith("}")
            stdout_seen.update(_enrollment_reports(killed))
            completing = _enrollment_reports(run(None))
            assert max(Counter(completing).values(), default=0) <= 1  # once each, at most
            stdout_seen.update(completing)
            # After a completing run, nothing of this round is still pending.
            assert not stores.pending_trials()
        mailed = _mailed(box)
        for edit in edits:
            assert stdout_seen[edit] >= 1, f"{edit} never reached stdout"
            assert stdout_seen[edit] <= 2, f"{edit} printed {stdout_seen[edit]} times"
            assert mailed[edit] >= 1, f"{edit} never mailed"
            assert mailed[edit] <= 2, f"{edit} mailed {mailed[edit]} times"
        messages = len(box.messages)
        reg.data_timestamp = "2026-12-31T09:00:00"
        assert _enrollment_reports(run(None)) == []
        assert len(box.messages) == messages  # nothing left to mail
        # The kill landed in different places: some runs were cut short, some were not.
        assert kills_that_cut >= 1


@pytest.mark.folder_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the writer process is Linux's")
def test_kill_9_during_a_long_first_run_loses_no_baseline_and_leaves_no_writer(
    tmp_path: Path,
) -> None:
    """A first check of 60 trials (the writer process takes the baselines after the 32nd) is
    killed at a random moment, then a check runs to the end: every trial is stored once and
    told at least once, at most twice, and the writer process did not outlive its run."""
    from trialwatch.store.folder import writer

    rng = random.Random(20261207)
    reg, records = _watch_list(60)
    ids = [_id(r) for r in records]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ["HOME"]}

    def writers() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().decode(errors="replace")
            except OSError:
                continue
            if writer._CHILD.strip() in text:
                found.append(cmdline.parent.name)
        return found

    with serve(reg) as url:
        env["TRIALWATCH_API_URL"], env["TRIALWATCH_REQUEST_INTERVAL"] = url, "0"

        killed_beside_a_writer = 0

        def run(store: Path, kill_after: float | None, beside_writer: bool = False) -> str:
            """kill_after: seconds after the start, or after the writer process appeared."""
            nonlocal killed_beside_a_writer
            out = tmp_path / "out.json"
            with open(out, "w", encoding="utf-8") as sink:
                proc = subprocess.Popen(
                    [EXE, "check", "--format", "json", "--store", str(store), *ids],
                    env=env,
                    stdout=sink,
                    stderr=subprocess.DEVNULL,
                )
                if kill_after is None:
                    assert proc.wait(60) == 0
                else:
                    while beside_writer and not writers() and proc.poll() is None:
                        time.sleep(0.002)
                    killed_beside_a_writer += bool(writers())
                    time.sleep(kill_after)
                    proc.kill()
                    proc.wait(10)
            return out.read_text(encoding="utf-8")

        def told(stdout: str) -> Counter[str]:
            try:
                doc = json.loads(stdout)
            except ValueError:  # cut short by the kill: never whole, so never reported
                return Counter()
            return Counter(t["nct_id"] for t in doc["trials"] if t["outcome"] == "new")

        started = time.monotonic()
        assert sorted(told(run(tmp_path / "whole", None))) == sorted(ids)
        full = time.monotonic() - started
        for round_ in range(4):
            store = tmp_path / f"store{round_}"
            if round_ % 2:  # at a random moment of the run
                seen = told(run(store, rng.uniform(0.2 * full, full)))
            else:  # at a random moment once the writer is at work
                seen = told(run(store, rng.uniform(0.0, 0.05), beside_writer=True))
            seen += told(run(store, None))
            assert sorted(seen) == sorted(ids), "a baseline never told"
            assert max(seen.values()) <= 2
            for nct in ids:
                assert len(list((store / nct).glob("*.json"))) == 1, nct
            deadline = time.monotonic() + 5
            while writers() and time.monotonic() < deadline:
                time.sleep(0.05)  # a killed run's writer ends at the end of its input
            assert not writers()
        assert killed_beside_a_writer >= 1  # some kills landed while the writer was at work


def test_a_dripping_server_ends_in_a_clear_error_within_the_timeout(her2: dict[str, Any]) -> None:
    reg = Registry()
    reg.put(her2)
    reg.drip["/api/v2/studies/NCT06224738"] = (64, 0.5)
    with serve(reg) as url:
        started = time.monotonic()
        proc = tw(
            url,
            "check",
            "NCT06224738",
            env={"TRIALWATCH_TIMEOUT": "2", "TRIALWATCH_MAX_RETRIES": "0"},
        )
        took = time.monotonic() - started
    assert proc.returncode == 2
    assert "still arriving after" in proc.stderr and "limit for one request is 2s" in proc.stderr
    assert took < 8, took
    assert not stores.trials()


def test_a_run_deadline_reports_the_rest_as_not_checked(her2: dict[str, Any]) -> None:
    reg = Registry()
    reg.put(her2)
    reg.put(load("NCT03475563.json"))
    reg.drip["/api/v2/studies/NCT06224738"] = (512, 0.5)
    with serve(reg) as url:
        started = time.monotonic()
        proc = tw(url, "check", "--no-batch", "--deadline", "2", "NCT06224738", "NCT03475563")
        took = time.monotonic() - started
    assert proc.returncode == 2
    assert "run's time limit of 2s was reached" in proc.stderr
    assert took < 8, took


@pytest.mark.folder_only
def test_unchanged_checks_leave_a_git_tracked_store_clean(her2: dict[str, Any]) -> None:
    """The README says to keep snapshots/ in git: an unchanged check modifies nothing there."""
    reg = Registry()
    reg.put(her2)
    reg.put(load("NCT03475563.json"))
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT06224738", "NCT03475563"]\n',
            encoding="utf-8",
        )
        env = {"TRIALWATCH_API_URL": url}
        assert tw(url, "check", env=env).returncode == 0

        def git(*args: str) -> str:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout

        git("init", "-q")
        git("-c", "user.name=t", "-c", "user.email=t@t", "add", "snapshots")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline")
        for stamp in ("2026-11-26T09:00:00", "2026-11-27T09:00:00"):
            reg.data_timestamp = stamp  # new registry data, same records
            proc = tw(url, "check")
            assert proc.returncode == 0, proc.stderr
            assert git("status", "--porcelain", "--untracked-files=all", "snapshots") == ""
        tracked = git("ls-files").split()
        assert all(re.fullmatch(r"snapshots/NCT\d{8}/\d{4}-\d{2}-\d{2}\.json", t) for t in tracked)


# -- hostile text ---------------------------------------------------------------------------

HOSTILE = [
    "\x1b[2J\x1b[H screen cleared",
    "\x1b]8;;https://evil.test\x1b\\click me\x1b]8;;\x1b\\",
    "\x9b31m C1 CSI",
    "\x9d0;title\x07 OSC",
    "bell\x07 nul\x00 backspace\x08",
    "\u202egnp.exe right-to-left override",
    "\u2066isolate\u2069 \u200f mark",
    "line\r\nInjected-Header: yes",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "![tracker](https://evil.test/p.png)",
    "[innocent](https://evil.test)",
    "# injected heading",
    "<!-- hidden comment -->",
    "| cell | break |",
    "`code` **bold** _em_ ~~strike~~",
    "lone surrogate \ud800 here",
]
_FORBIDDEN_TERMINAL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _hostile_pair(tmp: Path, text: str) -> tuple[Path, Path]:
    """A real record and the same record edited so that hostile text reaches every place the
    report shows registry text: the id, the title, a changed field and a list item."""
    old = load("NCT06224738.reconstructed.json")
    new = copy.deepcopy(old)
    ident = new["protocolSection"]["identificationModule"]
    ident["nctId"] = "NCT06224738" + text
    ident["briefTitle"] = text
    new["protocolSection"]["statusModule"]["whyStopped"] = text
    new["protocolSection"]["conditionsModule"]["conditions"].append(text)
    a, b = tmp / "old.json", tmp / "new.json"
    a.write_text(json.dumps(old), encoding="utf-8")
    b.write_text(json.dumps(new), encoding="utf-8")  # ensure_ascii: \ud800 stays an escape
    return a, b


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_inert_in_every_format(tmp_path: Path, text: str) -> None:
    a, b = _hostile_pair(tmp_path, text)
    outputs = {}
    for fmt in ("text", "markdown", "html", "json"):
        proc = subprocess.run(
            [EXE, "diff", str(a), str(b), "--format", fmt],
            capture_output=True,
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ["HOME"]},
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        outputs[fmt] = proc.stdout.decode("utf-8")  # valid UTF-8: no lone surrogate
        assert not _FORBIDDEN_TERMINAL.search(proc.stderr.decode("utf-8"))
    assert not _FORBIDDEN_TERMINAL.search(outputs["text"])
    md = outputs["markdown"]
    assert not _FORBIDDEN_TERMINAL.search(md)
    # Every character that could start markup arrives escaped (a backslash before it).
    for raw in ("<script", "<img", "![", "](https://evil", "<!--", "| cell |"):
        assert not re.search(r"(?<!\\)" + re.escape(raw), md), raw
    assert "\n# injected" not in md
    html = outputs["html"]
    assert not _FORBIDDEN_TERMINAL.search(html)
    assert "<script" not in html and "<img" not in html and "evil.test\x1b" not in html
    doc = json.loads(outputs["json"])  # still parses; controls written as \\u escapes
    assert not re.search(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]", outputs["json"])
    assert doc["trials"][0]["title"]  # the text is kept (escaped), not dropped


def test_mail_headers_never_carry_registry_line_breaks() -> None:
    from trialwatch.model import Outcome, RunReport, TrialReport
    from trialwatch.notify.mail import subject

    report = RunReport(
        "2026-12-02T06:00:00Z",
        [TrialReport(nct_id="NCT06224738\r\nBcc: x@evil.test", outcome=Outcome.CHANGED)],
    )
    line = subject(report, "[trialwatch]")
    assert "\r" not in line and "\n" not in line


def test_ids_with_non_ascii_digits_are_refused() -> None:
    from trialwatch.errors import InputError
    from trialwatch.ids import is_nct_id, normalize_nct_id

    assert not is_nct_id("NCT٠٦٢٢٤٧٣٨")  # Arabic-Indic digits
    with pytest.raises(InputError):
        normalize_nct_id("NCT０６２２４７３８")  # full-width digits


def test_python_m_runs_without_the_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trialwatch", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "check" in proc.stdout
