"""Every change as data (issue 32): `trialwatch export` writes the event rows by day, the trials'
state, the stored versions and the tombstones as Parquet or JSON Lines with a manifest; DuckDB
and pyarrow read them as they are and find exactly what the store holds, typed; a second export
writes again only the days that changed. On both stores."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import cli, edited
from tests.registry_server import Registry, serve
from trialwatch.store.open import open_store

pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def watched(her2: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> Iterator[Registry]:
    """A trial checked over three registry days: two status changes stored."""
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT06224738"]\n',
            encoding="utf-8",
        )
        assert cli(capsys, "check", "-q")[0] == 0
        for day, status in (("26", "ACTIVE_NOT_RECRUITING"), ("27", "COMPLETED")):
            reg.put(edited(her2, lambda r, s=status: r["protocolSection"]["statusModule"].update(
                overallStatus=s)))  # fmt: skip
            reg.data_timestamp = f"2026-11-{day}T09:00:00"
            assert cli(capsys, "check", "-q")[0] == 1
        yield reg


def _store_rows() -> list[Any]:
    store = open_store(stores.spec())
    try:
        return store.query_events(after=0)
    finally:
        store.close()


def test_parquet_read_by_duckdb_and_pyarrow_is_what_the_store_holds(
    watched: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb
    import pyarrow.parquet as pq

    out = tmp_path / "dataset"
    code, _, err = cli(capsys, "export", str(out))
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == "trialwatch.export/1" and manifest["format"] == "parquet"
    for f in manifest["files"]:  # every file listed, with its rows and its bytes' sha256
        data = (out / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    rows = _store_rows()
    assert manifest["cursor"] == {"from": rows[0].position, "to": rows[-1].position}
    table = pq.read_table(out / "events")  # the hive partitions read as one table
    assert table.num_rows == len(rows)
    types = {f.name: str(f.type) for f in table.schema}
    assert types["cursor"] == "int64" and types["rank"] == "int32"
    assert types["made_on"] == "date32[day]" and types["seen"].startswith("timestamp[us")
    got = duckdb.sql(
        f"SELECT cursor, nct_id, type, headline, old_json, new_json FROM "
        f"read_parquet('{out}/events/*/*.parquet', hive_partitioning = true) ORDER BY cursor"
    ).fetchall()
    assert [(g[0], g[1], g[2], g[3]) for g in got] == [
        (r.position, r.nct, r.type, r.headline) for r in rows
    ]
    status = [g for g in got if g[2] == "status_changed"]
    assert len(status) == 2 and "Completed" in status[-1][3]
    changed = [g for g in got if g[4] is not None]
    for g in changed:  # a change's old and new values as JSON
        json.loads(g[4]), json.loads(g[5])
    trials = duckdb.sql(f"SELECT nct_id, status, in_registry FROM '{out}/trials/*.parquet'")
    assert trials.fetchall() == [("NCT06224738", "COMPLETED", True)]
    versions = duckdb.sql(f"SELECT count(*) FROM '{out}/versions/*.parquet'").fetchall()
    assert versions == [(3,)]  # three snapshots
    days = duckdb.sql(
        f"SELECT DISTINCT date FROM read_parquet('{out}/events/*/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()
    stored = sorted({r.seen[:10] for r in rows})  # partitioned by the day each was stored
    assert sorted(str(d[0]) for d in days) == stored


def test_a_second_export_writes_only_the_days_that_changed(
    watched: Registry, her2: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dataset"
    assert cli(capsys, "export", str(out), "--format", "jsonl")[0] == 0
    events = sorted((out / "events").glob("date=*/part-0.jsonl"))
    stamps = {p: p.stat().st_mtime_ns for p in events}
    code, _, err = cli(capsys, "export", str(out), "--format", "jsonl")
    assert code == 0 and "0 files written" in err, err
    assert {p: p.stat().st_mtime_ns for p in events} == stamps
    lines = [json.loads(line) for p in events for line in p.read_text("utf-8").splitlines()]
    assert [line["cursor"] for line in lines] == [r.position for r in _store_rows()]


def test_parquet_without_pyarrow_says_what_to_install(
    watched: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import builtins

    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    code, _, err = cli(capsys, "export", str(tmp_path / "d"))
    assert code == 2 and "pip install 'trialwatch[export]'" in err and "jsonl" in err


def test_a_trial_that_left_the_registry_is_a_tombstone(
    watched: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    store = open_store(stores.spec())
    try:
        with store.unit(key="NCT06224738") as unit:  # what a sync's sweep files
            unit.put_state(
                "NCT06224738", {"last_outcome": "gone", "last_checked": "2026-12-01T10:00:00Z"}
            )
    finally:
        store.close()
    out = tmp_path / "dataset"
    assert cli(capsys, "export", str(out))[0] == 0
    tombstones = pq.read_table(out / "tombstones" / "part-0.parquet").to_pylist()
    assert [t["nct_id"] for t in tombstones] == ["NCT06224738"]
    assert str(tombstones[0]["gone_since"]).startswith("2026-12-01 10:00:00")
    [trial] = pq.read_table(out / "trials" / "part-0.parquet").to_pylist()
    assert trial["in_registry"] is False


def test_a_row_whose_day_is_damaged_never_becomes_a_path(tmp_path: Path) -> None:
    from trialwatch.export.dataset import export
    from trialwatch.store.events import Row

    store = open_store("memory:")
    with store.unit() as unit:
        unit.file_events([
            Row("NCT06224738", "../../outside", None, None, "x.json", "event", "status_changed",
                "status", "damaged", 100, {}),
            Row("NCT06224738", "2026-12-07T06:00:00Z", None, None, "y.json", "event",
                "status_changed", "status", "fine", 100, {}),
        ])  # fmt: skip
    done = export(store, tmp_path / "dataset", "jsonl")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jsonl"))
    assert "dataset/events/date=unknown/part-0.jsonl" in written
    assert "dataset/events/date=2026-12-07/part-0.jsonl" in written
    assert all(p.startswith("dataset/") for p in written) and done.rows == 2
    assert not (tmp_path.parent / "outside").exists()
