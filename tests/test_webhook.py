"""Signed webhooks (issue 32): a local receiver on 127.0.0.1 gets each change's event rows once,
signed as Standard Webhooks says, checked by the receiving code the docs give, as written; a
receiver that is down gets the same delivery (same id) on the next run; nothing is lost."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli, edited
from tests.registry_server import Registry, serve

pytestmark = pytest.mark.usefixtures("each_store")

SECRET = "whsec_" + "c2VjcmV0LWtleS1vZi10aGUtcmVjZWl2ZXI="  # base64 of the receiver's key
DOCS = Path(__file__).resolve().parent.parent / "docs" / "notifications.md"


def documented_check() -> Any:
    """The docs' receiving code, run as written."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Signed webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "no receiving code in docs/notifications.md"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["verified"]


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.status = 204

    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hooks/trialwatch"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def setup(
    her2: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Registry, Receiver]]:
    import trialwatch.outputs.webhook as webhook

    monkeypatch.setattr(webhook, "BACKOFF", 0.01)
    monkeypatch.setenv("TW_HOOK_SECRET", SECRET)
    reg, receiver = Registry(), Receiver()
    reg.put(her2)
    with serve(reg) as url:
        for hook in receiver.serve():
            Path("trialwatch.toml").write_text(
                f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT06224738"]\n'
                f'notify = [{{ webhook = "{hook}", secret_env = "TW_HOOK_SECRET" }}]\n',
                encoding="utf-8",
            )
            yield reg, receiver


def _change(reg: Registry, her2: dict[str, Any], status: str, stamp: str) -> None:
    reg.put(edited(her2, lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus=status)))  # fmt: skip
    reg.data_timestamp = stamp


def test_each_change_is_posted_once_signed_and_checked_by_the_documented_code(
    setup: tuple[Registry, Receiver], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, receiver = setup
    verified = documented_check()
    assert cli(capsys, "check", "-q")[0] == 0  # a baseline: nothing to post
    assert receiver.deliveries == []
    _change(reg, her2, "ACTIVE_NOT_RECRUITING", "2026-11-26T09:00:00")
    code, _, err = cli(capsys, "check", "-q")
    assert code == 1, err
    [(headers, body)] = receiver.deliveries
    assert verified(headers, body, SECRET)
    assert not verified(headers, body.replace(b"ACTIVE", b"PASSIVE"), SECRET)
    assert not verified(headers, body, "whsec_" + "b3RoZXIta2V5")
    payload = json.loads(body)
    assert payload["schema"] == "trialwatch.webhook/1" and payload["id"] == headers["webhook-id"]
    [event] = [e for e in payload["events"] if e["type"] == "status_changed"]
    assert "Active, not recruiting" in event["headline"]
    assert payload["cursor"] == max(e["cursor"] for e in payload["events"])
    [change] = event["body"]["changes_json"]
    assert (change["old"], change["new"]) == ("NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING")
    assert cli(capsys, "check", "-q")[0] == 0  # nothing new: nothing posted again
    assert len(receiver.deliveries) == 1


def test_a_receiver_that_is_down_gets_the_same_delivery_next_run(
    setup: tuple[Registry, Receiver], her2: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, receiver = setup
    assert cli(capsys, "check", "-q")[0] == 0
    _change(reg, her2, "ACTIVE_NOT_RECRUITING", "2026-11-26T09:00:00")
    receiver.status = 503
    code, _, err = cli(capsys, "check", "-q")
    assert code == 2 and "did not take delivery" in err and "kept" in err, err
    assert len(receiver.deliveries) == 3  # tried three times, with backoff
    first_id = receiver.deliveries[0][0]["webhook-id"]
    assert {h["webhook-id"] for h, _ in receiver.deliveries} == {first_id}
    receiver.status = 200
    code, _, err = cli(capsys, "check", "-q")
    assert code == 0, err  # no new change; the pending one goes out
    headers, body = receiver.deliveries[-1]
    assert headers["webhook-id"] == first_id  # the same delivery, the same id
    assert documented_check()(headers, body, SECRET)
    assert cli(capsys, "check", "-q")[0] == 0
    assert len(receiver.deliveries) == 4  # and never again


def test_a_webhook_without_its_secret_is_refused_with_what_to_do(
    setup: tuple[Registry, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    text = Path("trialwatch.toml").read_text(encoding="utf-8")
    Path("trialwatch.toml").write_text(
        text.replace(', secret_env = "TW_HOOK_SECRET"', ""), encoding="utf-8"
    )
    code, _, err = cli(capsys, "check", "-q")
    assert code == 2 and "secret_env" in err and "Traceback" not in err
