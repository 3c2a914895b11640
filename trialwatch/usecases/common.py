"""What every use case builds from loaded settings: the registry client, the check's options, the
outputs a change is kept for, the watched trials' labels, a progress bar."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from trialwatch.registry.client import RegistryClient

from trialwatch.config import Settings
from trialwatch.errors import TrialwatchError
from trialwatch.pipeline.compare import CheckOptions
from trialwatch.registry.retry import RateLimiter, RetryPolicy
from trialwatch.store.port import Store
from trialwatch.store.watchlist import Watched, parse_entries, watched_trials

log = logging.getLogger("trialwatch")


def build_client(settings: Settings, http: httpx.Client | None = None) -> RegistryClient:
    import httpx

    from trialwatch.registry.client import RegistryClient, make_http_client

    seconds = float(settings["timeout"])
    timeout = httpx.Timeout(seconds, connect=min(10.0, seconds))
    retry = RetryPolicy(
        attempts=int(settings["max_retries"]) + 1,
        base_delay=float(settings["backoff_base"]),
        total_cap=float(settings["retry_time_cap"]),
    )
    return RegistryClient(
        api_url=settings["api_url"],
        http=http or make_http_client(timeout),
        retry=retry,
        limiter=RateLimiter(float(settings["request_interval"])),
        request_deadline=seconds,
        run_limit=float(settings["run_deadline"]),
    )


def check_options(settings: Settings, **kwargs: Any) -> CheckOptions:
    return CheckOptions(
        ignore=list(settings["ignore"]), show_admin=bool(settings["show_admin"]), **kwargs
    )


def kept_outputs(settings: Settings, store: Store, outputs: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs a change found now is kept for besides this run's own: mail and each channel
    the config sets up (even when this run was told --no-email), and every output a run
    delivered to lately (a cron job's --email)."""
    from trialwatch.notify.channels import channels

    configured = ["mail"] if settings["email"].get("enabled", False) else []
    # A broken notify setting is said by the run that uses it; an unreadable state, by the run.
    with contextlib.suppress(TrialwatchError):
        configured += [c.output for c in channels(settings["notify"], "notify")]
    with contextlib.suppress(TrialwatchError):
        configured += store.outputs_in_use()
    return tuple(o for o in dict.fromkeys(configured) if o not in outputs)


def trial_labels(settings: Settings, watched: list[Watched]) -> dict[str, str]:
    """The user's own names for trials: from the watch list and the config, also when the ids
    were given on the command line (a broken watch list costs only the labels here)."""
    if not watched:
        try:
            watched = watched_trials(settings.watchlist, config_trials(settings))
        except TrialwatchError:
            return {}
    return {w.nct_id: w.label for w in watched if w.label}


def today() -> dt.date:  # called as common.today(): one place a test can fix the day
    """The day signals are read for (one place, so that tests can fix it)."""
    return dt.date.today()


def config_trials(settings: Settings) -> list[Watched]:
    where = str(settings.config_file) if settings.config_file else "config"
    return parse_entries(settings["trials"], where)


@contextlib.contextmanager
def progress_bar(
    enabled: bool, total: int, doing: str = "checking"
) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on stderr, only for people (stderr a terminal) and lists of some size."""
    if not enabled or total < 2:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("check", total=total)
        yield lambda _nct: progress.advance(task)


@contextlib.contextmanager
def _counter(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A running count on stderr for people (records read, then compared)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def count(what: str, n: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=None)
            progress.advance(tasks[what], n)

        yield count
