"""Faults that stopped delivery for good or told a change twice (issue 20), each reproduced
against real servers the test starts: the stand-in registry and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import cli, edited, load
from tests.registry_server import Registry, serve
from tests.smtp_server import Mailbox, smtp_server

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]

# Three real records: the reconstruction and two that carry outcomes and enrollment.
TRIALS = ("NCT06224738.reconstructed.json", "NCT03064438.json", "NCT04207047.json")


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return [load(name) for name in TRIALS]


@pytest.fixture
def api(records: list[dict[str, Any]]) -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    for r in records:
        reg.put(r)
    with serve(reg) as url:
        yield reg, url


def nct(record: dict[str, Any]) -> str:
    return str(record["protocolSection"]["identificationModule"]["nctId"])


def write_config(url: str, ids: list[str], port: int | None = None) -> None:
    lines = [
        f'api_url = "{url}"',
        "request_interval = 0",
        "backoff_base = 0.01",
        f"trials = [{', '.join(repr(i).replace(chr(39), chr(34)) for i in ids)}]",
    ]
    if port is not None:
        lines += [
            "",
            "[email]",
            "enabled = true",
            'to = ["watcher@example.org"]',
            'from = "trialwatch@example.org"',
            'host = "127.0.0.1"',
            f"port = {port}",
            'security = "none"',
            "timeout = 5",
        ]
    Path("trialwatch.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_env(url: str, store: Path) -> dict[str, str]:
    """The environment of a trialwatch process checking ``store`` against the stand-in."""
    import os

    return {
        **os.environ,
        "TRIALWATCH_API_URL": url,
        "TRIALWATCH_REQUEST_INTERVAL": "0",
        "TRIALWATCH_STORE": str(store),
    }


def mail_text(box: Mailbox, i: int = -1) -> str:
    part = box.messages[i].get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text


def status(record: dict[str, Any], value: str) -> dict[str, Any]:
    return edited(
        record, lambda r: r["protocolSection"]["statusModule"].update(overallStatus=value)
    )


# -- 1. one odd record never stops the digests ------------------------------------------------

# Type drift the registry could serve (a list field as a number, a count out of range), applied
# to real records. Each edit is (what it does, the edit).
ODD_EDITS = [
    (
        "secondary outcomes served as a number",
        lambda r: r["protocolSection"]["outcomesModule"].update(secondaryOutcomes=5),
    ),
    (
        "primary outcomes served as a number",
        lambda r: r["protocolSection"]["outcomesModule"].update(primaryOutcomes=5),
    ),
    (
        "enrollment jumps from 1 to 1e308",
        lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count=1e308),
    ),
]


@pytest.mark.parametrize("what, edit", ODD_EDITS, ids=[w for w, _ in ODD_EDITS])
def test_an_odd_record_never_holds_back_another_trial_or_a_later_run(
    api: tuple[Registry, str],
    records: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    what: str,
    edit: Any,
) -> None:
    reg, url = api
    _, odd_one, other = records
    if "1 to 1e308" in what:  # the jump starts from an enrollment of 1
        odd_one = edited(
            odd_one,
            lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count=1),
        )
        reg.put(odd_one)
    box = Mailbox()
    with smtp_server(box) as port:
        write_config(url, [nct(r) for r in records], port)
        assert cli(capsys, "check", "-q")[0] == 0  # baseline
        reg.put(edited(odd_one, edit))
        reg.put(status(other, "TERMINATED"))
        reg.data_timestamp = "2026-11-26T09:00:00"
        code, out, err = cli(capsys, "check", "-q")
        assert "Traceback" not in out + err
        assert code == 1, err
        # stdout and the mail both have the other trial's change, and name the odd one.
        assert "Recruiting → Terminated" in out or "→ Terminated" in out
        assert len(box.messages) == 1, err
        text = mail_text(box)
        assert "→ Terminated" in text
        assert nct(odd_one) in text
        # The registry mends the record: the next run tells that, and mails it, once.
        reg.put(odd_one)
        reg.data_timestamp = "2026-11-27T09:00:00"
        code, out, err = cli(capsys, "check", "-q")
        assert "Traceback" not in out + err
        assert code == 1, err
        assert len(box.messages) == 2, err
        assert nct(odd_one) in mail_text(box)
        assert "→ Terminated" not in mail_text(box)  # told once
        # Nothing left: a quiet run sends nothing.
        reg.data_timestamp = "2026-11-28T09:00:00"
        assert cli(capsys, "check", "-q") == (0, "", "")
        assert len(box.messages) == 2


@pytest.mark.parametrize("what, edit", ODD_EDITS, ids=[w for w, _ in ODD_EDITS])
def test_diff_and_history_read_an_odd_record(
    records: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    edit: Any,
) -> None:
    import json

    record = copy.deepcopy(records[1])
    if "1 to 1e308" in what:
        record["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 1
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(record), encoding="utf-8")
    new.write_text(json.dumps(edited(record, edit)), encoding="utf-8")
    for a, b in ((old, new), (new, old)):
        for fmt in ("text", "json", "markdown", "html"):
            code, out, err = cli(capsys, "diff", str(a), str(b), "--format", fmt)
            assert code == 1, err
            assert "Traceback" not in out + err and "internal error" not in out + err


# -- 2. runs that start in the same instant -----------------------------------------------------


def _start_and_look(root: str, ids: Any, start: Any, look: Any, out: Any) -> None:
    """One run: registers itself the moment the barrier lets it go (tidying the files of runs
    that look dead, as every run does), then says which of the others it sees alive."""
    from trialwatch.store import SnapshotStore

    store = SnapshotStore(Path(root))
    start.wait()
    store.runs.start()
    store.runs.tidy()
    ids.append(store.run_id)
    look.wait()
    out.put(sum(1 for other in list(ids) if other != store.run_id and store.runs.alive(other)))
    look.wait()  # stay alive until everyone has looked
    store.runs.stop()


def test_runs_started_in_the_same_instant_all_see_each_other(tmp_path: Path) -> None:
    import multiprocessing
    import os

    # fork where there is one (fast: 12 rounds); spawn on Windows, fewer rounds.
    ctx = multiprocessing.get_context("fork" if os.name != "nt" else "spawn")
    n = 6
    with ctx.Manager() as manager:
        for round_ in range(12 if os.name != "nt" else 3):
            root = tmp_path / f"store{round_}"
            ids = manager.list()
            start, look = ctx.Barrier(n), ctx.Barrier(n)
            out = ctx.Queue()
            procs = [
                ctx.Process(target=_start_and_look, args=(str(root), ids, start, look, out))
                for _ in range(n)
            ]
            for p in procs:
                p.start()
            seen = [out.get(timeout=300) for _ in procs]  # a bound, not a verdict
            for p in procs:
                p.join(30)
            # Each run sees the other five: none took another's registration for a dead run's.
            assert seen == [n - 1] * n, f"round {round_}: {seen}"


_RELEASED = """
import os, sys, time
from trialwatch.cli import run
gate = sys.argv[1]
while not os.path.exists(gate):
    time.sleep(0.0005)
