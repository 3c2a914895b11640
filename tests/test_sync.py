"""trialwatch sync and trialwatch worker, against both stores: a bootstrap from the bulk file
the stand-in registry serves (and from the website's JSON download), incremental syncs by
last-update date, the sweep that finds trials that left, kill -9 of a sync and of a worker,
and several workers keeping one request pace.

The changed records are real ones (tests/fixtures) with realistic edits: a trial terminated,
its enrollment corrected; the stand-in moves their last-update-posted date as the registry
does."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import FIXTURES, all_records, cli
from tests.registry_server import Registry, serve
from tests.test_e2e import EXE

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]


def nct(record: dict[str, Any]) -> str:
    return str(record["protocolSection"]["identificationModule"]["nctId"])


def many(n: int) -> list[dict[str, Any]]:
    """n records: the real fixtures, ids rewritten past the first copy (NCT9… is unassigned)."""
    base = all_records()
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        record = copy.deepcopy(base[i % len(base)])
        ident = record["protocolSection"]["identificationModule"]
        if ident["nctId"] in out:  # a fixture seen already (or a second round of them)
            ident["nctId"] = f"NCT9{i:07d}"
        ident.pop("nctIdAliases", None)
        out[nct(record)] = record
    return list(out.values())


def terminate(record: dict[str, Any]) -> dict[str, Any]:
    """The sponsor stops the trial early."""
    out = copy.deepcopy(record)
    out["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    out["protocolSection"]["statusModule"]["whyStopped"] = "Sponsor decision"
    return out


def enroll(record: dict[str, Any], count: int) -> dict[str, Any]:
    """The sponsor corrects the enrollment target."""
    out = copy.deepcopy(record)
    design = out["protocolSection"].setdefault("designModule", {})
    design.setdefault("enrollmentInfo", {"type": "ESTIMATED"})["count"] = count
    return out


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    reg = Registry()
    for record in many(60):
        reg.put(record)
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        monkeypatch.setenv("TRIALWATCH_BACKOFF_BASE", "0.01")
        yield reg


def step_rows() -> Counter[str]:
    """Stored steps per trial: each (trial, new snapshot) filed once."""
    rows = stores.sql("SELECT DISTINCT nct, new_snapshot FROM events")
    return Counter(str(n) for n, _s in rows)


def test_a_bulk_file_bootstraps_then_only_what_moved_is_asked(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "sync", "--download")
    assert code == 0, err
    assert "Synced the bulk file ctg-studies.json.zip: 60 records read" in out
    assert "0 changed (0 events stored), 60 new" in out
    assert stores.snapshot_count() == 60 and stores.sql("SELECT count(*) FROM events") == [(0,)]
    assert "/api/v2/studies/download?format=json.zip" in registry.requests
    # A day later: two trials change; the sync asks for what was posted since the day before
    # the latest update it has seen, and no more.
    ids = sorted(registry.studies)
    through = max(
        r["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
        for r in registry.studies.values()
    )
    registry.data_timestamp = "2026-12-03T09:00:00"
    registry.put(terminate(registry.studies[ids[5]]))
    registry.put(enroll(registry.studies[ids[7]], 4321))
    registry.requests.clear()
    code, out, err = cli(capsys, "sync", "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    assert data["schema"] == "trialwatch.sync/1"
    assert data["stored"]["changed"] == 2 and data["stored"]["new"] == 0
    asked = [r for r in registry.requests if "filter.advanced" in r]
    day_before = (dt.date.fromisoformat(through) - dt.timedelta(days=1)).isoformat()
    assert asked and all(f"RANGE%5B{day_before}%2CMAX%5D" in r for r in asked)
    assert data["read"] < 60  # only what moved (and what the day of overlap re-reads)
    assert not [r for r in registry.requests if r.startswith(f"/api/v2/studies/{ids[5]}")]
    # The changes are rows, read by events (and SQL), never printed one by one.
    code, out, _ = cli(capsys, "events", "--type", "status_changed")
    assert code == 0 and f"{ids[5]}" in out and "Terminated" in out
    code, out, _ = cli(capsys, "events", "--trial", ids[7])
    assert "4,321" in out or "4321" in out
    # The next sync reads the overlap again: nothing is filed twice.
    code, out, err = cli(capsys, "sync")
    assert code == 0, err
    assert "0 changed" in out
    assert step_rows() == Counter({ids[5]: 1, ids[7]: 1})
    code, out, _ = cli(capsys, "sync", "--status")
    assert code == 0 and "Sync of the whole registry" in out and "0 waiting" in out


def test_the_websites_json_download_and_a_broken_zip(
    registry: Registry, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    download = FIXTURES / "download-ctg-studies-2026-04-09.json"
    code, out, err = cli(capsys, "sync", "--from-file", str(download))
    assert code == 0, err
    assert "10 records read" in out and "10 new" in out
    cut = tmp_path / "ctg-studies.json.zip"
    cut.write_bytes(b"PK\x03\x04" + b"\0" * 2000)  # a download cut short: no index at its end
    code, _, err = cli(capsys, "sync", "--from-file", str(cut))
    assert code == 2 and "is not a whole zip file" in err and "download it again" in err
    assert "Traceback" not in err
    code, _, err = cli(capsys, "sync", "--from-file", str(tmp_path / "nothing.zip"))
    assert code == 2 and "no bulk file at" in err


def test_a_first_sync_is_needed_and_a_population_can_be_synced(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "sync")
    assert code == 2 and "nothing synced into this store yet" in err
    asthma = sorted(registry.studies)[:12]
    registry.queries["query.cond=asthma"] = asthma
    code, out, err = cli(capsys, "sync", "--query", "cond=asthma")
    assert code == 0, err
    assert "12 records read" in out and "12 new" in out
    assert stores.trials() == asthma
    registry.data_timestamp = "2026-12-03T09:00:00"
    registry.put(terminate(registry.studies[asthma[0]]))
    registry.put(terminate(registry.studies[sorted(registry.studies)[-1]]))  # not a member
    code, out, err = cli(capsys, "sync")
    assert code == 1, err
    assert all("query.cond=asthma" in r for r in registry.requests if "filter.advanced" in r)
    assert step_rows() == Counter({asthma[0]: 1})
    code, _, err = cli(capsys, "sync", "--query", "cond=copd")
    assert code == 2 and "already syncs another population" in err


def test_the_sweep_files_a_trial_that_left_the_registry(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "sync", "--download")[0] == 0
    # The bulk file listed every study: that was the sweep's work, so the day after the
    # bootstrap asks only for what moved, and the next sweep is sweep_days away.
    code, out, err = cli(capsys, "sync", "--status", "--format", "json")
    assert json.loads(out)["last_sweep"] is not None, err
    gone = sorted(registry.studies)[3]
    del registry.studies[gone]
    registry.data_timestamp = "2026-12-03T09:00:00"
    registry.requests.clear()
    code, out, err = cli(capsys, "sync")
    assert code == 0 and "Sweep:" not in out, err
    assert not [r for r in registry.requests if "fields=NCTId" in r]
    code, out, err = cli(capsys, "sync", "--sweep")
    assert code == 1, err
    assert "Sweep: the registry lists 59 trials" in out and "1 left the registry" in out
    assert f"/api/v2/studies/{gone}" in registry.requests  # asked by id before taken for gone
    code, out, _ = cli(capsys, "events", "--type", "left_registry")
    assert gone in out and "Left the registry" in out
    assert stores.snapshot_names(gone)  # its last snapshot is kept
    code, out, _ = cli(capsys, "sync", "--sweep")
    assert code == 0 and "left the registry" not in out  # said once


def _sync_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "TRIALWATCH_API_URL": os.environ["TRIALWATCH_API_URL"],
        "TRIALWATCH_REQUEST_INTERVAL": os.environ.get("TRIALWATCH_REQUEST_INTERVAL", "0"),
        **stores.process_env(),
    }


def _every_trial_changed_once(registry: Registry, round_: int) -> list[str]:
    ids = sorted(registry.studies)
    registry.data_timestamp = f"2026-12-{round_ + 2:02d}T09:00:00"
    for n in ids:
        registry.put(enroll(registry.studies[n], 1000 + round_))
    return ids


@pytest.mark.parametrize("seed", [1, 2])
def test_a_sync_killed_at_any_moment_resumes_and_files_each_change_once(
    registry: Registry, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    rng = random.Random(seed)
    for record in many(400)[60:]:
        registry.put(record)
    assert cli(capsys, "sync", "--download")[0] == 0
    ids = _every_trial_changed_once(registry, 1)
    started = time.monotonic()
    full = subprocess.run([EXE, "sync", "-q", "--no-work"], env=_sync_env(), check=False)
    took = time.monotonic() - started
    assert full.returncode == 0
    # The queue now holds every change: a worker is killed while comparing, then the sync
    # that follows (killed too) and one run to the end do the rest. Each is killed once a
    # random part of what was left is done: a moment in the work, not a time (on a fast
    # machine a time could land after the work ended, and no kill would cut it short).
    cut = []
    for argv in (["worker", "-q"], ["sync", "-q"]):
        _, out, _ = cli(capsys, "sync", "--status", "--format", "json")
        left = json.loads(out)["left"]
        kill_at = left - rng.randint(1, max(1, left * 3 // 4))  # jobs still left then
        proc = subprocess.Popen([EXE, *argv], env=_sync_env())
        bound = time.monotonic() + max(120.0, took * 20)  # only keeps a hang from lasting
        while proc.poll() is None and time.monotonic() < bound:
            _, out, _ = cli(capsys, "sync", "--status", "--format", "json")
            if json.loads(out)["left"] <= kill_at:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _, out, _ = cli(capsys, "sync", "--status", "--format", "json")
        cut.append(json.loads(out))
    assert any(c["left"] > 0 for c in cut)  # a kill cut the work short
    last = subprocess.run([EXE, "sync", "--format", "json"], env=_sync_env(), check=False)
    assert last.returncode in (0, 1)
    _, out, _ = cli(capsys, "sync", "--status", "--format", "json")
    status = json.loads(out)
    assert status["left"] == 0 and status["failed"] == 0
    # Every trial's enrollment change is stored once: two snapshots each, one filed step.
    assert step_rows() == Counter({n: 1 for n in ids})
    assert all(len(stores.snapshot_names(n)) == 2 for n in ids)


def test_workers_share_the_queue_and_one_pace_and_survive_a_kill(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(capsys, "sync", "--download")[0] == 0
    ids = sorted(registry.studies)
    # The registry's id listing lags behind 40 of its records: the sweep queues them to be
    # fetched one by one, the work the workers share at the pace.
    lagging = ids[:40]
    registry.queries[""] = ids[40:]
    for n in lagging:
        registry.put(terminate(registry.studies[n]), posted=False)
    code, _, err = cli(capsys, "sync", "--sweep", "--no-work")
    assert code == 0, err
    interval = 0.1
    monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", str(interval))
    registry.requests.clear()
    registry.times.clear()
    workers = [
        subprocess.Popen(
            [EXE, "worker", "-q"], env={**_sync_env(), "TRIALWATCH_LEASE_SECONDS": "2"}
        )
        for _ in range(4)
    ]
    time.sleep(1.0)
    workers[0].send_signal(signal.SIGKILL)  # its claim is taken over once its lease ends
    for w in workers:
        w.wait(120)
    # What the killed worker had claimed is left to its lease; one more worker finishes it.
    time.sleep(2.1)
    assert subprocess.run([EXE, "worker", "-q"], env=_sync_env(), check=False).returncode in (0, 1)
    code, out, _ = cli(capsys, "sync", "--status", "--format", "json")
    assert json.loads(out)["left"] == 0
    assert step_rows() == Counter({n: 1 for n in lagging})  # each compared once, none skipped
    fetched = [
        t for r, t in zip(registry.requests, registry.times, strict=True) if "/studies/NCT" in r
    ]
    assert len(fetched) >= 40
    # Never faster than the pace, all together: any five requests in a row span at least four
    # intervals, less 50 ms for when each arrived (a request late on the wire and the next on
    # time arrive closer than their slots; four workers not sharing the pace would send five
    # within about one interval).
    ordered = sorted(fetched)
    spans = [b - a for a, b in zip(ordered, ordered[4:], strict=False)]
    assert min(spans) >= 4 * interval - 0.05, min(spans)
    in_any_second = max(sum(1 for t in fetched if s <= t < s + 1.0) for s in fetched)
    assert in_any_second <= 1 / interval + 1


def test_a_paced_sync_ends_cleanly_whichever_thread_asked_first(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a request pace, the read-ahead thread asks the registry first: the pace's
    connection it opens must close cleanly in the main thread (a folder store's SQLite refused
    it, and a sync that had stored everything ended in an internal error, exit 2)."""
    monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0.001")
    asthma = sorted(registry.studies)[:12]
    registry.queries["query.cond=asthma"] = asthma
    code, out, err = cli(capsys, "sync", "--query", "cond=asthma")
    assert code == 0, err
    assert "internal error" not in err and "12 new" in out
    registry.data_timestamp = "2026-12-03T09:00:00"
    registry.put(terminate(registry.studies[asthma[0]]))
    code, out, err = cli(capsys, "sync")
    assert code == 1, err
    assert "internal error" not in err


