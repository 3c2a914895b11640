"""Mail digests against a real SMTP server on 127.0.0.1: one digest a run, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edited
from tests.registry_server import Registry, serve
from tests.smtp_server import Mailbox, free_port, smtp_server
from trialwatch.cli import run

pytestmark = pytest.mark.usefixtures("each_store")

EXE = str(Path(sys.executable).parent / "trialwatch")


@pytest.fixture
def api(her2: dict[str, Any]) -> Iterator[tuple[Registry, str]]:
    reg = Registry()
    reg.put(her2)
    with serve(reg) as url:
        yield reg, url


def config(url: str, port: int, **extra: str) -> None:
    lines = [
        f'api_url = "{url}"',
        "request_interval = 0",
        "backoff_base = 0.01",
        'trials = ["NCT06224738"]',
        "",
        "[email]",
        "enabled = true",
        'to = ["watcher@example.org"]',
        'from = "trialwatch@example.org"',
        'host = "127.0.0.1"',
        f"port = {port}",
        'security = "none"',
        "timeout = 5",
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    Path("trialwatch.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def change(reg: Registry, her2: dict[str, Any], status: str, stamp: str) -> None:
    """A sponsor update (status), and the registry's data timestamp moving with it."""
    reg.put(
        edited(her2, lambda r: r["protocolSection"]["statusModule"].update(overallStatus=status))
    )
    reg.data_timestamp = stamp


def body(msg: EmailMessage, kind: str) -> str:
    """The plain-text or HTML part of a received digest."""
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None, f"no {kind} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_digest_only_when_something_changed(
    api: tuple[Registry, str], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        config(url, port)
        assert cli(capsys, "check", "-q")[0] == 0  # baseline: no mail
        assert box.messages == []
        change(reg, her2, "RECRUITING", "2026-11-26T09:00:00")
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
        assert len(box.messages) == 1
        msg = box.messages[0]
        # The subject carries the top headline.
        assert msg["Subject"] == (
            "[trialwatch] NCT06224738: Overall status Not yet recruiting → Recruiting"
        )
        assert msg["To"] == "watcher@example.org"
        assert msg.get_content_type() == "multipart/alternative"
        text = body(msg, "plain")
        html = body(msg, "html")
        assert "Overall status Not yet recruiting → Recruiting" in text
        assert "Overall status Not yet recruiting → Recruiting" in html
        assert err == ""  # --quiet: cron mails stderr, so nothing there but trouble
        # Nothing changed: no mail, and --quiet prints nothing.
        reg.data_timestamp = "2026-11-27T09:00:00"
        assert cli(capsys, "check", "-q") == (0, "", "")
        assert len(box.messages) == 1