sys.exit(run(sys.argv[2:]))
"""


def test_checks_released_together_tell_each_change_once(tmp_path: Path) -> None:
    """Five checks of one store, released by one barrier the moment a change is in the
    registry for each of 15 trials: every change is told once in all, never twice."""
    import json
    import subprocess
    import sys
    import time

    from tests.test_reliability import _enrollment_reports, _id, _watch_list

    reg, trials = _watch_list(15)
    store = tmp_path / "store"
    with serve(reg) as url:
        env = run_env(url, store)
        ids = [_id(t) for t in trials]
        base = [sys.executable, "-c", _RELEASED]
        first = subprocess.run(
            [*base, str(tmp_path), "check", "-q", *ids], env=env, capture_output=True, text=True
        )
        assert first.returncode == 0, first.stderr
        for round_ in range(3):
            for t in trials:
                t["protocolSection"]["designModule"]["enrollmentInfo"]["count"] += 10
                reg.put(t)
            gate = tmp_path / f"gate{round_}"
            procs = [
                subprocess.Popen(
                    [*base, str(gate), "check", "--format", "json", *ids],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(5)
            ]
            time.sleep(1.0)  # every process is waiting at the gate
            gate.write_text("go", encoding="utf-8")
            told: list[tuple[str, int]] = []
            for p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode in (0, 1), err
                assert "Traceback" not in err
                told += _enrollment_reports(out)
            want = sorted(
                (_id(t), t["protocolSection"]["designModule"]["enrollmentInfo"]["count"])
                for t in trials
            )
            assert sorted(told) == want, json.dumps(told)


# -- 3. a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of its own (tmpfs), for a store that runs out of space."""
    import shutil
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("a tmpfs of its own needs Linux")
    where = tmp_path / "disk"
    where.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0777", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the file system, leaving about ``leave`` bytes free."""
    import os

    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        os.write(fd, b"\0" * max(0, free - leave))
        while leave == 0:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_said_as_such_and_tells_nothing_twice(small_disk: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.test_reliability import _enrollment_reports, _id, _watch_list

    reg, trials = _watch_list(12)
    store = small_disk / "store"
    with serve(reg) as url:
        env = run_env(url, store)
        ids = [_id(t) for t in trials]

        def check() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "trialwatch", "check", "--format", "json", *ids],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        assert check().returncode == 0
        told: list[tuple[str, int]] = []
        for leave in (0, 200_000, 0):
            for t in trials:
                t["protocolSection"]["designModule"]["enrollmentInfo"]["count"] += 10
                reg.put(t)
            filler = fill(small_disk, leave)
            run = check()
            assert "Traceback" not in run.stderr and "internal error" not in run.stderr
            assert run.stdout, run.stderr
            doc = json.loads(run.stdout)  # the report still goes out, whole
            if leave == 0:
                assert run.returncode == 2, run.stderr
                assert "no space left" in (run.stdout + run.stderr).lower()
            told += _enrollment_reports(run.stdout)
            assert not [p for p in (store / ".trialwatch").iterdir() if "damaged" in p.name]
            assert doc["trials"]
            filler.unlink()
            run = check()  # space again: what could not be stored is found now
            assert run.returncode in (0, 1), run.stderr
            told += _enrollment_reports(run.stdout)
            want = [
                (_id(t), t["protocolSection"]["designModule"]["enrollmentInfo"]["count"])
                for t in trials
            ]
            # Each change told once: none lost, none twice.
            assert sorted(c for c in told if c in want) == sorted(want), (leave, told)
            assert len(told) == len(set(told)), (leave, told)
        assert check().returncode == 0


