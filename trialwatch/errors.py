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


class NotStoredError(StoreError):
    """Files a batch could not put in place once it had committed: each trial's own reason
    (``reasons``: trial id to words), so no trial's report names another's file."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = dict(reasons)
        first = next(iter(self.reasons.values()), "")
        more = f" (and {len(self.reasons) - 1} more)" if len(self.reasons) > 1 else ""
        super().__init__(first + more)


class OutOfSpaceError(StoreError):
    """The store's file system is full: nothing was changed, nothing is lost."""


# errno values of a file system with no room left (ENOSPC; EDQUOT: the user's quota).
_NO_SPACE = {28, 122, 69}


def no_space(exc: BaseException) -> bool:
    """Is this a file system out of space (an OSError, or SQLite's "database or disk is full")?"""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return True
    return "disk is full" in str(exc) or "No space left" in str(exc)


NO_SPACE_ADVICE = "no space left on the device; free some space and run again (nothing is lost)"


def os_reason(exc: OSError) -> str:
    """What went wrong with a file, in words that say what to do for the common cases."""
    if no_space(exc):
        return NO_SPACE_ADVICE
    if exc.errno in (1, 13):  # EPERM, EACCES
        return f"{exc.strerror or exc} (check who owns it and its permissions)"
    if exc.errno == 30:  # EROFS
        return f"{exc.strerror or exc} (the file system is mounted read-only)"
    return str(exc.strerror or exc)
