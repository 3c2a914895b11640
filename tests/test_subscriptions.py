"""Subscriptions: a slice of the registry with its own rule, people and pace. The rule language
(errors name the field and column), severity, slices over real records, and end to end on the
folder and on PostgreSQL: a stand-in registry serving real records edited realistically (Bayer's
enrollment cut by 30% and by 5%, a status change in gastric cancer, one in another condition),
a real SMTP server and a webhook for two subscriptions — each gets exactly what its slice and
rule say, once, also across a kill -9 between finding and delivering."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, cli, edited, load
from tests.registry_server import Registry, serve
from tests.smtp_server import Mailbox, free_port, smtp_server
from trialwatch.changes.differ import compare
from trialwatch.errors import ConfigError
from trialwatch.store import events
from trialwatch.subscriptions.model import parse
from trialwatch.subscriptions.rules import compile_rule
from trialwatch.subscriptions.severity import Severity, severity
from trialwatch.subscriptions.slice import facets, holds

BAYER_CUT, BAYER_TRIM, GASTRIC, OTHER = "NCT05915728", "NCT05915702", "NCT06224738", "NCT03934567"


def _bayer(nct: str) -> dict[str, Any]:
    for study in json.loads((FIXTURES / "download-ctg-studies-2023-06-28.json").read_text()):
        if study["protocolSection"]["identificationModule"]["nctId"] == nct:
            assert isinstance(study, dict)
            return study
    raise AssertionError(nct)


def population() -> dict[str, dict[str, Any]]:
    """Real records: two of Bayer's (the 2023 download), the HER2 gastric cancer trial
    (NCT06224738, reconstructed), and Xynomic's NCT03934567 (another condition)."""
    return {
        BAYER_CUT: _bayer(BAYER_CUT),
        BAYER_TRIM: _bayer(BAYER_TRIM),
        GASTRIC: load("NCT06224738.reconstructed.json"),
        OTHER: load("NCT03934567.json"),
    }


