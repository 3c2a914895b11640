"""The store port's contract, proven on every adapter alike — memory, folder and PostgreSQL —
as ibis and pgqueuer prove their backends: one suite, parametrised over each. What a caller may
rely on, whichever store it holds: snapshots and their order, units of work that commit whole or
not at all, the state of each trial, pending changes, event rows and their order, the sync
queue's claims and leases, the shared request pace, the signals ledger, registry versions and
search members, and the schema a database is given."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, nested
from trialwatch.errors import StoreError
from trialwatch.record import Fetched, last_update
from trialwatch.store.events import Row
from trialwatch.store.jobs import MAX_ATTEMPTS
from trialwatch.store.open import open_store
from trialwatch.store.port import Store

NCT = "NCT06224738"


@pytest.fixture(params=["memory", "folder", pytest.param("postgresql", marks=pytest.mark.slow)])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each adapter's store: in memory, a fresh folder, a fresh PostgreSQL database."""
    if request.param == "memory":
        return "memory:"
    if request.param == "folder":
        return str(tmp_path / "snapshots")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(spec: str) -> Iterator[Store]:
    opened = open_store(spec)
    try:
        yield opened
    finally:
        opened.close()


def record(status: str = "RECRUITING", title: str = "HER2 gastric cancer") -> dict[str, Any]:
    data = json.loads((FIXTURES / "NCT06224738.reconstructed.json").read_text("utf-8"))
    study = data.get("study", data)
    study["protocolSection"]["statusModule"]["overallStatus"] = status
    study["protocolSection"]["identificationModule"]["briefTitle"] = title
    assert isinstance(study, dict)
    return study


def fetched(at: str, **kw: str) -> Fetched:
    return Fetched(NCT, record(**kw), "http://127.0.0.1/api/v2/studies/" + NCT, at, NCT)


def row(n: int, seen: str, type_: str = "status_changed") -> Row:
    return Row(
        NCT, seen, seen[:10], f"{seen[:10]}.json", f"{seen[:10]}_2.json", "event", type_,
        "status", f"headline {n}", n, {"n": n},
    )  # fmt: skip


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshots_are_kept_in_the_order_they_were_stored(store: Store) -> None:
    assert store.trials() == [] and store.snapshots(NCT) == [] and store.latest(NCT) is None
    first = store.save(fetched("2026-12-01T09:00:00Z", status="RECRUITING"))
    second = store.save(fetched("2026-12-01T18:00:00Z", status="ACTIVE_NOT_RECRUITING"))
    third = store.save(fetched("2026-12-02T09:00:00Z", status="COMPLETED"))
    assert [first.name, second.name, third.name] == [
        "2026-12-01.json",
        "2026-12-01_2.json",
        "2026-12-02.json",
    ]  # a second one the same day never replaces the first
    assert [p.name for p in store.snapshots(NCT)] == [first.name, second.name, third.name]
    assert store.trials() == [NCT]
    latest = store.latest(NCT)
    assert latest is not None and latest.name == third.name
    assert latest.record["protocolSection"]["statusModule"]["overallStatus"] == "COMPLETED"
    assert latest.fetched_at == "2026-12-02T09:00:00Z"
    named = store.snapshot_named(NCT, second.name)
    assert named is not None
    assert named.record["protocolSection"]["statusModule"]["overallStatus"] == (
        "ACTIVE_NOT_RECRUITING"
    )
    assert store.snapshot_named(NCT, "2030-01-01.json") is None


