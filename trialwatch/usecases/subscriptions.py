"""trialwatch subscription add|list|show|remove|send, and the delivery of subscriptions' digests
at the end of ``check``, ``sync`` and ``worker`` runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.store.open import open_store
from trialwatch.store.port import Store
from trialwatch.subscriptions import book, outbox
from trialwatch.subscriptions.digest import (
    Digest,
    render_html,
    render_markdown,
    render_text,
)
from trialwatch.subscriptions.model import Subscription, parse
from trialwatch.subscriptions.slice import members_of

log = logging.getLogger("trialwatch")


@contextlib.contextmanager
def _opened(settings: Settings) -> Iterator[Store]:
    store = open_store(settings.store)
    try:
        yield store
    finally:
        store.close()


def all_subscriptions(settings: Settings, store: Store) -> list[Subscription]:
    where = settings.sources.get("subscription", "the config")
    return book.every_subscription(settings["subscription"], store, where)


def _config_names(settings: Settings) -> set[str]:
    from trialwatch.subscriptions.model import parse_all

    entries = settings["subscription"]
    return {s.name for s in parse_all(entries, "config")} if entries else set()


def sender(settings: Settings, env: Mapping[str, str] | None = None) -> Any:
    """What sends a digest to one target: a mail address through the [email] settings, a URL
    through Apprise."""

    def send(sub: Subscription, target: str, digest: Digest) -> None:
        from trialwatch.subscriptions.model import MAILTO

        hook = sub.webhook(target)
        if hook is not None:
            from trialwatch.notify.channels import Channel
            from trialwatch.outputs.webhook import WebhookOutput
            from trialwatch.subscriptions.digest import payload

            url, secret_env = hook
            channel = Channel(f"webhook {url}", f"subscription:{sub.name}", url, None, (),
                              secret_env)  # fmt: skip
            WebhookOutput(channel, None, env).post(*payload(digest))
            return

        found = MAILTO.match(target)
        if found:
            from trialwatch.notify.mail import mail_settings, new_message
            from trialwatch.notify.mail import send as send_mail

            mail = mail_settings({**settings["email"], "to": [found.group(2)]})
            msg = new_message(mail, digest.subject(mail.subject_prefix))
            msg.set_content(render_text(digest), cte="quoted-printable")
            msg.add_alternative(render_html(digest), subtype="html", cte="quoted-printable")
            send_mail(msg, mail, env)
            return
        import hashlib

        from trialwatch.notify.channels import Channel, send_text

        key = hashlib.sha256(target.encode()).hexdigest()[:10]
        channel = Channel(f"subscription {sub.name}", f"subscription:{key}", target, None)
        send_text(
            channel,
            digest.subject("trialwatch:"),
            render_text(digest),
            render_markdown(digest),
            render_html(digest),
            env,
        )

    return send


def deliver_subscriptions(
    settings: Settings,
    store: Store,
    start: int,
    *,
    force: bool = False,
    only: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[outbox.Sent]:
    """Send every subscription's due digests (``only``: one subscription's)."""

    table = settings.owners
    subs = [s for s in all_subscriptions(settings, store) if s.notify or (s.owners and table)]
    if only is not None:
        subs = [s for s in subs if s.name == only]
    if not subs:
        return []
    return outbox.deliver(
        store, subs, sender(settings, env), start=start, force=force, owners=table,
        site_url=str(settings["site_url"]),
    )  # fmt: skip


def problems(sent: list[outbox.Sent]) -> list[str]:
    """The deliveries that failed, in words (the events wait in the outbox)."""
    return [
        f"subscription {s.subscription}: {s.target}: {s.error}; it is sent next time"
        for s in sent
        if s.error
    ]


# -- the commands ---------------------------------------------------------------------------------


def add_subscription(settings: Settings, entry: dict[str, Any]) -> Subscription:
    """Keep a subscription in the store (its events start now); a search slice becomes a
    search watch too."""
    sub = parse(entry, "trialwatch subscription add", "store")
    with _opened(settings) as store:
        book.add(store, sub, _config_names(settings))
        outbox.begin(store, sub, settings.owners, outbox.last_position(store))
    if sub.search:
        from trialwatch.search.query import build
        from trialwatch.store.watchlist import add_query

        add_query(settings.watchlist, build(list(sub.search), sub.title or sub.name))
    return sub


def remove_subscription(settings: Settings, name: str) -> Subscription:
    with _opened(settings) as store:
        return book.remove(store, name, _config_names(settings))


def list_subscriptions(settings: Settings) -> list[Subscription]:
    with _opened(settings) as store:
        return all_subscriptions(settings, store)


@dataclass
class Shown:
    sub: Subscription
    trials: list[tuple[str, str | None]]  # (trial, title) the slice holds now
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    note: str | None = None


def show_subscription(settings: Settings, name: str) -> Shown:
    from trialwatch.changes.baseline import title_of

    with _opened(settings) as store:
        sub = next((s for s in all_subscriptions(settings, store) if s.name == name), None)
        if sub is None:
            raise InputError(f"{name!r} is not a subscription (trialwatch subscription list)")
        reader = outbox.Reader(store)
        members = reader.members(sub)
        ids = members_of(sub, store.trials(), reader.record, members)
        trials = [(n, title_of(r) if (r := reader.record(n)) is not None else None) for n in ids]
        note = None
        if sub.search and members is None:
            note = "its search was never checked: trialwatch check runs it"

        table = settings.owners
        return Shown(sub, trials, outbox.status(store, sub, table), note)


def send_subscriptions(settings: Settings, name: str | None, force: bool) -> list[outbox.Sent]:
    with _opened(settings) as store:
        if name is not None and name not in {s.name for s in all_subscriptions(settings, store)}:
            raise InputError(f"{name!r} is not a subscription (trialwatch subscription list)")
        return deliver_subscriptions(
            settings, store, outbox.last_position(store), force=force, only=name
        )
