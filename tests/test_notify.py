"""Notifications through Apprise to a stand-in webhook on 127.0.0.1 (``json://``): one digest a
run, kept for a channel that was down and sent once when it is back, ``only`` per channel, and
``trialwatch notify --test``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli, edited
from tests.registry_server import Registry, serve, serving
from tests.smtp_server import free_port
from trialwatch.config import load_settings
from trialwatch.errors import ConfigError

pytestmark = pytest.mark.usefixtures("each_store")

pytest.importorskip("apprise")


@contextmanager
def webhook(port: int, received: list[dict[str, Any]]) -> Iterator[str]:
    """A webhook on 127.0.0.1:port that keeps each JSON body it is sent."""

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(size) or b"{}"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Hook, port):
        yield f"json://127.0.0.1:{port}/hook"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, her2: dict[str, Any]) -> Iterator[Registry]:
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        yield reg


def config(entries: str) -> None:
    Path("trialwatch.toml").write_text(
        f'trials = [{{ id = "NCT06224738", label = "HER2 CAR-M" }}]\nnotify = [{entries}]\n',
        encoding="utf-8",
    )


def change(reg: Registry, stamp: str, **status: Any) -> None:
    current = reg.studies["NCT06224738"]
    reg.put(edited(current, lambda r: r["protocolSection"]["statusModule"].update(**status)))
    reg.data_timestamp = stamp


def test_a_channel_gets_one_digest_and_catches_up_after_an_outage(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config(f'"json://127.0.0.1:{port}/hook"')
    got: list[dict[str, Any]] = []
    with webhook(port, got):
        assert cli(capsys, "check", "-q")[0] == 0
        assert got == []  # a first baseline is not news
        change(registry, "2026-11-26T09:00:00", overallStatus="RECRUITING")
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
    assert len(got) == 1
    title, body = got[0]["title"], got[0]["message"]
    assert title == (
        "trialwatch: NCT06224738 (HER2 CAR-M): Overall status Not yet recruiting → Recruiting"
    )
    assert "NCT06224738 (HER2 CAR-M)" in body and "Recruiting" in body
    # The webhook is down while the next change is found: kept for it.
    change(registry, "2026-11-27T09:00:00", overallStatus="ACTIVE_NOT_RECRUITING")
    code, out, err = cli(capsys, "check", "-q")
    assert code == 2 and "Active, not recruiting" in out
    assert "json://127.0.0.1" in err and "kept and will be in the next run's digest" in err
    with webhook(port, got):
        change(registry, "2026-11-28T09:00:00", enrollmentInfo={"count": 80, "type": "ESTIMATED"})
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
        assert len(got) == 2  # one digest holding both changes, once each
        body = got[1]["message"]
        assert body.count("Recruiting → Active, not recruiting") == 1
        assert "found by an earlier run" in body
        registry.data_timestamp = "2026-11-29T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 0
        assert len(got) == 2  # nothing new: nothing sent


def test_only_what_a_channel_asked_for(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config(f'{{ url = "json://127.0.0.1:{port}/hook", only = ["status", "results"] }}')
    got: list[dict[str, Any]] = []
    with webhook(port, got):
        cli(capsys, "check", "-q")
        change(registry, "2026-11-26T09:00:00", statusVerifiedDate="2026-11")
        registry.put(
            edited(
                registry.studies["NCT06224738"],
                lambda r: r["protocolSection"]["designModule"]["enrollmentInfo"].update(count=5),
            )
        )
        assert cli(capsys, "check", "-q")[0] == 1  # reported here…
        assert got == []  # …but not a status or results change: not sent
        change(registry, "2026-11-27T09:00:00", overallStatus="WITHDRAWN")
        cli(capsys, "check", "-q")
        assert len(got) == 1 and "Withdrawn" in got[0]["message"]
        assert "Enrollment" not in got[0]["message"]  # the skipped change is not sent later


def test_secrets_come_from_the_environment(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config('"slack://user:s3cret@hooks.example/x"')
    code, _, err = cli(capsys, "check")
    assert code == 2 and "has a password in its URL" in err and "s3cret" not in err
    port = free_port()
    config('{ url_env = "MY_HOOK" }')
    code, _, err = cli(capsys, "notify", "--test")
    assert code == 2 and "MY_HOOK is empty or not set" in err
    monkeypatch.setenv("MY_HOOK", f"json://127.0.0.1:{port}/hook")
    got: list[dict[str, Any]] = []
    with webhook(port, got):
        code, _, err = cli(capsys, "notify", "--test")
    assert code == 0 and "notified $MY_HOOK" in err, err
    assert got[0]["title"] == "trialwatch: test message"
    code, _, err = cli(capsys, "notify", "--test")  # nothing listening now
    assert code == 2 and "did not accept" in err


def test_notify_settings_are_checked() -> None:
    Path("trialwatch.toml").write_text('notify = [{ url = "json://x", colour = 1 }]\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings()
    Path("trialwatch.toml").write_text('notify = [{ url = "json://x", only = ["colour"] }]\n')
    with pytest.raises(ConfigError, match="unknown category or event 'colour'"):
        load_settings()
    Path("trialwatch.toml").write_text('notify = ["not a url"]\n')
    with pytest.raises(ConfigError, match="is not a URL"):
        load_settings()
    Path("trialwatch.toml").write_text('[email]\nonly = ["overdue", "new", "status"]\n')
    assert load_settings()["email"]["only"] == ["overdue", "new", "status"]


def test_only_filters_inside_a_trial_and_sends_nothing_empty(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """only = ["status"]: a status change and a date slip in one update reach the channel as
    the status change alone; a date slip alone sends nothing."""
    port = free_port()
    config(f'{{ url = "json://127.0.0.1:{port}/hook", only = ["status"] }}')
    got: list[dict[str, Any]] = []
    with webhook(port, got):
        cli(capsys, "check", "-q")
        record = registry.studies["NCT06224738"]
        registry.put(
            edited(
                record,
                lambda r: r["protocolSection"]["statusModule"].update(
                    overallStatus="RECRUITING",
                    primaryCompletionDateStruct={"date": "2027-09", "type": "ESTIMATED"},
                ),
            )
        )
        registry.data_timestamp = "2026-11-26T09:00:00"
        code, out, _ = cli(capsys, "check")
        assert code == 1 and "Primary completion" in out  # stdout has everything
        assert len(got) == 1
        message = got[0]["message"]
        assert "Recruiting" in message
        assert "Primary completion" not in message and "slipped" not in message
        # A date slip alone: nothing this channel wants, so no message at all.
        registry.put(
            edited(
                registry.studies["NCT06224738"],
                lambda r: r["protocolSection"]["statusModule"].update(
                    primaryCompletionDateStruct={"date": "2028-03", "type": "ESTIMATED"}
                ),
            )
        )
        registry.data_timestamp = "2026-11-27T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1
        assert len(got) == 1