def test_smtp_outage_loses_no_change(
    api: tuple[Registry, str], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = api
    port = free_port()
    config(url, port)
    assert cli(capsys, "check", "-q")[0] == 0
    # The mail server is down while a change is found.
    change(reg, her2, "RECRUITING", "2026-11-26T09:00:00")
    code, out, err = cli(capsys, "check", "-q")
    assert code == 2
    assert "Overall status Not yet recruiting → Recruiting" in out  # still reported here
    assert f"could not connect to the mail server 127.0.0.1:{port}" in err
    assert "kept and will be in the next run's digest" in err
    # The server is up again; a second change is found: one mail holds both, once each.
    box = Mailbox()
    with smtp_server(box, port):
        change(reg, her2, "ACTIVE_NOT_RECRUITING", "2026-11-27T09:00:00")
        code, _, err = cli(capsys, "check", "-q")
        assert code == 1, err
        assert len(box.messages) == 1
        text = body(box.messages[0], "plain")
        assert text.count("Not yet recruiting → Recruiting") == 1
        assert text.count("Recruiting → Active, not recruiting") == 1
        assert "found by an earlier run" in text
        # Delivered: the outbox is empty, the next quiet run sends nothing.
        reg.data_timestamp = "2026-11-28T09:00:00"
        assert cli(capsys, "check", "-q") == (0, "", "")
        assert len(box.messages) == 1


def test_refused_mail_is_kept_too(
    api: tuple[Registry, str], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = api
    box = Mailbox(refuse=True)
    with smtp_server(box) as port:
        config(url, port)
        cli(capsys, "check", "-q")
        change(reg, her2, "WITHDRAWN", "2026-11-26T09:00:00")
        code, _, err = cli(capsys, "check", "-q")
        assert code == 2
        assert "refused the message: 550 5.7.1 Message rejected by policy" in err
        box.refuse = False
        reg.data_timestamp = "2026-11-27T09:00:00"  # nothing new; the pending mail still goes
        code, _, _ = cli(capsys, "check", "-q")
        assert len(box.messages) == 1
        assert "Withdrawn" in box.messages[0]["Subject"]


def test_registry_text_cannot_inject_html_or_headers(
    api: tuple[Registry, str], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        config(url, port)
        cli(capsys, "check", "-q")
        evil = "<script>alert(1)</script>\r\nBcc: victim@example.org\r\n<img src=x>"
        reg.put(
            edited(
                her2,
                lambda r: r["protocolSection"]["statusModule"].update(
                    overallStatus="TERMINATED", whyStopped=evil
                ),
            )
        )
        reg.data_timestamp = "2026-11-26T09:00:00"
        cli(capsys, "check", "-q")
        msg = box.messages[0]
        assert msg["Bcc"] is None
        assert [r.decode() if isinstance(r, bytes) else r for r in box.envelopes[0].rcpt_tos] == [
            "watcher@example.org"
        ]
        html = body(msg, "html")
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;" in html
        assert "\n" not in msg["Subject"]


def test_password_comes_from_the_named_variable_and_is_never_printed(
    api: tuple[Registry, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = api
    config(url, free_port(), username='"watcher"', password_env='"TW_SMTP_PASSWORD"')
    code, _, err = cli(capsys, "email", "--test")
    assert code == 2
    assert "email.password_env names TW_SMTP_PASSWORD, which is not set" in err
    monkeypatch.setenv("TW_SMTP_PASSWORD", "s3cret-pa55")
    code, out, err = cli(capsys, "email", "--test")
    assert code == 2 and "could not connect to the mail server" in err
    code, out2, err2 = cli(capsys, "config")
    for text in (out, err, out2, err2):
        assert "s3cret-pa55" not in text


def test_email_test_reports_what_the_server_said(
    api: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        config(url, port)
        code, _, err = cli(capsys, "email", "--test")
        assert code == 0
        assert "test message accepted: 250 2.0.0 OK queued" in err
        assert box.messages[0]["Subject"] == "[trialwatch] test message"


def test_cron_style_run(api: tuple[Registry, str], her2: dict[str, Any], tmp_path: Path) -> None:
    """As cron runs it: no terminal, no input, only the variables the README names."""
    reg, url = api
    box = Mailbox()
    repo = tmp_path / "cronjob"
    repo.mkdir()
    with smtp_server(box) as port:
        os.chdir(repo)
        config(url, port)
        env = {"PATH": os.environ["PATH"], "TRIALWATCH_CONFIG": str(repo / "trialwatch.toml")}

        def cron() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [EXE, "check", "--quiet", "--email"],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        first = cron()
        assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
        assert (repo / "snapshots" / "NCT06224738").is_dir()  # relative to the config file
        change(reg, her2, "RECRUITING", "2026-11-26T09:00:00")
        second = cron()
        assert second.returncode == 1
        assert len(box.messages) == 1
        reg.data_timestamp = "2026-11-27T09:00:00"
        third = cron()
        assert (third.returncode, third.stdout, third.stderr) == (0, "", "")
        assert len(box.messages) == 1


def test_heartbeat_mails_when_nothing_changed(
    api: tuple[Registry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = api
    box = Mailbox()
    with smtp_server(box) as port:
        config(url, port, heartbeat="true")
        assert cli(capsys, "check", "-q")[0] == 0
        assert [m["Subject"] for m in box.messages] == ["[trialwatch] no changes"]