def test_baselines_store_a_batch_with_its_state_and_check(store: Store) -> None:
    """A sync's bootstrap: each record its trial's first snapshot, with the state row, the
    check that found it and a log line, in one unit."""
    found = fetched("2026-12-01T09:00:00Z", status="RECRUITING", title="First look")
    with store.unit() as unit:
        unit.baselines([found])
    latest = store.latest(NCT)
    assert latest is not None and latest.name == "2026-12-01.json"
    assert latest.record["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    state = store.state(NCT)
    assert state["latest"] == "2026-12-01.json" and state["status"] == "RECRUITING"
    assert state["title"] == "First look"
    assert state["last_outcome"] == "new" and state["checks"] == 1
    assert state["last_checked"] == "2026-12-01T09:00:00Z"
    assert state["last_update"] == last_update(found.record)


def test_a_record_nested_too_deeply_is_refused_and_nothing_is_stored(store: Store) -> None:
    """No study record nests near MAX_DEPTH levels: one that does is refused by save, as a
    baseline (its file waiting for the commit) and as a later version, and nothing is kept;
    one at the limit is stored."""
    from trialwatch.sanitize import MAX_DEPTH, RecordShapeError

    deep = fetched("2026-12-01T09:00:00Z")
    deep.record["protocolSection"]["armsInterventionsModule"] = {"odd": nested(MAX_DEPTH)}
    with pytest.raises(RecordShapeError, match="nests more than"), store.unit(key=NCT):
        store.save(deep, durable=False)
    assert store.snapshots(NCT) == []
    first = store.save(fetched("2026-12-01T09:00:00Z"))
    deep.fetched_at = "2026-12-02T09:00:00Z"
    with pytest.raises(RecordShapeError, match="nests more than"):
        store.save(deep)
    assert [p.name for p in store.snapshots(NCT)] == [first.name]
    edge = fetched("2026-12-03T09:00:00Z")
    edge.record["protocolSection"]["armsInterventionsModule"] = {"odd": nested(MAX_DEPTH - 3)}
    assert store.save(edge).name == "2026-12-03.json"


def test_an_id_is_never_a_path(store: Store) -> None:
    for bad in ("../../etc", "NCT06224738/../../x", "/etc/passwd"):
        with pytest.raises(StoreError, match="refusing to use"):
            store.snapshots(bad)


# -- units of work -----------------------------------------------------------------------------


def test_a_unit_of_work_commits_whole(store: Store) -> None:
    path = store.save(fetched("2026-12-01T09:00:00Z"))
    with store.unit(key=NCT) as unit:
        unit.log("2026-12-01T09:00:00Z", NCT, "new", path.name)
        unit.remember(NCT, latest=path.name, record_digest="d1", raw="r1", status="RECRUITING",
                      title="HER2", changed_at="2026-12-01T09:00:00Z")  # fmt: skip
        unit.file_events([row(1, "2026-12-01T09:00:00Z")])
        unit.enqueue([(NCT, "updated", None)])
        unit.set_meta("sync", {"through": "2026-12-01"})
    state = store.row(NCT)
    assert state["latest"] == path.name and state["digest"] == "d1" and state["raw"] == "r1"
    assert state["status"] == "RECRUITING" and state["title"] == "HER2"
    assert store.rows([NCT, "NCT00000000"]) == {NCT: state}
    assert [e.headline for e in store.query_events()] == ["headline 1"]
    assert store.jobs_waiting() == 1
    assert store.meta("sync") == {"through": "2026-12-01"}


def test_a_unit_of_work_that_fails_writes_nothing(store: Store) -> None:
    path = store.save(fetched("2026-12-01T09:00:00Z"))
    with pytest.raises(RuntimeError), store.unit(key=NCT) as unit:
        unit.remember(NCT, latest=path.name, record_digest="d1", raw=None)
        unit.file_events([row(1, "2026-12-01T09:00:00Z")])
        unit.enqueue([(NCT, "updated", None)])
        unit.set_meta("sync", {"through": "2026-12-01"})
        raise RuntimeError("the run is killed here")
    assert store.row(NCT) == {}
    assert store.query_events() == []
    assert store.jobs_waiting() == 0
    assert store.meta("sync") is None


def test_units_in_a_batch_are_stored_and_one_that_fails_is_undone_alone(store: Store) -> None:
    """A batch (a page of a long list): every unit that ended is stored by its end, a baseline's
    file included; a unit that failed inside is undone alone, the others kept."""
    with store.batch():
        with store.unit(key=NCT) as unit:
            store.pending.put(NCT, store.run_id, {"stdout": ""}, durable=False)
            path = store.save(fetched("2026-12-01T09:00:00Z"), durable=False)
            unit.remember(NCT, latest=path.name, record_digest=None, raw="r1", title="HER2")
            unit.log("2026-12-01T09:00:00Z", NCT, "new", path.name)
        with pytest.raises(RuntimeError), store.unit(key="NCT00000001") as unit:
            unit.file_events([row(1, "2026-12-01T09:00:00Z")])
            unit.set_meta("sync", {"through": "2026-12-01"})
            raise RuntimeError("this trial's comparison failed")
    assert store.row(NCT)["latest"] == path.name and store.row(NCT)["title"] == "HER2"
    assert [p.name for p in store.snapshots(NCT)] == [path.name]
    latest = store.latest(NCT)
    assert latest is not None and latest.fetched_at == "2026-12-01T09:00:00Z"
    assert store.pending.get(NCT) == {"run": store.run_id, "outputs": {"stdout": ""}}
    assert store.query_events() == [] and store.meta("sync") is None


# -- pending changes ---------------------------------------------------------------------------


def test_pending_changes_per_trial_and_output(store: Store) -> None:
    assert store.pending.trials() == set() and store.pending.get(NCT) is None
    store.pending.put(NCT, store.run_id, {"stdout": "2026-12-01.json", "mail": "2026-12-01.json"})
    assert store.pending.trials() == {NCT}
    assert store.pending.get(NCT) == {
        "run": store.run_id,
        "outputs": {"stdout": "2026-12-01.json", "mail": "2026-12-01.json"},
    }
    store.pending.put(NCT, store.run_id, {})  # every output has it: nothing pending
    assert store.pending.trials() == set() and store.pending.get(NCT) is None


def test_the_pending_changes_of_many_trials_are_read_at_once(store: Store) -> None:
    """get_many answers as get does for each trial asked (one read, not one a trial): a change
    pending durably, a baseline's untold news (kept lighter), and nothing (left out)."""
    other, none = "NCT00000001", "NCT00000002"
    store.pending.put(NCT, store.run_id, {"stdout": "2026-12-01.json"})
    with store.unit(key=other):
        store.pending.put(other, store.run_id, {"stdout": ""}, durable=False)
    with store.batch():  # as a run's delivery asks it: inside a batch
        many = store.pending.get_many([NCT, other, none])
    assert many == {
        NCT: {"run": store.run_id, "outputs": {"stdout": "2026-12-01.json"}},
        other: {"run": store.run_id, "outputs": {"stdout": ""}},
    }
    assert many == {n: m for n in (NCT, other, none) if (m := store.pending.get(n)) is not None}
    assert store.pending.get_many([]) == {}


def test_a_run_is_alive_while_it_holds_the_store(store: Store) -> None:
    assert not store.runs.alive(store.run_id)
    with store.locked():
        assert store.runs.alive(store.run_id)
        assert not store.runs.alive("another-host-1-deadbeef")
    assert not store.runs.alive(store.run_id)


# -- event rows --------------------------------------------------------------------------------


def test_event_rows_come_back_in_order_and_filtered(store: Store) -> None:
    with store.unit() as unit:
        unit.file_events([row(1, "2026-11-30T09:00:00Z"), row(2, "2026-12-01T09:00:00Z")])
    with store.unit() as unit:
        unit.file_events([row(3, "2026-12-02T09:00:00Z", "enrollment_changed")])
    found = store.query_events()
    assert [e.headline for e in found] == ["headline 1", "headline 2", "headline 3"]
    assert [e.headline for e in store.query_events(since="2026-12-01")] == [
        "headline 2",
        "headline 3",
    ]
    assert [e.headline for e in store.query_events(types=["enrollment_changed"])] == ["headline 3"]
    assert store.query_events(trials=["NCT00000000"]) == []
    with store.unit() as unit:
        unit.forget_events(NCT)
    assert store.query_events() == []


# -- the sync queue ----------------------------------------------------------------------------


def _queue(store: Store, n: int) -> list[str]:
    ids = [f"NCT9{i:07d}" for i in range(n)]
    with store.unit() as unit:
        unit.enqueue([(i, "updated", None) for i in ids])
    return ids


def test_claims_are_never_shared_and_a_lease_that_ran_out_is_taken_over(store: Store) -> None:
    ids = _queue(store, 6)
    a = store.claim_jobs("worker-a", 4, lease=60)
    b = store.claim_jobs("worker-b", 4, lease=60)
    assert len(a) == 4 and len(b) == 2
    assert {j.nct for j in a}.isdisjoint({j.nct for j in b})
    assert {j.nct for j in a} | {j.nct for j in b} == set(ids)
    assert store.claim_jobs("worker-c", 4, lease=60) == []
    progress = store.job_progress()
    assert (progress.claimed, progress.todo, progress.left) == (6, 0, 6)
    # worker-b is interrupted and gives back what it claimed: worker-c takes it.
    store.release_jobs("worker-b")
    taken = store.claim_jobs("worker-c", 10, lease=60)
    assert {j.nct for j in taken} == {j.nct for j in b}
    # worker-d dies holding a job; once its lease has run out, worker-e takes the job over.
    expiring = _queue(store, 1)
    [short] = store.claim_jobs("worker-d", 1, lease=0.01)
    assert short.nct == expiring[0]
    time.sleep(0.05)
    [again] = store.claim_jobs("worker-e", 1, lease=60)
    assert again.nct == short.nct
    with store.unit(key=short.nct) as unit:
        assert not unit.still_mine(short.nct, "worker-d")
        assert unit.still_mine(short.nct, "worker-e")
        unit.job_done(short.nct, "worker-e")
    assert store.job_progress().done == 1


def test_a_failing_job_is_tried_again_then_failed(store: Store) -> None:
    [nct] = _queue(store, 1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [job] = store.claim_jobs("worker", 1, lease=60)
        assert job.attempts == attempt
        store.job_failed(nct, "worker", "HTTP 500")
    assert store.claim_jobs("worker", 1, lease=60) == []
    progress = store.job_progress()
    assert progress.failed == 1 and progress.errors == [(nct, "HTTP 500")]


def test_the_request_pace_is_one_slot_an_interval_for_every_worker(store: Store) -> None:
    slots = [store.take_slot("registry.test", 0.5)[0] for _ in range(4)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(g - 0.5) < 1e-6 for g in gaps), gaps
    other, _now = store.take_slot("elsewhere.test", 0.5)
    assert other < slots[-1]  # each host keeps its own pace


# -- the rest of the bookkeeping ---------------------------------------------------------------


def test_signals_told_and_runs_and_outputs(store: Store) -> None:
    ledger = store.signals()
    assert ledger.told("mail") == {}
    ledger.tell("mail", [(NCT, {"results_overdue", "status_stale"})])
    assert ledger.told("mail") == {NCT: {"results_overdue", "status_stale"}}
    assert ledger.told("stdout") == {}
    store.save_run_state({"ids": [NCT]})
    assert store.run_state() == {"ids": [NCT]}
    store.note_delivery("mail")
    assert store.outputs_in_use() == ["mail"]


def test_registry_versions_and_search_members(store: Store) -> None:
    from trialwatch.registry.history import VersionInfo
    from trialwatch.search.query import from_args

    versions = store.versions()
    assert versions.numbers(NCT) == set()
    info = VersionInfo(0, "2024-01-10", "NOT_YET_RECRUITING", [])
    versions.save(NCT, info, record(status="NOT_YET_RECRUITING"), "http://127.0.0.1/v0", "x")
    versions.save(NCT, VersionInfo(1, "2024-03-01", "RECRUITING", []), record(), "u", "x")
    assert versions.numbers(NCT) == {0, 1}
    assert [v.version for v in versions.all(NCT)] == [0, 1]
    first = versions.read(NCT, 0)
    assert first.record["protocolSection"]["statusModule"]["overallStatus"] == (
        "NOT_YET_RECRUITING"
    )
    query = from_args(["cond=gastric cancer"], "Gastric")
    queries = store.queries()
    assert queries.members(query.id) is None
    queries.save(query, {NCT, "NCT03630471"})
    assert queries.members(query.id) == {NCT, "NCT03630471"}


# -- what each adapter declares ----------------------------------------------------------------


def test_a_store_reopened_keeps_what_it_declares_it_keeps(spec: str) -> None:
    """Only a "persistent" store holds its snapshots, state, events and jobs once closed and
    opened again; the schema a database is given on first use is given once."""
    first = open_store(spec)
    path = first.save(fetched("2026-12-01T09:00:00Z"))
    with first.unit(key=NCT) as unit:
        unit.remember(NCT, latest=path.name, record_digest="d1", raw=None)
        unit.file_events([row(1, "2026-12-01T09:00:00Z")])
        unit.enqueue([(NCT, "updated", None)])
    kept = "persistent" in first.capabilities
    first.close()
    again = open_store(spec)
    try:
        assert ([p.name for p in again.snapshots(NCT)] == [path.name]) is kept
        assert (again.row(NCT).get("latest") == path.name) is kept
        assert (len(again.query_events()) == 1) is kept
        assert (again.jobs_waiting() == 1) is kept
    finally:
        again.close()
    assert ("files" in first.capabilities) is (first.folder is not None)


# -- the cursor: every change, in the order stored, once -------------------------------------


def test_positions_only_grow_and_are_never_given_twice(store: Store) -> None:
    with store.unit() as unit:
        unit.file_events([row(1, "2026-12-02T09:00:00Z"), row(2, "2026-11-30T09:00:00Z")])
    first = store.query_events(after=0)
    # In the order stored (not by date), each with its own position.
    assert [r.headline for r in first] == ["headline 1", "headline 2"]
    assert [r.position for r in first] == [1, 2]
    assert store.query_events(after=2) == []
    with store.unit() as unit:  # filed again (--rebuild): new rows at new positions
        unit.forget_events(NCT)
        unit.file_events([row(3, "2026-12-03T09:00:00Z")])
    [again] = store.query_events(after=2)
    assert again.headline == "headline 3" and again.position == 3
    assert [r.position for r in store.query_events(after=0, limit=1)] == [3]
    assert [r.headline for r in store.query_events(seen_since="2026-12-03")] == ["headline 3"]