def test_claims_follow_lease_seconds_and_a_short_queue_is_shared(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sync` works its queue with the store's lease_seconds (it used a fixed 600 s), and a
    worker claims a share of a short queue, not all of it (it took 50 at once, so one worker
    did all the work while the others found nothing)."""
    from trialwatch.config import load_settings
    from trialwatch.store.open import open_store
    from trialwatch.usecases.sync import sync_worker

    assert cli(capsys, "sync", "--download")[0] == 0
    ids = sorted(registry.studies)
    registry.queries[""] = ids[20:]  # 20 records the id listing does not show: fetched alone
    for n in ids[:20]:
        registry.put(terminate(registry.studies[n]), posted=False)
    assert cli(capsys, "sync", "--sweep", "--no-work")[0] == 0
    monkeypatch.setenv("TRIALWATCH_LEASE_SECONDS", "30")
    settings = load_settings({}, None)
    store = open_store(settings.store)
    seen: list[tuple[int, float]] = []

    def look(_nct: str) -> None:
        held = stores.sql("SELECT lease_until FROM sync_jobs WHERE state = 'claimed'")
        seen.append((len(held), max(float(r[0]) for r in held) - time.time() if held else 0))

    from trialwatch.usecases.common import build_client

    try:
        with build_client(settings) as client:
            sync_worker(settings, store, client).run(on_job=look)
    finally:
        store.close()
    assert len(seen) >= 20  # the sweep's jobs, each compared
    assert max(n for n, _ in seen) <= len(seen) // 4  # a quarter of what waited, at the most
    assert 0 < max(left for _, left in seen) <= 30  # the configured lease, not 600 s


def test_a_queued_record_keeps_its_own_text_and_a_mended_one_does_not() -> None:
    """A job holds the record's text as the registry served it, and gives it back, so a
    database stores that text as the snapshot without encoding the record again; a record
    whose text needed mending (a lone surrogate) comes back mended, with the mended text."""
    from trialwatch.registry.client import fetched_from
    from trialwatch.sync.run import envelope, unpack

    record = json.loads((FIXTURES / "NCT06171568.json").read_text(encoding="utf-8"))
    served = json.dumps(record, separators=(",", ":"))
    at, url = "2026-12-07T00:00:00Z", "https://clinicaltrials.gov/api/v2/studies"
    fetched = fetched_from("NCT06171568", json.loads(served), served, url, at, keep_text=True)
    back = unpack("NCT06171568", envelope(fetched))
    assert back.text == served and back.record == record
    assert back.fingerprint == fetched.fingerprint and back.url == fetched.url
    record["protocolSection"]["identificationModule"]["briefTitle"] = "Bad \ud800 title"
    served = json.dumps(record, separators=(",", ":"))  # ensure_ascii: the \ud800 escape
    fetched = fetched_from(
        "NCT06171568", json.loads(served), served, "u", "2026-12-07T00:00:00Z", keep_text=True
    )
    assert fetched.text is None  # the served text is not the mended record's
    back = unpack("NCT06171568", envelope(fetched))
    assert back.text is not None and json.loads(back.text) == back.record  # the mended one's
    assert "\\ud800" not in back.text
    title = back.record["protocolSection"]["identificationModule"]["briefTitle"]
    assert title == "Bad \ufffd title"
    # An envelope of an older layout (the whole record encoded) still unpacks, with a text
    # equal to its record.
    old = json.dumps({"url": "u", "fetched_at": "t", "fingerprint": None, "study": {"a": 1}})
    back = unpack("NCT06171568", old)
    assert back.record == {"a": 1} and (back.text is None or json.loads(back.text) == {"a": 1})
