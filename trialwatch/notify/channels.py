"""Notifications through Apprise (Slack, Teams, Discord, Matrix, ntfy, Telegram, webhooks…), an
optional extra: ``pip install 'trialwatch[notify]'``.

Each entry of ``notify`` in the config is a channel: one digest per run in the format the
service renders (Markdown where it renders Markdown, else plain text), with the same outbox
guarantee as mail — a change stays queued for a channel until that channel accepted it. A URL
that carries a secret comes from an environment variable (``url_env``), never from the file.
``only`` limits a channel to some categories, event types or signals."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from trialwatch.errors import ConfigError, NotifyError
from trialwatch.model import (
    FAIL_ON_NAMES,
    Category,
    Event,
    EventType,
    Outcome,
    RunReport,
    TrialReport,
    signal_fail_on_names,
)

# userinfo with a password ("user:secret@host") in a URL written in the file
_CREDENTIALS = re.compile(r"^[a-z0-9+.-]+://[^/@\s]*:[^/@\s]+@", re.I)


@dataclass(frozen=True, slots=True)
class Channel:
    name: str  # what the user sees: the URL's scheme and host, or the variable's name
    output: str  # the outbox key: "notify:<hash>"
    url: str | None  # written in the file (no secret in it)
    url_env: str | None  # or read from this variable at send time
    only: tuple[str, ...] = ()
    # A signed webhook (outputs/webhook.py) instead of an Apprise service: the variable that
    # holds its signing secret.
    secret_env: str | None = None

    @property
    def webhook(self) -> bool:
        return self.secret_env is not None

    def resolve(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        if self.url:
            return self.url
        value = env.get(self.url_env or "", "")
        if not value:
            raise NotifyError(
                f"notification channel {self.name}: the variable {self.url_env} is empty or "
                "not set; export the channel's URL in it"
            )
        return value


def valid_only() -> frozenset[str]:
    return FAIL_ON_NAMES | {e.value for e in EventType}


def parse_only(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: only must be a list of categories or event types")
    known = valid_only()
    for v in value:
        if v not in known:
            raise ConfigError(
                f"{where}: only: unknown category or event {v!r}; choose from categories "
                f"({', '.join(c.value for c in Category)}), event types, signals, new, left"
            )
    return tuple(value)


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _webhook(entry: dict[str, Any], n: int, where: str) -> Channel:
    """A signed webhook: ``{ webhook = "https://…", secret_env = "NAME", only = [...] }``."""
    unknown = set(entry) - {"webhook", "secret_env", "only"}
    if unknown:
        raise ConfigError(
            f"{where}: notify entry {n} has unknown key(s) {', '.join(sorted(unknown))}; a "
            "webhook takes webhook, secret_env, only"
        )
    url, secret_env = entry.get("webhook"), entry.get("secret_env")
    if not isinstance(url, str) or not re.match(r"^https?://", url, re.I):
        raise ConfigError(f"{where}: notify entry {n}: webhook must be an http(s) URL")
    if _CREDENTIALS.match(url):
        raise ConfigError(f"{where}: notify entry {n}: the webhook URL holds a password")
    if not isinstance(secret_env, str) or not _VARIABLE.fullmatch(secret_env):
        raise ConfigError(
            f"{where}: notify entry {n}: a webhook needs secret_env, the name of the variable "
            "that holds its signing secret"
        )
    name = re.sub(r"^([a-z0-9+.-]+://[^/?#]*).*$", r"\1", url, flags=re.I)
    key = hashlib.sha256(f"webhook:{url}".encode()).hexdigest()[:10]
    only = parse_only(entry.get("only"), f"{where}: notify entry {n}")
    return Channel(f"webhook {name}", f"webhook:{key}", url, None, only, secret_env)


def channels(entries: Any, where: str) -> list[Channel]:
    """The channels of the ``notify`` setting: URLs, tables ``{url | url_env, only}``, or
    signed webhooks ``{webhook, secret_env, only}``."""
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: notify must be a list of URLs or tables")
    out: list[Channel] = []
    for n, entry in enumerate(entries, 1):
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: notify entry {n} must be a URL or a table")
        if "webhook" in entry:
            out.append(_webhook(entry, n, where))
            continue
        unknown = set(entry) - {"url", "url_env", "only"}
        if unknown:
            raise ConfigError(
                f"{where}: notify entry {n} has unknown key(s) {', '.join(sorted(unknown))}; "
                "use url, url_env, only"
            )
        url, url_env = entry.get("url"), entry.get("url_env")
        if (url is None) == (url_env is None):
            raise ConfigError(f"{where}: notify entry {n} needs either url or url_env")
        if url is not None:
            if not isinstance(url, str) or "://" not in url:
                raise ConfigError(f"{where}: notify entry {n}: {url!r} is not a URL")
            if _CREDENTIALS.match(url):
                raise ConfigError(
                    f"{where}: notify entry {n} has a password in its URL; put the URL in an "
                    'environment variable and write { url_env = "THAT_VARIABLE" } instead'
                )
            name = re.sub(r"^([a-z0-9+.-]+://[^/?#]*).*$", r"\1", url, flags=re.I)
        else:
            if not isinstance(url_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", url_env):
                raise ConfigError(f"{where}: notify entry {n}: url_env must name a variable")
            name = f"${url_env}"
        key = hashlib.sha256((url or f"env:{url_env}").encode()).hexdigest()[:10]
        only = parse_only(entry.get("only"), f"{where}: notify entry {n}")
        out.append(Channel(name, f"notify:{key}", url, url_env, only))
    return out


def _signal_wanted(e: Event, only: tuple[str, ...]) -> bool:
    signal = e.data.get("signal")
    return bool(signal) and bool(signal_fail_on_names(signal) & set(only))


def narrowed_trial(t: TrialReport, only: tuple[str, ...]) -> TrialReport | None:
    """A trial's report with only what ``only`` names, inside the trial: the events of those
    types or signals, or explaining a change of those categories, and the changes of those
    categories or that a kept event explains. None when nothing is left. Trouble is always
    kept whole."""
    if not only or t.outcome is Outcome.ERROR:
        return t
    by_id = {c.id: c for c in t.changes}
    events = [
        e
        for e in t.events
        if e.type.value in only
        or _signal_wanted(e, only)
        or any(by_id[i].category.value in only for i in e.changes if i in by_id)
    ]
    explained = {i for e in events for i in e.changes}
    changes = [
        c for c in t.changes if (c.material and c.category.value in only) or c.id in explained
    ]
    if not events and not any(c.material for c in changes):
        return None
    return replace(t, events=events, changes=changes)


def wanted(t: TrialReport, only: tuple[str, ...]) -> bool:
    """Whether a trial's report holds anything this channel wants."""
    return narrowed_trial(t, only) is not None