def _enrollment(count: int) -> Any:
    def edit(r: dict[str, Any]) -> None:
        r["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = count

    return edit


def _status(value: str) -> Any:
    def edit(r: dict[str, Any]) -> None:
        r["protocolSection"]["statusModule"]["overallStatus"] = value

    return edit


def edits(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A week of sponsor updates: Bayer cuts one trial's enrollment by 30% (390 → 273) and
    trims another's by 5% (295 → 280); the gastric cancer trial starts recruiting; Xynomic's
    trial completes."""
    return {
        BAYER_CUT: edited(records[BAYER_CUT], _enrollment(273)),
        BAYER_TRIM: edited(records[BAYER_TRIM], _enrollment(280)),
        GASTRIC: edited(records[GASTRIC], _status("RECRUITING")),
        OTHER: edited(records[OTHER], _status("COMPLETED")),
    }


RULE = 'type == "enrollment_changed" and change_pct <= -20 or type == "status_changed"'


# --- the rule language ---------------------------------------------------------------------------


def test_rules_read_as_the_issue_writes_them() -> None:
    rule = compile_rule(RULE, "acme")
    assert rule({"type": "enrollment_changed", "change_pct": -31})
    assert not rule({"type": "enrollment_changed", "change_pct": -5})
    assert rule({"type": "status_changed", "change_pct": None})
    assert not rule({"type": "date_moved", "change_pct": None})
    both = compile_rule('"after_the_fact" in flags and new in ["TERMINATED", "WITHDRAWN"]', "x")
    assert both({"flags": ["after_the_fact"], "new": "TERMINATED"})
    assert not both({"flags": [], "new": "TERMINATED"})
    # A field the event does not have compares false, never an error.
    assert not compile_rule("days > 90 or days < -90", "x")({"days": None})
    assert compile_rule("not days > -90", "x")({"days": -120})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('type = "status_changed"', "column 6"),
        ("chnage_pct <= -20", "unknown field 'chnage_pct'"),
        ('__import__("os").system("true")', "a rule calls no function"),
        ("type.lower() == 'x'", "a rule calls no function"),
        ('type == "x" and', "does not read"),
        ("sponsor == 'Acme' or severity == unknown_thing", "column 34"),
    ],
)
def test_a_bad_rule_names_the_position_and_the_field(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as found:
        compile_rule(text, 'subscription "acme"')
    assert said in str(found.value) and 'subscription "acme"' in str(found.value)


def test_severity_says_why() -> None:
    old = _bayer(BAYER_CUT)
    cut = compare(BAYER_CUT, old, edited(old, _enrollment(273)))
    (event,) = [e for e in cut.events if e.type.value == "enrollment_changed"]
    level, reason = severity("event", event.type.value, event.to_json())
    assert (level, reason) == (Severity.HIGH, "enrollment cut by 30%")
    trim = compare(BAYER_TRIM, _bayer(BAYER_TRIM), edited(_bayer(BAYER_TRIM), _enrollment(280)))
    (event,) = [e for e in trim.events if e.type.value == "enrollment_changed"]
    assert severity("event", event.type.value, event.to_json())[0] is Severity.MEDIUM
    ended = compare(OTHER, load("NCT03934567.json"), edited(load("NCT03934567.json"),
                                                             _status("TERMINATED")))  # fmt: skip
    (event,) = [e for e in ended.events if e.type.value == "status_changed"]
    assert severity("event", "status_changed", event.to_json()) == (
        Severity.HIGH,
        "a status that ends or stops the trial",
    )


def test_slices_match_whole_words_of_real_records() -> None:
    gastric = load("NCT06224738.reconstructed.json")
    assert facets(gastric).condition == ["Gastric Cancer"]
    sub = parse({"name": "g", "condition": "gastric cancer"}, "t")
    assert holds(sub, GASTRIC, gastric, None)
    assert not holds(sub, BAYER_CUT, _bayer(BAYER_CUT), None)
    # Collaborators count as sponsors; phases and statuses in any spelling.
    assert holds(parse({"name": "m", "sponsor": "macera"}, "t"), GASTRIC, gastric, None)
    bayer = parse({"name": "b", "sponsor": "Bayer", "phase": "Phase 3", "status": "not yet "
                   "recruiting"}, "t")  # fmt: skip
    assert holds(bayer, BAYER_CUT, _bayer(BAYER_CUT), None)
    assert not holds(
        parse({"name": "b", "sponsor": "Bay"}, "t"), BAYER_CUT, _bayer(BAYER_CUT), None
    )
    # A named trial or a search's member is held whatever its fields.
    named = parse({"name": "r", "trials": [OTHER], "sponsor": "Bayer"}, "t")
    assert holds(named, OTHER, load("NCT03934567.json"), None)


def test_a_broken_subscription_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="name of lower-case"):
        parse({"name": "Acme Trials"}, "trialwatch.toml")
    with pytest.raises(ConfigError, match="every must be run, day or week"):
        parse({"name": "a", "every": "hour"}, "trialwatch.toml")
    with pytest.raises(ConfigError, match="neither a mail address nor a URL"):
        parse({"name": "a", "notify": ["acme"]}, "trialwatch.toml")
    with pytest.raises(ConfigError, match="unknown key"):
        parse({"name": "a", "sponser": "Acme"}, "trialwatch.toml")


# --- end to end ---------------------------------------------------------------------------------


@contextmanager
def webhook(received: list[dict[str, Any]]) -> Iterator[str]:
    """test_notify's webhook (keeps each JSON body), on a free port."""
    from tests.test_notify import webhook as on_port

    with on_port(free_port(), received) as url:
        yield url


def write_config(url: str, smtp_port: int, hook: str, extra: str = "") -> None:
    ids = ", ".join(f'"{n}"' for n in population())
    Path("trialwatch.toml").write_text(
        f'api_url = "{url}"\nrequest_interval = 0\nbackoff_base = 0.01\ntrials = [{ids}]\n'
        f"{extra}\n"
        '[email]\nto = ["office@example.org"]\nfrom = "trialwatch@example.org"\n'
        f'host = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 5\n\n'
        '[[subscription]]\nname = "bayer"\ntitle = "Bayer\'s trials"\nsponsor = "Bayer"\n'
        f"when = '{RULE}'\n"
        'notify = ["mailto:ci@example.org"]\n\n'
        '[[subscription]]\nname = "gastric"\ncondition = "gastric cancer"\n'
        f'notify = ["{hook}"]\n',
        encoding="utf-8",
    )


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    for record in population().values():
        reg.put(record)
    with serve(reg) as url:
        yield reg, url


@pytest.mark.usefixtures("each_store")
def test_each_subscription_gets_what_its_slice_and_rule_say_once(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("apprise")
    reg, url = registry
    box, hooked = Mailbox(), []  # type: list[dict[str, Any]]
    with smtp_server(box) as port, webhook(hooked) as hook:
        write_config(url, port, hook)
        code, _, err = cli(capsys, "check", "-q")
        assert code == 0, err
        assert box.messages == [] and hooked == []  # baselines are no news
        for record in edits(population()).values():
            reg.put(record)
        reg.data_timestamp = "2026-12-01T09:00:00"  # the registry's data moved on
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
        # Bayer's subscription: the 30% cut only (its rule); not the 5% trim, not others.
        assert [m["To"] for m in box.messages] == ["ci@example.org"]
        mail = box.messages[0]
        assert mail["Subject"] == "[trialwatch] bayer: 1 change (1 high)"
        part = mail.get_body(preferencelist=("plain",))
        assert part is not None
        text = part.get_content()
        assert BAYER_CUT in text and BAYER_TRIM not in text and GASTRIC not in text
        assert "high: enrollment cut by 30%" in text
        assert f"told by the rule: {RULE}" in text
        # The gastric cancer subscription: its trial's status change, and nothing else.
        assert len(hooked) == 1
        assert GASTRIC in hooked[0]["message"] and OTHER not in hooked[0]["message"]
        assert "Not yet recruiting → Recruiting" in hooked[0]["message"]
        # Told once: another run, and a send, tell nothing again.
        code, _, err = cli(capsys, "check", "-q")
        assert code == 0, err
        assert cli(capsys, "subscription", "send")[0] == 0
        assert len(box.messages) == 1 and len(hooked) == 1
        code, out, _ = cli(capsys, "subscription", "show", "bayer")
        assert "holds 2 trials now" in out and "1 event in all" in out


@pytest.mark.slow
@pytest.mark.usefixtures("each_store")
def test_a_kill_between_finding_and_delivering_loses_nothing_and_repeats_nothing(
    registry: tuple[Registry, str], tmp_path: Path
) -> None:
    """The check finds the changes and stores them, then hangs on a mail server that never
    answers; it is killed with SIGKILL there. The next `subscription send` tells each
    subscription its events once."""
    pytest.importorskip("apprise")
    reg, url = registry
    box, hooked = Mailbox(), []  # type: list[dict[str, Any]]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    accepted = threading.Event()

    def hold() -> None:
        conns = []
        while True:
            try:
                conn, _ = silent.accept()
            except OSError:
                return
            conns.append(conn)  # never answered: the client waits for the greeting
            accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    try:
        with webhook(hooked) as hook:
            write_config(url, silent.getsockname()[1], hook)
            run = [sys.executable, "-m", "trialwatch", "check", "-q"]
            assert subprocess.run(run, env=env, capture_output=True).returncode == 0
            for record in edits(population()).values():
                reg.put(record)
            reg.data_timestamp = "2026-12-01T09:00:00"
            proc = subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert accepted.wait(60), "the check never reached the mail server"
            time.sleep(0.2)
            proc.kill()
            proc.wait()
            assert box.messages == [] and hooked == []
            with smtp_server(box) as port:
                write_config(url, port, hook)
                send = [sys.executable, "-m", "trialwatch", "subscription", "send"]
                done = subprocess.run(send, env=env, capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                again = subprocess.run(send, env=env, capture_output=True, text=True)
                assert again.returncode == 0, again.stderr
    finally:
        silent.close()
    assert [m["To"] for m in box.messages] == ["ci@example.org"]
    assert len(hooked) == 1 and GASTRIC in hooked[0]["message"]


def test_subscriptions_added_by_command_are_shared_through_the_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two members in different folders, one store: one set of subscriptions."""
    monkeypatch.setenv("TRIALWATCH_STORE", str(tmp_path / "shared"))
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    monkeypatch.chdir(alice)
    code, _, err = cli(capsys, "subscription", "add", "acme", "--sponsor", "Acme Oncology",
                       "--when", RULE, "--notify", "ci@example.org", "--every", "week")  # fmt: skip
    assert code == 0, err
    monkeypatch.chdir(bob)
    code, out, _ = cli(capsys, "subscription", "list", "--format", "json")
    (sub,) = json.loads(out)["subscriptions"]
    assert sub["name"] == "acme" and sub["when"] == RULE and sub["every"] == "week"
    assert sub["kept_in"] == "store"
    code, _, err = cli(capsys, "subscription", "add", "bad", "--when", "chnage_pct < 3")
    assert code == 2 and "unknown field 'chnage_pct'" in err
    assert cli(capsys, "subscription", "remove", "acme")[0] == 0
    monkeypatch.chdir(alice)
    code, out, _ = cli(capsys, "subscription", "list")
    assert "No subscriptions" in out


def test_a_day_digest_goes_out_once_a_day(tmp_path: Path) -> None:
    """every = "day": the events of the day gather into one digest; the next day's into the
    next (the outbox on a memory store, events filed from real record edits)."""
    from trialwatch.store.open import open_store
    from trialwatch.subscriptions import outbox

    store = open_store("memory:")
    sub = parse({"name": "g", "condition": "gastric cancer", "every": "day",
                 "notify": ["ops@example.org"]}, "t")  # fmt: skip
    gastric = load("NCT06224738.reconstructed.json")
    store.save(_fetched(gastric))
    sent: list[Any] = []

    def file(new: dict[str, Any]) -> None:
        old = store.latest(GASTRIC)
        assert old is not None
        found = compare(GASTRIC, old.record, new)
        store.save(_fetched(new))
        rows = events.rows_of(GASTRIC, "2026-12-07T10:00:00Z", None, old.name, "x",
                              found.changes, found.events)  # fmt: skip
        with store.unit(key=GASTRIC) as unit:
            unit.file_events(rows)

    def deliver(day: int) -> None:
        moment = dt.datetime(2026, 12, day, 12, tzinfo=dt.UTC)
        outbox.deliver(store, [sub], lambda s, t, d: sent.append(d), start=0, now=moment)

    file(edited(gastric, _status("RECRUITING")))
    deliver(7)
    file(edited(gastric, _status("SUSPENDED")))
    deliver(7)  # the same day: gathered for tomorrow
    assert [len(d.told) for d in sent] == [1]
    deliver(8)
    assert [len(d.told) for d in sent] == [1, 1]
    assert sent[1].told[0].severity is Severity.HIGH
    deliver(8)
    assert len(sent) == 2


def _fetched(record: dict[str, Any]) -> Any:
    from trialwatch.record import Fetched, utc_now

    nct = record["protocolSection"]["identificationModule"]["nctId"]
    return Fetched(nct, record, "http://127.0.0.1/test", utc_now(), nct)


def test_free_port_is_local() -> None:
    assert 0 < free_port() < 65536


@pytest.mark.slow
@pytest.mark.usefixtures("each_store")
def test_a_synced_registry_tells_its_subscriptions_changes_never_the_bootstrap(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole (stand-in) registry synced from its bulk file: no subscription hears of the
    bootstrap; the next day's sync tells each its slice's changes, by its rule."""
    pytest.importorskip("apprise")
    reg, url = registry
    box, hooked = Mailbox(), []  # type: list[dict[str, Any]]
    with smtp_server(box) as port, webhook(hooked) as hook:
        write_config(url, port, hook)
        Path("trialwatch.toml").write_text(
            Path("trialwatch.toml").read_text().replace("trials = [", "# trials = ["),
            encoding="utf-8",
        )
        code, out, err = cli(capsys, "sync", "--download")
        assert code == 0, err
        assert "4 new" in out
        assert box.messages == [] and hooked == []
        reg.data_timestamp = "2026-12-03T09:00:00"
        for record in edits(population()).values():
            reg.put(record)
        code, out, err = cli(capsys, "sync")
        assert code == 1, err
        assert len(box.messages) == 1 and BAYER_CUT in str(box.messages[0].get_body())
        assert len(hooked) == 1 and GASTRIC in hooked[0]["message"]
        assert cli(capsys, "sync")[0] == 0
        assert len(box.messages) == 1 and len(hooked) == 1


# --- the site's section of each subscription ---------------------------------------------------


@pytest.mark.usefixtures("each_store")
def test_the_site_has_a_section_per_subscription(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import feedparser

    from tests.test_site import overflow

    reg, url = registry
    write_config(url, 25, "json://127.0.0.1:9/hook")
    text = Path("trialwatch.toml").read_text().replace("notify = [", "# notify = [")
    Path("trialwatch.toml").write_text(text, encoding="utf-8")
    assert cli(capsys, "check", "-q")[0] == 0
    for record in edits(population()).values():
        reg.put(record)
    reg.data_timestamp = "2026-12-01T09:00:00"
    assert cli(capsys, "check", "-q")[0] == 1
    out = tmp_path / "site"
    code, _, err = cli(capsys, "site", str(out))
    assert code == 0, err
    index = (out / "index.html").read_text()
    assert (
        'href="subscriptions/bayer.html"' in index and 'href="subscriptions/gastric.html"' in index
    )
    bayer = (out / "subscriptions" / "bayer.html").read_text()
    assert "What it tells, newest first (1 in the last 180 days)" in bayer
    assert "Actual enrollment lowered 30%" in bayer or "enrollment" in bayer.lower()
    assert BAYER_CUT in bayer and "Trials (2)" in bayer
    assert "ci@example.org" not in bayer  # who is told is never published
    gastric = (out / "subscriptions" / "gastric.html").read_text()
    assert "Not yet recruiting → Recruiting" in gastric and OTHER not in gastric
    feed = feedparser.parse((out / "subscriptions" / "gastric.atom").read_text())
    assert not feed.bozo and len(feed.entries) == 1 and GASTRIC in feed.entries[0].title
    # A subscription of an organisation has its results desk, linked from its page.
    assert (out / "subscriptions" / "bayer-desk.html").exists()
    assert 'href="bayer-desk.html"' in bayer
    assert not (out / "subscriptions" / "gastric-desk.html").exists()
    # On a phone (390 px): no sideways scrolling.
    for name in ("bayer.html", "gastric.html", "bayer-desk.html"):
        scroll, visible = overflow(out / "subscriptions" / name, 390)
        assert scroll <= visible, f"{name} scrolls sideways on a phone: {scroll} > {visible}"


@pytest.mark.slow
def test_one_store_for_a_team_one_watch_list_and_one_set_of_subscriptions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    """Two members in different folders on one PostgreSQL: --store before or after the
    command; what one watches or subscribes to, the other sees. A local watch list a member
    kept before is taken into the store by the first change."""
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    (alice / "watchlist.toml").write_text('trials = [{ id = "NCT03418623" }]\n', encoding="utf-8")
    monkeypatch.chdir(alice)
    code, _, err = cli(capsys, "--store", pg_url, "watch", "add", "--offline", "NCT06224738")
    assert code == 0, err
    code, _, err = cli(capsys, "subscription", "add", "gastric", "--condition", "gastric cancer",
                       "--store", pg_url)  # fmt: skip
    assert code == 0, err
    monkeypatch.chdir(bob)
    code, out, _ = cli(capsys, "watch", "list", "--format", "json", "--store", pg_url)
    assert [r["id"] for r in json.loads(out)] == ["NCT03418623", "NCT06224738"]
    assert not (bob / "watchlist.toml").exists()
    code, out, _ = cli(capsys, "--store", pg_url, "subscription", "list")
    assert "gastric" in out and "kept in the store" in out
    assert cli(capsys, "--store", pg_url, "watch", "remove", "NCT03418623")[0] == 0
    monkeypatch.chdir(alice)
    code, out, _ = cli(capsys, "watch", "list", "--format", "json", "--store", pg_url)
    assert [r["id"] for r in json.loads(out)] == ["NCT06224738"]


@pytest.mark.usefixtures("each_store")
def test_a_search_slice_is_a_search_watch(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A subscription written in the config with a search: check runs the search with the watch
    list, and the subscription tells its members' changes."""
    from tests.registry_server import query_key

    pytest.importorskip("apprise")
    reg, url = registry
    reg.queries[query_key({"query.cond": "gastric cancer"})] = [GASTRIC]
    hooked: list[dict[str, Any]] = []
    with webhook(hooked) as hook:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\n\n[[subscription]]\nname = "g"\n'
            f'search = {{ "query.cond" = "gastric cancer" }}\nnotify = ["{hook}"]\n',
            encoding="utf-8",
        )
        code, _, err = cli(capsys, "check", "-q")
        assert code in (0, 1), err
        code, out, _ = cli(capsys, "subscription", "show", "g")
        assert "holds 1 trial now" in out and GASTRIC in out
        reg.put(edits(population())[GASTRIC])
        reg.data_timestamp = "2026-12-01T09:00:00"
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
    assert len(hooked) == 1 and "Not yet recruiting → Recruiting" in hooked[0]["message"]


# --- every real record, edited at random, through the desk, the slice and the rules ----------


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


ODD_VALUES: list[Any] = [None, "", 0, -1, 10**12, [], {}, "2026-13-45", "ESTIMATED", True]


def test_any_record_any_edit_reads_without_error() -> None:
    """A record the API documents can hold odd values anywhere (a date not a date, a list where
    text was): the desk, the slice's facets, the severity and every rule field read each edit
    of every real record without an exception, and the rule language never raises."""
    import random

    from tests.conftest import all_records
    from trialwatch.audit.desk import belongs, estimated_past, obligation, owners, verified
    from trialwatch.store.events import rows_of
    from trialwatch.subscriptions.outbox import fields

    rng = random.Random(34)
    rules = [
        compile_rule(RULE, "t"),
        compile_rule('"PHASE3" in phase and days > 90', "t"),
        compile_rule('sponsor == "Bayer" or new in ["TERMINATED"] or "x" in flags', "t"),
    ]
    day = dt.date(2026, 12, 7)
    for record in all_records():
        paths = _leaves(record)
        for _ in range(6):
            new = json.loads(json.dumps(record))
            for path in rng.sample(paths, min(3, len(paths))):
                node = new
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = rng.choice(ODD_VALUES)
            for r in (record, new):
                obligation(r, day, 30)
                owners(r)
                belongs(r, ["Bayer", "University"])
                estimated_past(r, day)
                verified(r, day)
                found = facets(r)
            nct = str(record["protocolSection"]["identificationModule"]["nctId"])
            comparison = compare(nct, record, new)
            for row in rows_of(nct, "2026-12-07T00:00:00Z", None, "a", "b",
                               comparison.changes, comparison.events):  # fmt: skip
                level, reason = severity(row.kind, row.type, row.body)
                assert reason
                for rule in rules:
                    assert rule(fields(row, found, level.value)) in (True, False)


def test_a_long_digest_is_capped_and_says_where_the_rest_is() -> None:
    """50 events shown; the rest counted, with the subscription's page on the published site
    (site_url) or the command that lists them; every format escapes the registry's text."""
    from trialwatch.subscriptions.digest import CAP, Digest, Told, render_html, render_text

    gastric = load("NCT06224738.reconstructed.json")
    found = compare(GASTRIC, gastric, edited(gastric, _status("TERMINATED")))
    (row,) = [
        r
        for r in events.rows_of(
            GASTRIC, "2026-12-07T10:00:00Z", None, "a", "b", found.changes, found.events
        )
        if r.type == "status_changed"
    ]
    sub = parse({"name": "g", "condition": "gastric cancer"}, "t")
    told = [Told(row, "<b>HER2</b>", Severity.HIGH, "a status that ends", None)] * (CAP + 7)
    plain = Digest(sub, told, 41, "2026-12-07")
    text = render_text(plain)
    assert text.count("Overall status") == CAP
    assert "… and 7 more: trialwatch events --after 41 lists every change" in text
    linked = Digest(sub, told, 41, "2026-12-07", "https://trials.example.org/")
    assert "https://trials.example.org/subscriptions/g.html" in render_text(linked)
    page = render_html(linked)
    assert '<a href="https://trials.example.org/subscriptions/g.html">' in page
    assert "<b>HER2</b>" not in page and "&lt;b&gt;HER2&lt;/b&gt;" in page


@pytest.mark.slow
@pytest.mark.usefixtures("each_store")
def test_a_waiting_worker_tells_subscriptions_while_it_waits(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`worker --wait` tells the subscriptions what it stored each time the queue runs dry,
    not only when it stops."""
    import signal

    pytest.importorskip("apprise")
    reg, url = registry
    hooked: list[dict[str, Any]] = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with webhook(hooked) as hook:
        write_config(url, free_port(), hook)
        text = Path("trialwatch.toml").read_text().replace("trials = [", "# trials = [")
        Path("trialwatch.toml").write_text(text, encoding="utf-8")
        assert cli(capsys, "sync", "--download")[0] == 0
        reg.data_timestamp = "2026-12-03T09:00:00"
        for record in edits(population()).values():
            reg.put(record)
        code, _, err = cli(capsys, "sync", "--no-work")
        assert code == 0, err
        worker = subprocess.Popen(
            [sys.executable, "-m", "trialwatch", "worker", "--wait", "60", "-q"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 45
            while not hooked and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.2)
            assert worker.poll() is None, "the worker stopped instead of waiting"
            assert len(hooked) == 1 and GASTRIC in hooked[0]["message"]
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(30)
    assert len(hooked) == 1  # stopping told nothing twice


@pytest.mark.usefixtures("each_store")
def test_a_signed_webhook_gets_a_subscriptions_events_verified_as_the_docs_say(
    registry: tuple[Registry, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A notify table { webhook, secret_env }: the events the slice and rule let through, with
    their severity and rule, POSTed signed (Standard Webhooks), checked by the receiving code
    docs/notifications.md gives; a retry keeps the delivery's id."""
    from tests.test_webhook import SECRET, Receiver, documented_check

    reg, url = registry
    monkeypatch.setenv("TW_HOOK_SECRET", SECRET)
    monkeypatch.setattr("trialwatch.outputs.webhook.BACKOFF", 0.01)
    receiver = Receiver()
    for hook in receiver.serve():
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["{BAYER_CUT}", "{BAYER_TRIM}"]\n'
            '\n[[subscription]]\nname = "bayer"\nsponsor = "Bayer"\n'
            f"when = '{RULE}'\n"
            f'notify = [{{ webhook = "{hook}", secret_env = "TW_HOOK_SECRET" }}]\n',
            encoding="utf-8",
        )
        assert cli(capsys, "check", "-q")[0] == 0
        changed = edits(population())
        reg.put(changed[BAYER_CUT])
        reg.put(changed[BAYER_TRIM])
        reg.data_timestamp = "2026-12-01T09:00:00"
        receiver.status = 503  # down: the delivery waits
        code, _, err = cli(capsys, "check", "-q")
        assert code == 2 and "sent next time" in err
        receiver.status = 204
        assert cli(capsys, "subscription", "send")[0] == 0
    verified = documented_check()
    ids = set()
    for headers, body in receiver.deliveries:
        assert verified(headers, body, SECRET)
        data = json.loads(body)
        assert data["id"] == headers["webhook-id"]
        ids.add(data["id"])
    assert len(receiver.deliveries) > 1 and len(ids) == 1  # retries and the one taken: one id
    (event,) = data["events"]
    assert data["type"] == "trialwatch.subscription" and data["subscription"] == "bayer"
    assert event["nct_id"] == BAYER_CUT and event["type"] == "enrollment_changed"
    assert event["severity"] == "high" and event["rule"] == RULE
    assert event["cursor"] == data["cursor"]
