"""Search watches (new, updated and departed trials) and two-phase checks of long lists, against
the stand-in registry: membership per query, fields= projections, filter.advanced date ranges,
pages that end with an empty one, a data refresh between pages, and an edit the registry made
without a new last-update date."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.conftest import all_records, cli, edited, renumbered
from tests.registry_server import Registry, query_key, serve
from trialwatch.config import load_settings
from trialwatch.errors import InputError
from trialwatch.search.query import from_args, from_url
from trialwatch.store.watchlist import load_queries

pytestmark = pytest.mark.usefixtures("each_store")

ASTHMA = {"query.cond": "asthma"}


def with_id(record: dict[str, Any], n: int) -> dict[str, Any]:
    """A real record under another id (for lists larger than the samples)."""
    return renumbered(record, f"NCT{60000000 + n:08d}")


def nct(n: int) -> str:
    return f"NCT{60000000 + n:08d}"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    reg = Registry()
    base = all_records()
    for i in range(60):
        reg.put(with_id(base[i % len(base)], i))
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        monkeypatch.setenv("TRIALWATCH_BACKOFF_BASE", "0.01")
        yield reg


def refresh(reg: Registry, stamp: str) -> None:
    reg.data_timestamp = stamp


def set_status(reg: Registry, n: int, status: str) -> None:
    reg.put(
        edited(
            reg.studies[nct(n)],
            lambda r: r["protocolSection"]["statusModule"].update(overallStatus=status),
        )
    )


# --- queries -----------------------------------------------------------------------------------


def test_query_from_arguments_and_urls() -> None:
    q = from_args(["cond=gastric cancer", "intr=CAR-T"], "CAR in gastric")
    assert q.as_params() == {"query.cond": "gastric cancer", "query.intr": "CAR-T"}
    assert q.id == from_args(["intr=CAR-T", "cond=gastric cancer"]).id  # order does not matter
    site = from_url(
        "https://clinicaltrials.gov/search?cond=Asthma&aggFilters=status:rec&"
        "lastUpdPost=2024-01-01_&country=United%20States"
    )
    assert site.as_params() == {
        "aggFilters": "status:rec",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]",
        "query.cond": "Asthma",
        "query.locn": "United States",
    }
    near = from_url("https://clinicaltrials.gov/search?cond=asthma&lat=40.7&lng=-74&distance=50")
    assert near.as_params()["filter.geo"] == "distance(40.7,-74,50mi)"
    api = from_url(
        "https://clinicaltrials.gov/api/v2/studies?query.term=AREA[StartDate]2022&pageSize=5"
        "&filter.overallStatus=RECRUITING"
    )
    assert api.as_params() == {
        "filter.overallStatus": "RECRUITING",
        "query.term": "AREA[StartDate]2022",
    }
    with pytest.raises(InputError, match="unknown search parameter 'colour'"):
        from_args(["colour=blue"])
    with pytest.raises(InputError, match="name=value"):
        from_args(["asthma"])
    with pytest.raises(InputError, match="date range"):
        from_url("https://clinicaltrials.gov/search?cond=a&firstPost=last-week")


def test_watch_add_list_and_remove_a_query(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "Asthma")
    assert code == 0 and "watching the search 'Asthma' (condition “asthma”" in err
    code, _, err = cli(capsys, "watch", "add", "--query", "cond=asthma")
    assert code == 2 and "already watched, as 'Asthma'" in err
    code, out, _ = cli(capsys, "watch", "list")
    assert code == 0 and "Asthma" in out and "not checked yet" in out
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    assert json.loads(out)[0]["params"] == ASTHMA
    # Kept where the watch list lives: the file, or on PostgreSQL the store.
    (kept,) = load_queries(load_settings().watchlist)
    assert kept.as_params() == ASTHMA and kept.label == "Asthma"
    code, _, err = cli(capsys, "watch", "remove", "--query", "Asthma")
    assert code == 0 and "no longer watching the search 'Asthma'" in err
    code, _, err = cli(capsys, "watch", "remove", "--query", "Asthma")
    assert code == 2 and "no watched query" in err


def test_a_query_reports_new_updated_and_departed_trials(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.queries[query_key(ASTHMA)] = [nct(i) for i in range(10)]
    cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "Asthma")
    code, out, err = cli(capsys, "check", "--format", "text")
    assert code == 0, err
    assert "Search “Asthma”: 10 matching trials" in out and "first check" in out
    (query,) = load_queries(load_settings().watchlist)
    assert stores.query_members(query.id) == {nct(i) for i in range(10)}
    assert all(stores.snapshot_names(nct(i)) for i in range(10))
    # A trial joins the search, one is completed and leaves it, one member is updated.
    registry.queries[query_key(ASTHMA)] = [nct(i) for i in range(1, 11)]
    set_status(registry, 0, "COMPLETED")
    set_status(registry, 4, "SUSPENDED")
    refresh(registry, "2026-11-26T09:00:00")
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    q = data["queries"][0]
    assert q["label"] == "Asthma" and q["matches"] == 10 and not q["baseline"]
    assert [m["nct_id"] for m in q["new"]] == [nct(10)]
    new = q["new"][0]
    assert new["title"] and new["status"] and new["first_posted"]
    assert [m["nct_id"] for m in q["left"]] == [nct(0)]
    assert "its record changed: Overall status" in q["left"][0]["why"]
    assert "Completed" in q["left"][0]["why"]
    assert "removed" not in json.dumps(q["left"])  # left the search, not the registry
    assert q["updated"] == [nct(4)]
    updated = next(t for t in data["trials"] if t["nct_id"] == nct(4))
    assert any("Suspended" in e["headline"] for e in updated["events"])
    # Told once: the next check has nothing to say.
    refresh(registry, "2026-11-27T09:00:00")
    code, out, _ = cli(capsys, "check", "--format", "text")
    assert code == 0 and "no new, updated or departed trials" in out


@pytest.mark.parametrize("fmt", ["markdown", "html", "text"])
def test_query_news_in_markdown_html_and_text(
    registry: Registry, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    registry.queries[query_key(ASTHMA)] = [nct(i) for i in range(3)]
    cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "<b>Asthma</b> | x")
    cli(capsys, "check")
    hostile = edited(
        registry.studies[nct(5)],
        lambda r: r["protocolSection"]["identificationModule"].update(
            briefTitle="<script>x</script> | [link](http://e.x)"
        ),
    )
    registry.put(hostile)
    registry.queries[query_key(ASTHMA)] = [nct(i) for i in range(3)] + [nct(5)]
    refresh(registry, "2026-11-26T09:00:00")
    code, out, _ = cli(capsys, "check", "--format", fmt)
    assert code == 1
    assert "<script>" not in out or fmt == "text"
    if fmt == "markdown":
        assert "| Trial | Title | Phase | Status | Sponsor | First posted |" in out
        assert f"[{nct(5)}](https://clinicaltrials.gov/study/{nct(5)})" in out
        assert "\\<b\\>Asthma\\</b\\> \\| x" in out
        assert "\\<script\\>" in out
    elif fmt == "html":
        assert "&lt;script&gt;" in out and "&lt;b&gt;Asthma" in out
    else:  # plain text is text: nothing to escape but control characters
        assert f"New (1)\n    • {nct(5)} — <script>x</script>" in out


def test_fail_on_new(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.queries[query_key(ASTHMA)] = [nct(0)]
    cli(capsys, "watch", "add", "--query", "cond=asthma")
    cli(capsys, "check")
    registry.queries[query_key(ASTHMA)] = [nct(0), nct(1)]
    refresh(registry, "2026-11-26T09:00:00")
    assert cli(capsys, "check", "--fail-on", "status")[0] == 0  # a gain, not a status change
    registry.queries[query_key(ASTHMA)] = [nct(0), nct(1), nct(2)]
    refresh(registry, "2026-11-27T09:00:00")
    assert cli(capsys, "check", "--fail-on", "new")[0] == 1
    registry.queries[query_key(ASTHMA)] = [nct(0), nct(1)]
    refresh(registry, "2026-11-28T09:00:00")
    assert cli(capsys, "check", "--fail-on", "new")[0] == 0  # a departure only
    assert cli(capsys, "check", "--fail-on", "colour")[0] == 2


def test_a_trial_gone_from_the_registry_left_the_search(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.queries[query_key(ASTHMA)] = [nct(0), nct(1)]
    cli(capsys, "watch", "add", "--query", "cond=asthma")
    cli(capsys, "check")
    del registry.studies[nct(1)]
    refresh(registry, "2026-11-26T09:00:00")
    code, out, _ = cli(capsys, "check", "--format", "json")
    assert code == 1
    left = json.loads(out)["queries"][0]["left"]
    assert left[0]["nct_id"] == nct(1) and left[0]["why"] == "not found in the registry any more"


def test_a_query_too_large_is_refused_before_anything_is_stored(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.queries[query_key(ASTHMA)] = [nct(i) for i in range(12)]
    Path("trialwatch.toml").write_text("max_query_results = 10\n", encoding="utf-8")
    cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "Asthma")
    code, out, _ = cli(capsys, "check")
    assert code == 2
    assert "matches 12 trials, more than the 10 a watch may hold" in out
    assert "nothing was stored. Narrow it: add a condition" in out
    assert not Path("snapshots/queries").exists()
    assert not stores.trials()
    assert "countTotal=true" in registry.requests[1]


def test_a_data_refresh_between_pages_reads_the_query_again(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 members: a full first page, then the API's empty last page; the registry's data
    is refreshed while the first page is served, and a trial joins."""
    base = all_records()
    for i in range(60, 1001):
        registry.put(with_id(base[i % len(base)], i))
    key = query_key(ASTHMA)
    registry.queries[key] = [nct(i) for i in range(1000)]
    cli(capsys, "watch", "add", "--query", "cond=asthma")
    assert cli(capsys, "check", "-q")[0] == 0
    refreshed = []

    def on_page(page: int, query: str) -> None:
        if page == 0 and not refreshed:
            refreshed.append(page)
            registry.queries[key] = [nct(i) for i in range(1, 1001)]
            registry.data_timestamp = "2026-11-26T10:00:00"

    registry.on_page = on_page
    registry.data_timestamp = "2026-11-26T09:00:00"
    registry.requests.clear()
    code, out, err = cli(capsys, "check", "--format", "json")
    assert code == 1, err
    q = json.loads(out)["queries"][0]
    assert [m["nct_id"] for m in q["new"]] == [nct(1000)]
    assert [m["nct_id"] for m in q["left"]] == [nct(0)]
    assert "read again" in err
    searches = [r for r in registry.requests if "query.cond" in r]
    assert len(searches) == 4  # two passes of a full page and the empty page after it
    assert all("fields=NCTId" in r for r in searches)


