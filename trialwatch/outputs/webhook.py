"""A signed webhook: the event rows of every step the receiver has not had yet, POSTed as one
versioned JSON payload (``trialwatch.webhook/1``) and signed as the Standard Webhooks
specification says — ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``). A delivery keeps its id across
retries (the id is made from what it delivers), so a receiver can drop a repeat; a delivery
that fails stays pending for the next run, like mail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from trialwatch.errors import NotifyError
from trialwatch.model import QueryReport, RunReport, TrialReport
from trialwatch.notify.channels import Channel
from trialwatch.outputs.base import KINDS, Preview
from trialwatch.record import utc_now
from trialwatch.sanitize import dumps
from trialwatch.store.events import Row
from trialwatch.store.port import Store

SCHEMA = "trialwatch.webhook/1"
TRIES = 3  # within a run; after that the delivery waits for the next run
BACKOFF = 1.0  # seconds before the second try; doubled before each next one
TIMEOUT = 15.0


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value. A secret given as ``whsec_…`` (the form the
    specification's libraries make) is its base64 key; any other text is the key itself."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookOutput:
    def __init__(
        self,
        channel: Channel,
        store: Store | None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.channel = channel
        self.name = channel.output
        self.store = store  # None: a test delivery only
        self.env = os.environ if env is None else env
        self.sleep = sleep

    def rows(self, pending: list[TrialReport]) -> list[Row]:
        """The event rows of the pending steps (each trial's steps since the receiver's last),
        in the order they were stored, narrowed to what the webhook asks for (``only``)."""
        steps = {(t.nct_id, t.snapshot) for t in pending if t.snapshot}
        trials = sorted({nct for nct, _ in steps})
        if self.store is None or not trials:
            return []
        found = self.store.query_events(trials=trials, after=0)
        rows = [r for r in found if (r.nct, r.new_snapshot) in steps]
        only = set(self.channel.only)
        if only:
            rows = [r for r in rows if r.type in only or r.category in only]
        return rows

    def payload(self, pending: list[TrialReport]) -> tuple[str, bytes] | None:
        """(the delivery's id, the body), or None when there is nothing to deliver."""
        rows = self.rows(pending)
        if not rows:
            return None
        # The same steps, the same id, whichever run retries the delivery.
        key = "\n".join([self.name, *(f"{r.nct} {r.new_snapshot} {r.position}" for r in rows)])
        message_id = "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]
        body: dict[str, Any] = {
            "schema": SCHEMA,
            "type": "trialwatch.changes",
            "id": message_id,
            "created": utc_now(),
            "cursor": max(r.position or 0 for r in rows),
            "events": [r.to_json() for r in rows],
        }
        return message_id, (dumps(body) + "\n").encode("utf-8")

    def send(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> str | None:
        found = self.payload(pending)
        if found is None:
            return None
        message_id, body = found
        n = len(json.loads(body)["events"])
        self.post(message_id, body)
        return f"posted {n} event row{'s' * (n != 1)} to {self.channel.name} ({message_id})"

    def test(self) -> str:
        """A signed test delivery (``trialwatch notify --test``): no event row in it."""
        message_id = "msg_test_" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]
        body = dumps(
            {"schema": SCHEMA, "type": "trialwatch.test", "id": message_id, "created": utc_now(),
             "cursor": None, "events": []}
        )  # fmt: skip
        self.post(message_id, (body + "\n").encode("utf-8"))
        return f"{self.channel.name}: a signed test delivery was accepted ({message_id})"

    def post(self, message_id: str, body: bytes) -> None:
        """POST one delivery, signed, up to TRIES times with backoff; NotifyError when the
        receiver never took it (it stays pending for the next run, with the same id)."""
        import httpx

        secret = self.env.get(self.channel.secret_env or "", "")
        if not secret:
            raise NotifyError(
                f"{self.channel.name}: the variable {self.channel.secret_env} that holds its "
                "signing secret is empty or not set"
            )
        url = self.channel.url or ""
        problem = ""
        for attempt in range(TRIES):
            if attempt:
                self.sleep(BACKOFF * 2 ** (attempt - 1))
            stamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": signature(secret, message_id, stamp, body),
                "user-agent": "trialwatch",
            }
            try:
                answer = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= answer.status_code < 300:
                return
            problem = f"HTTP {answer.status_code}"
        raise NotifyError(f"{self.channel.name} did not take delivery {message_id} ({problem})")

    def preview(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> Preview:
        found = self.payload(pending)
        rows = self.rows(pending) if found else []
        digest = RunReport(run.generated_at, trials=[t for t in pending]) if found else None
        title = f"{len(rows)} event rows ({found[0]})" if found else None
        return Preview(self.name, f"webhook to {self.channel.name}", digest, title)


KINDS["webhook"] = WebhookOutput
