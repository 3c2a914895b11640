"""Changes and events as rows (issue 19, 2): every step a check stores files its events and
changes in the store's state; `trialwatch events` reads them with filters, in text, JSON and CSV;
one SQL query answers the same; a store from before 0.5 is filed with --rebuild."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import cli, edited, load
from tests.registry_server import Registry, serve

pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def watch(capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Registry, list[dict[str, Any]]]]:
    records = [load("NCT03064438.json"), load("NCT06224738.reconstructed.json")]
    reg = Registry()
    for r in records:
        reg.put(r)
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT03064438", "NCT06224738"]\n',
            encoding="utf-8",
        )
        assert cli(capsys, "check", "-q")[0] == 0
        # A sponsor update: the trial is terminated (submitted 2026-11-20) …
        reg.put(
            edited(
                records[0],
                lambda r: r["protocolSection"]["statusModule"].update(
                    overallStatus="TERMINATED",
                    whyStopped='=HYPERLINK("https://evil.test")',
                    lastUpdateSubmitDate="2026-11-20",
                ),
            )
        )
        reg.data_timestamp = "2026-11-21T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1
        # … and the other's primary completion slips (submitted 2026-11-27).
        reg.put(
            edited(
                records[1],
                lambda r: r["protocolSection"]["statusModule"].update(
                    primaryCompletionDateStruct={"date": "2027-09-01", "type": "ESTIMATED"},
                    lastUpdateSubmitDate="2026-11-27",
                ),
            )
        )
        reg.data_timestamp = "2026-11-28T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1
        yield reg, records


def test_every_stored_change_is_a_row_a_command_reads(
    watch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "events")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("2026-11-20  NCT03064438  Overall status Completed → Terminated")
    assert any(
        line.startswith("2026-11-27  NCT06224738  Primary completion slipped") for line in lines
    )
    code, out, _ = cli(capsys, "events", "--since", "2026-11-25", "--format", "json")
    doc = json.loads(out)
    assert doc["schema"] == "trialwatch.events/1"
    assert {e["nct_id"] for e in doc["events"]} == {"NCT06224738"}
    kinds = {e["type"] for e in doc["events"]}
    assert "date_after_the_fact" in kinds or "date_moved" in kinds
    event = next(e for e in doc["events"] if e["kind"] == "event")
    assert event["body"]["changes_json"], "an event row carries its changes"
    code, out, _ = cli(capsys, "events", "--type", "status_changed", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["nct_id"] for r in rows] == ["NCT03064438"]
    assert rows[0]["category"] == "status" and rows[0]["date"] == "2026-11-20"
    code, out, _ = cli(capsys, "events", "--trial", "nct6224738", "--category", "dates")
    assert out.count("\n") >= 1 and "NCT03064438" not in out
    code, out, _ = cli(capsys, "events", "--type", "outcome_replaced")
    assert code == 0 and out.startswith("No stored change matches")


def test_csv_cells_are_never_formulas() -> None:
    from trialwatch.sanitize import spreadsheet_cell

    assert (
        spreadsheet_cell('=HYPERLINK("https://evil.test")') == '\'=HYPERLINK("https://evil.test")'
    )
    assert spreadsheet_cell("+1 site") == "'+1 site" and spreadsheet_cell("a\nb") == "a b"


def test_one_sql_query_answers_the_same(watch: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The documented query (docs/commands.md, `trialwatch events`), run as written against the
    store's state."""
    page = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
    section = page.read_text(encoding="utf-8")
    section = section[section.index("## `trialwatch events`") :]
    if stores.on_database():  # the second query, in PostgreSQL's words
        section = section[section.index("In a PostgreSQL store") :]
    start = section.index("```sql\n") + 7
    query = section[start : section.index("```", start)]
    found = stores.sql(query.strip().rstrip(";"), ("2026-11-01",))
    assert [row[1] for row in found] == ["NCT06224738"]


def test_a_store_from_before_is_filed_with_rebuild(
    watch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ((before,),) = stores.sql("SELECT count(*) FROM events")
    # A folder store of 0.4 has no table; a database's schema always has one, but empty.
    stores.sql("DELETE FROM events" if stores.on_database() else "DROP TABLE events")
    assert before >= 2
    code, out, _ = cli(capsys, "events")
    assert code == 0 and out.startswith("No stored change matches")
    code, out, _ = cli(capsys, "events", "--rebuild")
    assert code == 0 and "Overall status Completed → Terminated" in out
    assert stores.sql("SELECT count(*) FROM events") == [(before,)]
    assert cli(capsys, "events", "--rebuild")[1] == out  # filed once, however often rebuilt


@pytest.mark.folder_only
def test_a_step_a_killed_run_stored_is_filed_by_the_next_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder store writes a changed record's file inside the state's transaction: a run
    killed between the two leaves the file and nothing else. The next run files its rows (and
    reports it: the pending file was written first)."""
    from trialwatch.record import Fetched, utc_now
    from trialwatch.store.folder import SnapshotStore

    record = load("NCT03064438.json")
    reg = Registry()
    reg.put(record)
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT03064438"]\n',
            encoding="utf-8",
        )
        assert cli(capsys, "check", "-q")[0] == 0
        changed = edited(
            record,
            lambda r: r["protocolSection"]["statusModule"].update(overallStatus="TERMINATED"),
        )
        store = SnapshotStore(Path("snapshots"))
        store.pending.put("NCT03064438", "", {"stdout": stores.snapshot_names("NCT03064438")[0]})
        store.save(Fetched("NCT03064438", changed, url, utc_now(), "NCT03064438"))  # then killed
        reg.put(changed)
        code, out, _ = cli(capsys, "check")
        assert code == 1 and "Overall status Completed → Terminated" in out
        code, out, _ = cli(capsys, "events", "--trial", "NCT03064438")
        assert out.count("Overall status Completed → Terminated") == 1
