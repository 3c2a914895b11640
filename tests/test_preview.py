"""check --dry-run shows what every output would get and changes nothing; --explain-ignore and
--no-batch do on check what they say (issue 23)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import cli, edited, load
from tests.registry_server import Registry, serve
from tests.smtp_server import Mailbox, smtp_server
from tests.test_faults import mail_text, nct, status, write_config

pytestmark = pytest.mark.usefixtures("each_store")

pytest.importorskip("apprise")


@pytest.fixture
def api() -> Iterator[tuple[Registry, str, list[dict[str, Any]]]]:
    records = [load("NCT03064438.json"), load("NCT04207047.json")]
    reg = Registry()
    for r in records:
        reg.put(r)
    with serve(reg) as url:
        yield reg, url, records


def fingerprint(store: Path) -> dict[str, str]:
    """Every file of the store and what it holds (the state database by its rows); a
    database store by every row of every table."""
    if stores.on_database():
        tables = [t for (t,) in stores.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )]  # fmt: skip
        assert "snapshots" in tables and "pending" in tables
        return {
            t: hashlib.sha256(
                repr(stores.sql(f"SELECT * FROM {t} ORDER BY 1")).encode()
            ).hexdigest()
            for t in tables
        }
    out = {}
    for path in sorted(store.rglob("*")):
        if not path.is_file() or path.name.endswith(("-wal", "-shm")):
            continue
        rel = str(path.relative_to(store))
        if path.name == "state.db":
            with sqlite3.connect(path) as db:
                rows = [
                    repr(db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                    for t in ("trials", "meta", "log")
                ]
            out[rel] = hashlib.sha256("".join(rows).encode()).hexdigest()
        elif "runs" not in path.parts:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_dry_run_shows_every_output_and_changes_nothing(
    api: tuple[Registry, str, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url, records = api
    box = Mailbox()
    with smtp_server(box) as port:
        write_config(url, [nct(r) for r in records], port)
        hook = 'notify = [{ url = "json://127.0.0.1:9/hook", only = ["enrollment"] }]\n'
        config = Path("trialwatch.toml")
        config.write_text(hook + config.read_text(encoding="utf-8"), encoding="utf-8")
        assert cli(capsys, "check", "-q")[0] == 0
        reg.put(status(records[0], "TERMINATED"))
        reg.data_timestamp = "2026-11-26T09:00:00"
        before = fingerprint(Path("snapshots"))
        code, out, err = cli(capsys, "check", "--dry-run")
        assert code == 1, err
        assert "dry run: nothing is stored and nothing is sent" in err
        assert "Overall status Completed → Terminated" in out  # stdout's report
        mail = out.index("── mail to watcher@example.org would get: [trialwatch] NCT03064438")
        assert "Overall status Completed → Terminated" in out[mail:]
        # The channel wants enrollment only: nothing for it.
        assert "notification to json://127.0.0.1:9: nothing would be sent" in out
        assert box.messages == []
        assert fingerprint(Path("snapshots")) == before
        assert not list(Path("snapshots/.trialwatch").glob("preview-*"))
        # JSON on stdout stays one document; the previews go to stderr.
        code, out, err = cli(capsys, "check", "--dry-run", "--format", "json")
        assert code == 1 and out.lstrip().startswith("{") and "would get" in err
        # The real run still has everything to say, and says it once.
        code, out, err = cli(capsys, "check")
        assert "Overall status Completed → Terminated" in out
        assert len(box.messages) == 1 and "→ Terminated" in mail_text(box)


def test_explain_ignore_on_check(
    api: tuple[Registry, str, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url, records = api
    write_config(url, [nct(r) for r in records])
    assert cli(capsys, "check", "-q")[0] == 0

    def edit(r: dict[str, Any]) -> None:
        r["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
        r["protocolSection"]["descriptionModule"]["briefSummary"] += " Sponsor rewrote this."

    reg.put(edited(records[0], edit))
    reg.data_timestamp = "2026-11-26T09:00:00"
    code, out, err = cli(
        capsys,
        "check",
        "--explain-ignore",
        "--ignore",
        "descriptionModule.briefSummary",
        "--ignore",
        "colour",
    )
    assert code == 1, err
    assert "NCT03064438:" in err and "Ignore rules:" in err
    assert "'descriptionModule.briefSummary' hides 1 change" in err
    assert "'colour' hides nothing: 'colour' is no field" in err
    assert "Brief summary" not in out and "→ Terminated" in out  # hidden from the report


def test_no_batch_asks_for_each_trial_of_a_watch_list(
    api: tuple[Registry, str, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url, records = api
    write_config(url, [nct(r) for r in records])
    reg.requests.clear()
    assert cli(capsys, "check", "-q", "--no-batch")[0] == 0
    studies = [r for r in reg.requests if "/studies" in r]
    assert sorted(r.split("?")[0].rsplit("/", 1)[-1] for r in studies) == sorted(
        nct(r) for r in records
    )
    reg.requests.clear()
    assert cli(capsys, "check", "-q", "--force")[0] == 0  # batched by default
    assert any("filter.ids" in r for r in reg.requests)
