"""Typed errors. Core modules raise these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class TrialwatchError(Exception):
    """Base of every error a user can cause or act on. The message says what to do."""


class InputError(TrialwatchError):
    """Something the user typed is not valid (an NCT id, an option value)."""


class ConfigError(TrialwatchError):
    """The configuration file or an environment variable is broken."""


class FetchError(TrialwatchError):
    """The registry could not be asked, or answered something that is not a study."""


class NotInRegistryError(FetchError):
    """The registry says the trial does not exist (HTTP 404)."""


class RunDeadlineError(FetchError):
    """The run's own time limit passed: the rest of the run is not checked."""


class StoreError(TrialwatchError):
    """The snapshot store cannot be read or written."""


class CorruptSnapshotError(StoreError):
    """A stored snapshot file is not valid JSON or not a study record."""


class LockedError(StoreError):
    """Another trialwatch run holds the store's lock."""


class NotifyError(TrialwatchError):
    """A notification (mail) could not be delivered."""
