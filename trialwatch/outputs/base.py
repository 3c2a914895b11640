"""What every output is, and the dry run's stand-in for any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from trialwatch.model import QueryReport, RunReport, TrialReport

# Each kind of output, by the name a config or a run gives it (filled by each output's module).
KINDS: dict[str, type[Output]] = {}


@dataclass
class Preview:
    """What one output would get from a --dry-run: its name, and the digest with its subject
    (None: nothing would be sent)."""

    output: str
    to: str
    digest: RunReport | None
    subject: str | None


class Output(Protocol):
    """One place a run's changes go (mail, a channel): ``name`` is the key its pending changes
    are kept under in the store."""

    name: str

    def send(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> str | None:
        """Send the digest of ``pending``: what was done, for the log, or None when nothing
        was worth sending. Raises a TrialwatchError when it could not go out (the changes stay
        pending for the next run)."""

    def preview(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> Preview:
        """What ``send`` would send, without sending it."""


class PreviewOutput:
    """A dry run's output: shows what the output it stands for would send, and sends nothing."""

    def __init__(self, inner: Output, show: Callable[[Preview], None]) -> None:
        self.inner = inner
        self.name = inner.name
        self.show = show

    def send(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> str | None:
        self.show(self.inner.preview(run, pending, queries))
        return None

    def preview(
        self, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
    ) -> Preview:
        return self.inner.preview(run, pending, queries)