def narrowed(report: RunReport, only: tuple[str, ...]) -> RunReport:
    """The digest as this channel wants it: in each trial only the changes and events it cares
    for, and the search news it names; a search with nothing left is left out."""
    if not only:
        return report
    trials = [n for n in (narrowed_trial(t, only) for t in report.trials) if n is not None]
    kept = {t.nct_id for t in trials}
    queries = []
    for q in report.queries:
        q2 = type(q)(q.id, q.label, q.params, q.matches, q.baseline, error=q.error)
        q2.new = list(q.new) if "new" in only else []
        q2.left = list(q.left) if "left" in only else []
        q2.updated = [u for u in q.updated if u in kept]
        if q2.new or q2.left or q2.updated or q2.error:
            queries.append(q2)
    return RunReport(
        report.generated_at,
        trials,
        report.data_timestamp,
        report.notes,
        report.skipped,
        queries,
    )


def worth_sending(report: RunReport) -> bool:
    return bool(
        report.changed or report.errors or any(q.new or q.left or q.error for q in report.queries)
    )


def _format(plugin: Any) -> str:
    fmt = plugin.notify_format
    if isinstance(fmt, tuple | list):
        fmt = fmt[0]
    return str(getattr(fmt, "value", fmt))


def _client(channel: Channel, env: Mapping[str, str] | None) -> tuple[Any, Any, str, int]:
    """Apprise with the channel's service: (apprise, its client, the format the service renders,
    the longest body it takes)."""
    try:
        import apprise
    except ImportError:
        raise NotifyError("notifications need Apprise: pip install 'trialwatch[notify]'") from None
    url = channel.resolve(env)
    client = apprise.Apprise()
    if not client.add(url):
        raise NotifyError(
            f"notification channel {channel.name}: Apprise does not know this URL; see "
            "https://github.com/caronc/apprise/wiki for the URL of each service"
        )
    plugin = client[0]
    return apprise, client, _format(plugin), int(getattr(plugin, "body_maxlen", 32768) or 32768)


def _notify(channel: Channel, apprise: Any, client: Any, body: str, title: str, fmt: Any) -> str:
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        result = client.notify(body=body, title=title, body_format=fmt)
    if not result:
        reason = " ".join(str(logs.getvalue()).split())[-300:] or "no reason given"
        raise NotifyError(
            f"notification channel {channel.name} did not accept the digest: {reason}"
        )
    return f"notified {channel.name}"


def send(
    channel: Channel, report: RunReport, title: str, env: Mapping[str, str] | None = None
) -> str:
    """Send one digest; NotifyError (with the service's reason) when it was not accepted."""
    apprise, client, fmt, limit = _client(channel, env)
    if fmt == "markdown":
        from trialwatch.render.markdown import render_markdown

        body, body_format = render_markdown(report, limit=limit), apprise.NotifyFormat.MARKDOWN
    elif fmt == "html":
        from trialwatch.render.html import render_html

        body, body_format = render_html(report, title), apprise.NotifyFormat.HTML
    else:
        from trialwatch.render.common import summary_line
        from trialwatch.render.text import render_text

        head = "\n".join([summary_line(report), *report.notes])
        body, body_format = f"{head}\n\n{render_text(report)}", apprise.NotifyFormat.TEXT
        if len(body) > limit:
            cut = "\n… cut to fit the service's limit; trialwatch check --format json has all.\n"
            body = body[: limit - len(cut)] + cut
    return _notify(channel, apprise, client, body, title, body_format)


def send_text(
    channel: Channel,
    title: str,
    text: str,
    markdown: str,
    html: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """Send a message given in each format; the service gets the one it renders (cut to its
    limit)."""
    apprise, client, fmt, limit = _client(channel, env)
    if fmt == "markdown":
        body, body_format = markdown, apprise.NotifyFormat.MARKDOWN
    elif fmt == "html":
        body, body_format = html, apprise.NotifyFormat.HTML
    else:
        body, body_format = text, apprise.NotifyFormat.TEXT
    if len(body) > limit:
        cut = "\n… cut to fit the service's limit.\n"
        body = body[: limit - len(cut)] + cut
    return _notify(channel, apprise, client, body, title, body_format)