# --- two-phase checks of a list of ids -----------------------------------------------------------


def write_list(n: int, extra: str = "") -> None:
    entries = "\n".join(f'  "{nct(i)}",' for i in range(n))
    Path("trialwatch.toml").write_text(f"{extra}trials = [\n{entries}\n]\n", encoding="utf-8")


def test_an_unchanged_list_moves_only_dates(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    write_list(60)
    assert cli(capsys, "check", "-q")[0] == 0
    refresh(registry, "2026-11-26T09:00:00")
    registry.requests.clear()
    before = registry.bytes_served
    code, _, err = cli(capsys, "check")
    assert code == 0, err
    assert registry.requests[0] == "/api/v2/version"
    assert len(registry.requests) == 2  # /version and one page of 60 dates
    assert "fields=NCTId%2CLastUpdatePostDate" in registry.requests[1]
    assert registry.bytes_served - before < 60 * 200  # about a hundred bytes a trial
    assert "60 trials: 0 changed, 0 new, 60 unchanged" in err


def test_only_trials_whose_date_moved_are_fetched(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    write_list(60)
    cli(capsys, "check", "-q")
    set_status(registry, 7, "TERMINATED")  # a sponsor update: a new last-update date
    refresh(registry, "2026-11-26T09:00:00")
    registry.requests.clear()
    code, out, _ = cli(capsys, "check", "--format", "json")
    assert code == 1
    changed = [t["nct_id"] for t in json.loads(out)["trials"] if t["outcome"] == "changed"]
    assert changed == [nct(7)]
    full = [r for r in registry.requests if "fields=" not in r and "/studies" in r]
    assert len(full) == 1 and nct(7) in full[0] and nct(6) not in full[0]


def test_an_edit_without_a_new_date_is_caught_by_the_full_recheck(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    write_list(20)
    cli(capsys, "check", "-q")
    # The registry edits a record itself (a QC correction), leaving the last-update date.
    registry.put(
        edited(
            registry.studies[nct(3)],
            lambda r: r["protocolSection"]["statusModule"].update(overallStatus="WITHDRAWN"),
        ),
        posted=False,
    )
    refresh(registry, "2026-11-26T09:00:00")
    code, out, _ = cli(capsys, "check")
    assert code == 0 and "Withdrawn" not in out  # two-phase cannot see it…
    code, out, _ = cli(capsys, "check", "--full")
    assert code == 1 and "Withdrawn" in out  # …the full re-check does
    # full_check_days = 0: every run is a full check.
    write_list(20, "full_check_days = 0\n")
    registry.put(
        edited(
            registry.studies[nct(4)],
            lambda r: r["protocolSection"]["statusModule"].update(overallStatus="WITHDRAWN"),
        ),
        posted=False,
    )
    refresh(registry, "2026-11-27T09:00:00")
    code, out, err = cli(capsys, "check")
    assert code == 1 and nct(4) in out, (out, err, registry.requests[-3:])


def test_the_weekly_full_recheck_comes_due(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    write_list(5)
    cli(capsys, "check", "-q")
    ((value,),) = stores.sql("SELECT value FROM meta WHERE key = 'run'")
    run_state = json.loads(value)
    last = dt.datetime.fromisoformat(run_state["last_full_check"].replace("Z", "+00:00"))
    run_state["last_full_check"] = (last - dt.timedelta(days=8)).isoformat()
    stores.sql("UPDATE meta SET value = ? WHERE key = 'run'", (json.dumps(run_state),))
    refresh(registry, "2026-11-26T09:00:00")
    registry.requests.clear()
    cli(capsys, "check", "-q")
    assert not any("fields=" in r for r in registry.requests)  # every whole record instead


def test_ids_the_dates_did_not_return_are_told_apart_one_by_one(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    write_list(10)
    cli(capsys, "check", "-q")
    del registry.studies[nct(2)]
    moved = with_id(registry.studies[nct(3)], 500)
    moved["protocolSection"]["identificationModule"]["nctIdAliases"] = [nct(3)]
    del registry.studies[nct(3)]
    registry.put(moved)
    refresh(registry, "2026-11-26T09:00:00")
    registry.requests.clear()
    code, out, err = cli(capsys, "check")
    assert code == 2
    assert f"{nct(2)} is not in the registry" in err
    assert f"{nct(3)} is now {nct(500)}" in out


def test_query_news_a_mail_missed_goes_in_the_next_digest(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.smtp_server import Mailbox, free_port, smtp_server

    port = free_port()
    Path("trialwatch.toml").write_text(
        '[email]\nenabled = true\nto = ["w@example.org"]\nfrom = "t@example.org"\n'
        f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 5\n',
        encoding="utf-8",
    )
    registry.queries[query_key(ASTHMA)] = [nct(0)]
    cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "Asthma")
    box = Mailbox()
    with smtp_server(box, port):
        assert cli(capsys, "check", "-q")[0] == 0
    assert box.messages == []  # the first check of a search is its baseline
    registry.queries[query_key(ASTHMA)] = [nct(0), nct(1)]
    refresh(registry, "2026-11-26T09:00:00")
    code, out, err = cli(capsys, "check", "-q")  # the mail server is down
    assert code == 2 and nct(1) in out and "kept and will be in the next run's digest" in err
    with smtp_server(box, port):
        refresh(registry, "2026-11-27T09:00:00")
        code, out, _ = cli(capsys, "check", "-q")
        assert code == 0 and out == ""  # the terminal was told already
        assert len(box.messages) == 1
        assert box.messages[0]["Subject"] == "[trialwatch] searches: 1 new"
        text = box.messages[0].get_body(preferencelist=("plain",)).get_content()
        assert f"New (1)\n    • {nct(1)}" in text.replace("\r\n", "\n")
        refresh(registry, "2026-11-28T09:00:00")
        cli(capsys, "check", "-q")
        assert len(box.messages) == 1  # mailed once


def test_a_whole_record_run_counts_as_the_full_recheck(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switching two_phase off for a run and on again does not make every later run fetch
    every record (the whole-record run was a full check)."""
    write_list(20)
    cli(capsys, "check", "-q")
    monkeypatch.setenv("TRIALWATCH_TWO_PHASE", "false")
    refresh(registry, "2026-11-26T09:00:00")
    cli(capsys, "check", "-q")
    monkeypatch.delenv("TRIALWATCH_TWO_PHASE")
    refresh(registry, "2026-11-27T09:00:00")
    registry.requests.clear()
    cli(capsys, "check", "-q")
    assert len(registry.requests) == 2 and "fields=" in registry.requests[1]
