"""The mail digest: one message a run, of everything mail has not had yet (notify/mail.py builds
and sends it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trialwatch.model import QueryReport, RunReport, TrialReport
from trialwatch.outputs.base import KINDS, Preview


class MailOutput:
    name = "mail"

    def __init__(self, email: Mapping[str, Any], folder: Path | None) -> None:
        self.email = email
        self.folder = folder  # a folder store's root: where an old outbox may still lie

    def send(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> str | None:
        from trialwatch.notify.mail import deliver

        return deliver(run, pending, self.email, self.folder, queries=queries)

    def preview(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> Preview:
        from trialwatch.notify.mail import mail_digest, subject

        found = mail_digest(run, pending, self.email, self.folder, queries)
        to = "mail to " + ", ".join(str(t) for t in self.email.get("to", []))
        if found is None:
            return Preview(self.name, to, None, None)
        mailed, mail, _ = found
        return Preview(self.name, to, mailed, subject(mailed, mail.subject_prefix))


KINDS["mail"] = MailOutput