@pytest.mark.folder_only
def test_a_first_run_on_a_full_disk_tells_each_baseline_once(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first check of a long list whose disk fills up while the writer process writes its
    baselines: those it could not write are errors, each saying what became of its own file
    (exit 2, said as a full disk), and never told as new; the next run stores and tells them.
    Each baseline is told once. (Space comes back before the run marks what it told: with the
    disk still full, the state could not record that, and those baselines would be told
    again, as they are by every release.)"""
    import json
    import re

    from tests.test_reliability import _id, _watch_list
    from trialwatch.cli import run
    from trialwatch.store.folder import writer
    from trialwatch.usecases import check as check_module

    monkeypatch.setattr(writer, "START_AFTER", 0)  # every baseline through the writer process
    reg, trials = _watch_list(40)
    ids = [_id(t) for t in trials]
    store = small_disk / "store"
    freed: list[Path] = []
    real_delivered = check_module.delivered

    def space_again(*args: Any) -> None:  # another program frees space: the marks fit
        for filler in freed:
            filler.unlink(missing_ok=True)
        real_delivered(*args)

    monkeypatch.setattr(check_module, "delivered", space_again)
    with serve(reg) as url:
        for name, value in run_env(url, store).items():
            monkeypatch.setenv(name, value)

        def check(*nct_ids: str) -> tuple[int, dict[str, Any]]:
            code = run(["check", "--format", "json", *nct_ids])
            captured = capsys.readouterr()
            assert "Traceback" not in captured.err and "internal error" not in captured.err
            return code, json.loads(captured.out)

        told = [t["nct_id"] for t in check(ids[0])[1]["trials"] if t["outcome"] == "new"]
        # Room for the state and about half the baselines.
        freed.append(fill(small_disk, leave=2_000_000))
        code, doc = check(*ids)
        told += [t["nct_id"] for t in doc["trials"] if t["outcome"] == "new"]
        failed = {t["nct_id"]: t["error"] for t in doc["trials"] if t["outcome"] == "error"}
        assert code == 2 and failed, doc
        for nct, error in failed.items():
            assert re.fullmatch(
                rf"not stored: could not write \S+/{nct}/2\d{{3}}-\d\d-\d\d\.json: no space "
                r"left on the device; free some space and run again \(nothing is lost\); it "
                r"is stored on the next run",
                error,
            ), error
            assert not list((store / nct).glob("*.json"))
        assert 1 < len(told) < len(ids)
        code, doc = check(*ids)
        assert code == 0, doc
        again = [t["nct_id"] for t in doc["trials"] if t["outcome"] == "new"]
        assert sorted(again) == sorted(failed)
        assert sorted(told + again) == sorted(ids)  # each told once: none lost, none twice
        for nct in ids:
            assert len(list((store / nct).glob("*.json"))) == 1
        assert not list((store / ".trialwatch" / "tmp").glob("*.part"))


# -- 4. a store or config this user may not read or write --------------------------------------


def bound_by_permissions() -> list[str]:
    """A command prefix under which file permissions apply: root ignores them, so as root the
    command runs without the capabilities that let it (setpriv, util-linux)."""
    import os
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


@pytest.mark.posix
@pytest.mark.folder_only
def test_a_store_or_config_this_user_may_not_use_is_a_message(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    record = load("NCT03064438.json")
    reg = Registry()
    reg.put(record)
    prefix = bound_by_permissions()
    home = tmp_path / "home"
    with serve(reg) as url:
        env = {
            **os.environ,
            "TRIALWATCH_API_URL": url,
            "TRIALWATCH_REQUEST_INTERVAL": "0",
            "TRIALWATCH_STORE": str(tmp_path / "store"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
        }

        def check(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, sys.executable, "-m", "trialwatch", "check", *extra, nct(record)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=tmp_path,
            )

        assert check("-q").returncode == 0
        state = tmp_path / "store" / ".trialwatch" / "state.db"
        # The state is read-only for this user: the report still comes, and says why the
        # run's bookkeeping could not be written.
        os.chmod(state, 0o444)
        reg.put(status(record, "TERMINATED"))
        run = check()
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert "this user may not write" in run.stderr
        assert not list(state.parent.glob("state.db.damaged-*"))  # not taken for damage
        os.chmod(state, 0o644)
        # The user's config folder cannot be read: said, with what to do.
        folder = home / ".config" / "trialwatch"
        folder.mkdir(parents=True)
        (folder / "config.toml").write_text("request_interval = 0\n", encoding="utf-8")
        folder.chmod(0o000)
        try:
            run = check()
        finally:
            folder.chmod(0o755)
        assert run.returncode == 2
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert "permission denied" in run.stderr and str(folder) in run.stderr


# -- 5. a pending change whose snapshot is gone -------------------------------------------------


def test_a_pending_change_whose_snapshot_is_gone_is_still_told(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.smtp_server import free_port

    reg, url = api
    trial = records[1]
    port = free_port()
    write_config(url, [nct(trial)], port)
    assert cli(capsys, "check", "-q")[0] == 0  # the baseline
    (first,) = stores.snapshot_names(nct(trial))
    # Two changes while the mail server is down: both wait for the digest.
    for day, value in (("26", "SUSPENDED"), ("27", "TERMINATED")):
        reg.put(status(trial, value))
        reg.data_timestamp = f"2026-11-{day}T09:00:00"
        code, _, err = cli(capsys, "check", "-q")
        assert code == 2 and "kept" in err
    # The snapshot the digest starts from is deleted by hand (or lost in a restore).
    stores.delete_snapshot(nct(trial), first)
    box = Mailbox()
    with smtp_server(box, port):
        reg.data_timestamp = "2026-11-28T09:00:00"
        code, _, err = cli(capsys, "check", "-q")
        assert code == 2, err  # said as trouble, not a quiet baseline
        assert len(box.messages) == 1
        text = mail_text(box)
        assert f"last reported snapshot {first} is missing" in text
        assert "Suspended → Terminated" in text  # the change after it is told as a change
        reg.data_timestamp = "2026-11-29T09:00:00"
        assert cli(capsys, "check", "-q") == (0, "", "")  # told once
        assert len(box.messages) == 1


def test_a_missing_snapshot_is_compared_with_the_newest_one_there(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from trialwatch.model import Outcome, TrialReport
    from trialwatch.pipeline.compare import CheckOptions, describe
    from trialwatch.store.open import open_store

    reg, url = api
    trial = records[1]
    write_config(url, [nct(trial)])
    assert cli(capsys, "check", "-q")[0] == 0
    for day, value in (("26", "SUSPENDED"), ("27", "TERMINATED")):
        reg.put(status(trial, value))
        reg.data_timestamp = f"2026-11-{day}T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1
    store = open_store(stores.spec())
    names = [p.name for p in store.snapshots(nct(trial))]
    assert len(names) == 3
    latest = store.snapshot_named(nct(trial), names[-1])
    assert latest is not None
    report = TrialReport(nct(trial), Outcome.UNCHANGED)
    # A pending change whose base is not there at all: the newest one before the latest.
    describe(store, nct(trial), "2026-11-01.json", names[-1], latest.record, report, CheckOptions())
    assert report.outcome is Outcome.CHANGED
    assert report.previous_snapshot == names[-2]
    assert report.warning and "2026-11-01.json is missing" in report.warning
    assert any("Suspended → Terminated" in c.sentence for c in report.changes)


# -- 6. temp files a killed run left ------------------------------------------------------------


@pytest.mark.folder_only
def test_temp_files_a_killed_run_left_are_tidied_and_a_live_runs_are_not(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import time

    reg, url = api
    write_config(url, [nct(r) for r in records])
    assert cli(capsys, "check", "-q")[0] == 0
    book = Path("snapshots") / ".trialwatch"
    places = [book / "pending", book / "tmp", Path("snapshots") / "queries", Path("snapshots")]
    old = time.time() - 3600
    for place in places:
        place.mkdir(parents=True, exist_ok=True)
        for name in (".tmp-dead.part", ".tmp-live.part"):
            (place / name).write_bytes(b'{"outputs": {"std')  # cut short by a kill
        os.utime(place / ".tmp-dead.part", (old, old))  # a killed run's, an hour ago
    reg.put(status(records[0], "RECRUITING"))
    reg.data_timestamp = "2026-11-26T09:00:00"
    assert cli(capsys, "check", "-q")[0] == 1
    for place in places:
        assert not (place / ".tmp-dead.part").exists(), place
        assert (place / ".tmp-live.part").exists(), place  # perhaps another run's, under way
    # The pending files of this release are written through the bookkeeping's tmp folder.
    assert not [
        n for n in os.listdir(book / "pending") if n.startswith(".tmp-") and "live" not in n
    ]


# -- 7. a change a run without mail found -------------------------------------------------------


def test_a_change_a_hand_run_found_is_still_mailed(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """cron runs check --email with no mail in the config; a person runs check by hand in
    between. The hand run's changes are in the next digest, once."""
    reg, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        write_config(url, [nct(r) for r in records], port)
        text = Path("trialwatch.toml").read_text(encoding="utf-8")
        Path("trialwatch.toml").write_text(text.replace("enabled = true", "enabled = false"))
        assert cli(capsys, "check", "-q", "--email")[0] == 0  # cron's baseline
        reg.put(status(records[1], "SUSPENDED"))
        reg.data_timestamp = "2026-11-26T09:00:00"
        code, out, _ = cli(capsys, "check")  # by hand: seen on the terminal, no mail
        assert code == 1 and "→ Suspended" in out
        assert box.messages == []
        reg.put(status(records[2], "TERMINATED"))
        reg.data_timestamp = "2026-11-27T09:00:00"
        code, _, err = cli(capsys, "check", "-q", "--email")  # cron again
        assert code == 1, err
        assert len(box.messages) == 1
        text = mail_text(box)
        assert text.count("→ Suspended") == 1 and text.count("→ Terminated") == 1
        reg.data_timestamp = "2026-11-28T09:00:00"
        assert cli(capsys, "check", "-q", "--email") == (0, "", "")
        assert len(box.messages) == 1


def test_a_change_a_no_email_run_found_is_mailed_when_mail_is_configured(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        write_config(url, [nct(r) for r in records], port)
        assert cli(capsys, "check", "-q")[0] == 0
        reg.put(status(records[1], "SUSPENDED"))
        reg.data_timestamp = "2026-11-26T09:00:00"
        assert cli(capsys, "check", "--no-email")[0] == 1
        assert box.messages == []
        reg.data_timestamp = "2026-11-27T09:00:00"
        code, _, err = cli(capsys, "check", "-q")
        assert code == 0, err  # nothing new on stdout …
        assert len(box.messages) == 1  # … but the mail has what the --no-email run found
        assert "→ Suspended" in mail_text(box)


# -- 8. sanitising gaps -------------------------------------------------------------------------

HYPERLINK = "Funding \x1b]8;;https://evil.test/x\x1b\\click here\x1b]8;;\x1b\\ ended"


def test_a_terminal_hyperlink_leaves_no_trace_in_any_format_or_the_subject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from trialwatch.notify.mail import digest_report, subject
    from trialwatch.usecases.diff import run_diff

    old = load("NCT03064438.json")
    new = edited(
        old,
        lambda r: r["protocolSection"]["statusModule"].update(
            overallStatus="TERMINATED", whyStopped=HYPERLINK
        ),
    )
    new["protocolSection"]["identificationModule"]["briefTitle"] += " " + HYPERLINK
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(old), encoding="utf-8")
    b.write_text(json.dumps(new), encoding="utf-8")
    for fmt in ("text", "markdown", "html", "json"):
        code, out, err = cli(capsys, "diff", str(a), str(b), "--format", fmt)
        assert code == 1, err
        said = out
        if fmt == "json":
            # Values (old, new, the title) are the record as served, controls written as \u
            # escapes (README: JSON output); the words trialwatch writes carry no trace.
            doc = json.loads(out)
            said = json.dumps(
                [(c["sentence"], c["details"]) for c in doc["trials"][0]["changes"]]
                + [e["headline"] for e in doc["trials"][0]["events"]],
                ensure_ascii=False,
            )
            assert "\x1b" not in out
        assert "8;;" not in said and "evil.test" not in said, (fmt, said)
        assert "click here" in said  # the visible text stays
    from trialwatch.config import load_settings

    report, _ = run_diff(a, b, load_settings({}, None))
    line = subject(digest_report(report.trials, report, []), "[trialwatch]")
    assert "8;;" not in line and "evil.test" not in line and "click here" in line


def test_watch_list_json_writes_c1_controls_as_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, _, err = cli(
        capsys, "watch", "add", "NCT06224738", "--offline", "--label", "Lab\x85el\x9b31m"
    )
    assert code == 0, err
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    assert code == 0
    assert not any("\x7f" <= ch <= "\x9f" for ch in out)
    assert json.loads(out)[0]["label"] == "Lab\x85el\x9b31m"  # kept, written as \u escapes


@pytest.mark.folder_only
def test_a_change_a_0_1_store_never_reported_is_mailed_too(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """trialwatch 0.1 stored a change and stopped before reporting it: after the upgrade the
    terminal and the mail both get it, once."""
    import json

    from trialwatch.changes.normalize import canonical_json

    reg, url = api
    trial = records[1]
    before = status(trial, "SUSPENDED")  # what 0.1 reported last
    folder = Path("snapshots") / nct(trial)
    folder.mkdir(parents=True)
    for name, record in (("2026-11-25.json", before), ("2026-11-26.json", trial)):
        payload = {"fetched": {"at": f"{name[:10]}T06:00:00Z"}, "format": 1, "study": record}
        (folder / name).write_text(canonical_json(payload), encoding="utf-8")
    (folder / "state.json").write_text(json.dumps({"latest": "2026-11-25.json"}), "utf-8")
    box = Mailbox()
    with smtp_server(box) as port:
        write_config(url, [nct(trial)], port)
        code, out, err = cli(capsys, "check")
        assert code == 1, err
        assert "Suspended → Completed" in out
        assert len(box.messages) == 1 and "Suspended → Completed" in mail_text(box)
        reg.data_timestamp = "2026-11-27T09:00:00"
        assert cli(capsys, "check", "-q") == (0, "", "")
        assert len(box.messages) == 1


def test_a_page_cut_short_keeps_the_trials_read_before_the_cut(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A page of a batch is stored as one batch of the store. When its JSON ends mid-record,
    the trials read before the cut are stored and reported once (the batch commits what it
    has), the rest are errors, and the next run stores and reports those alone."""
    import json

    reg, url = api
    ids = [nct(r) for r in records]
    write_config(url, ids)
    whole = b",".join(reg.body(n) for n in ids[:2])
    cut = reg.body(ids[2])[:2000]  # the third record's text, torn in the middle
    reg.script(
        "/api/v2/studies",
        (200, {"Content-Type": "application/json"}, b'{"studies":[' + whole + b"," + cut),
    )
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 2, err
    outcomes = {t["nct_id"]: t["outcome"] for t in json.loads(out)["trials"]}
    assert outcomes == {ids[0]: "new", ids[1]: "new", ids[2]: "error"}
    assert "invalid or truncated JSON" in out
    for n in ids[:2]:
        assert stores.latest_record(n) is not None
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 0, err  # a first look is no change
    outcomes = {t["nct_id"]: t["outcome"] for t in json.loads(out)["trials"]}
    assert outcomes == {ids[0]: "unchanged", ids[1]: "unchanged", ids[2]: "new"}
    assert not stores.pending_trials()


def test_a_baseline_whose_folder_is_blocked_is_an_error_and_its_page_is_stored(
    api: tuple[Registry, str], records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A page is one batch, and a baseline's file is put in place after the batch commits.
    When one trial's folder cannot be made (a file stands where it goes), that trial is an
    error and the rest of its page are stored and reported as new; once the way is clear the
    next run stores and reports it."""
    import json

    reg, url = api
    ids = [nct(r) for r in records]
    write_config(url, ids)
    if stores.on_database():
        pytest.skip("only a folder store has folders")
    root = Path(stores.spec())
    root.mkdir(parents=True, exist_ok=True)
    blocker = root / ids[1]
    blocker.write_text("not a folder\n", encoding="utf-8")
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 2, err
    assert "Traceback" not in out + err
    found = {t["nct_id"]: t for t in json.loads(out)["trials"]}
    assert {n: t["outcome"] for n, t in found.items()} == {
        ids[0]: "new",
        ids[1]: "error",
        ids[2]: "new",
    }
    assert "could not write" in found[ids[1]]["error"], found[ids[1]]["error"]
    blocker.unlink()
    reg.data_timestamp = "2026-11-26T09:00:00"
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 0, err
    outcomes = {t["nct_id"]: t["outcome"] for t in json.loads(out)["trials"]}
    assert outcomes == {ids[0]: "unchanged", ids[1]: "new", ids[2]: "unchanged"}
    assert not stores.pending_trials()
