"""A notification channel (Slack, Teams, ntfy, a webhook… through Apprise): a short digest of
what it has not been sent yet, narrowed to what the channel asks for (notify/channels.py)."""

from __future__ import annotations

from trialwatch.model import QueryReport, RunReport, TrialReport
from trialwatch.notify.channels import Channel
from trialwatch.outputs.base import KINDS, Preview


class ChannelOutput:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.name = channel.output

    def digest(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> RunReport | None:
        """What the channel would be sent (None: nothing it wants)."""
        from trialwatch.notify.channels import narrowed, worth_sending
        from trialwatch.notify.mail import digest_report

        found = narrowed(digest_report(pending, run, queries), self.channel.only)
        return found if worth_sending(found) else None

    def send(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> str | None:
        from trialwatch.notify.channels import send
        from trialwatch.notify.mail import subject

        found = self.digest(run, pending, queries)
        if found is None:
            return None
        return send(self.channel, found, subject(found, "trialwatch:"))

    def preview(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> Preview:
        from trialwatch.notify.mail import subject

        found = self.digest(run, pending, queries)
        title = subject(found, "trialwatch:") if found is not None else None
        return Preview(self.name, f"notification to {self.channel.name}", found, title)


KINDS["channel"] = ChannelOutput
