"""A subscription: a named slice of the registry with its own rule, its own people and its own
pace. Written in the config (``[[subscription]]``) or added by ``trialwatch subscription add``
(kept in the store); the same keys either way::

    [[subscription]]
    name = "acme"                      # its page's and feed's name too
    title = "Acme's oncology trials"
    sponsor = "Acme Oncology"          # lead sponsor or collaborator, whole words
    condition = ["gastric cancer"]     # any of: trials, search, sponsor, condition,
                                       # intervention, phase, status, country
    when = 'type == "enrollment_changed" and change_pct <= -20 or type == "status_changed"'
    severity = "medium"                # at least this severe (high, medium, low, noise)
    notify = ["mailto:ci@example.org", "json://hooks.example.org/acme",
              { webhook = "https://hooks.example.org/trials", secret_env = "ACME_HOOK_SECRET" }]
    every = "run"                      # or "day", "week": one digest a period
    owners = true                      # also each person of [owners], their trials' events

A trial is in the slice when it is one of ``trials``, a member of the ``search`` (a search
watch), or matches every field given (each field: any of its values, every word of a value a
whole word of the trial's, case-insensitive)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trialwatch.errors import ConfigError
from trialwatch.subscriptions.rules import Rule, compile_rule
from trialwatch.subscriptions.severity import Severity

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
FIELD_KEYS = ("sponsor", "condition", "intervention", "phase", "status", "country")
KEYS = {
    "name", "title", "trials", "search", *FIELD_KEYS, "when", "severity", "notify", "every",
    "owners",
}  # fmt: skip
EVERY = ("run", "day", "week")
MAILTO = re.compile(r"^(mailto:)?([^@\s:/]+@[^@\s/]+)$", re.I)
WEBHOOK = "signed webhook "  # the target name of a signed webhook: this and its URL
CREDENTIALS = re.compile(r"^[a-z0-9+.-]+://[^/@\s]*:[^/@\s]+@", re.I)  # user:password@host


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    title: str | None = None
    trials: tuple[str, ...] = ()
    search: tuple[tuple[str, str], ...] = ()  # the search's parameters
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("sponsor", ("Acme Oncology",))
    when: Rule | None = None
    severity: Severity = Severity.LOW  # the least severe an event may be to be told
    notify: tuple[str, ...] = ()
    every: str = "run"
    source: str = "config"  # where it was written: "config" or "store"
    # Also tell each person of the config's [owners] the events of the trials they answer for
    # (a record's responsible party or overall officials).
    owners: bool = False
    # Signed webhooks among ``notify``: (URL, the variable holding the signing secret); each is
    # in ``notify`` as WEBHOOK + URL, its target's name.
    webhooks: tuple[tuple[str, str], ...] = ()

    def webhook(self, target: str) -> tuple[str, str] | None:
        """The (URL, secret variable) of a signed-webhook target, else None."""
        return next(((u, e) for u, e in self.webhooks if WEBHOOK + u == target), None)

    @property
    def label(self) -> str:
        return self.title or self.name

    def field(self, key: str) -> tuple[str, ...]:
        return dict(self.fields).get(key, ())

    @property
    def addresses(self) -> list[str]:
        """The mail addresses among ``notify``."""
        out = []
        for target in self.notify:
            m = MAILTO.match(target)
            if m:
                out.append(m.group(2))
        return out

    def to_toml(self) -> dict[str, Any]:
        """The subscription as its config table (what ``subscription add`` keeps)."""
        out: dict[str, Any] = {"name": self.name}
        if self.title:
            out["title"] = self.title
        if self.trials:
            out["trials"] = list(self.trials)
        if self.search:
            out["search"] = dict(self.search)
        for key, values in self.fields:
            out[key] = values[0] if len(values) == 1 else list(values)
        if self.when is not None:
            out["when"] = self.when.text
        if self.severity is not Severity.LOW:
            out["severity"] = self.severity.value
        if self.notify:
            out["notify"] = [
                {"webhook": hook[0], "secret_env": hook[1]}
                if (hook := self.webhook(target)) is not None
                else target
                for target in self.notify
            ]
        if self.every != "run":
            out["every"] = self.every
        if self.owners:
            out["owners"] = True
        return out

    def describe(self) -> str:
        """The slice in words: "sponsor Acme Oncology; condition gastric cancer"."""
        parts = []
        if self.trials:
            parts.append(f"{len(self.trials)} trial{'s' if len(self.trials) != 1 else ''} named")
        if self.search:
            parts.append("search " + ", ".join(f"{k}={v}" for k, v in self.search))
        parts += [f"{k} {' or '.join(v)}" for k, v in self.fields]
        return "; ".join(parts) or "every trial of the store"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"{where} must be a string or a list of strings")
    return tuple(" ".join(v.split()) for v in values)


def parse(entry: Any, where: str, source: str = "config") -> Subscription:
    """A subscription from its table; ConfigError naming the key that is wrong."""
    from trialwatch.ids import normalize_nct_id

    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a subscription must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            f"{where}: a subscription needs a name of lower-case letters, digits, - and _ "
            f"(it names its page and feed), not {name!r}"
        )
    here = f'{where}: subscription "{name}"'
    unknown = set(entry) - KEYS
    if unknown:
        raise ConfigError(
            f"{here}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}"
        )
    title = entry.get("title")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{here}: title must be a string")
    trials: tuple[str, ...] = ()
    if "trials" in entry:
        try:
            trials = tuple(
                normalize_nct_id(t) for t in _strings(entry["trials"], f"{here}: trials")
            )
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"{here}: trials: {exc}") from None
    search: tuple[tuple[str, str], ...] = ()
    if "search" in entry:
        params = entry["search"]
        if not isinstance(params, dict) or not params:
            raise ConfigError(f'{here}: search must be a table, e.g. {{ "query.cond" = "asthma" }}')
        search = tuple(sorted((str(k), str(v)) for k, v in params.items()))
    fields = tuple(
        (key, _strings(entry[key], f"{here}: {key}")) for key in FIELD_KEYS if key in entry
    )
    when = compile_rule(entry["when"], here) if "when" in entry else None
    try:
        floor = Severity(entry.get("severity", "low"))
    except ValueError:
        raise ConfigError(f"{here}: severity must be high, medium, low or noise") from None
    raw = entry.get("notify") or []
    raw = [raw] if isinstance(raw, str | dict) else raw
    if not isinstance(raw, list):
        raise ConfigError(f"{here}: notify must be a list of addresses, URLs or webhook tables")
    webhooks = tuple(_webhook(e, here) for e in raw if isinstance(e, dict))
    notify = tuple(
        [WEBHOOK + url for url, _ in webhooks]
        + list(_strings([e for e in raw if not isinstance(e, dict)], f"{here}: notify"))
    )
    for target in notify:
        if CREDENTIALS.match(target.removeprefix(WEBHOOK)):
            raise ConfigError(
                f"{here}: notify {target.removeprefix(WEBHOOK)!r} has a password in it; a "
                "subscription's targets are shared with everyone using the store"
            )
        if target.startswith(WEBHOOK):
            continue
        if not MAILTO.match(target) and "://" not in target:
            raise ConfigError(
                f"{here}: notify {target!r} is neither a mail address nor a URL "
                "(mailto:ci@example.org, json://hooks.example.org/acme, slack://…)"
            )
    every = entry.get("every", "run")
    if every not in EVERY:
        raise ConfigError(f"{here}: every must be run, day or week, not {every!r}")
    owners = entry.get("owners", False)
    if not isinstance(owners, bool):
        raise ConfigError(f"{here}: owners must be true or false")
    return Subscription(
        name, title, trials, search, fields, when, floor, notify, every, source, owners,
        webhooks,
    )  # fmt: skip


def _webhook(entry: dict[str, Any], here: str) -> tuple[str, str]:
    """``{ webhook = "https://…", secret_env = "NAME" }``: a signed webhook (Standard
    Webhooks), the secret read from the variable at send time, never from the file."""
    unknown = set(entry) - {"webhook", "secret_env"}
    url, secret_env = entry.get("webhook"), entry.get("secret_env")
    if unknown or not isinstance(url, str) or not re.match(r"^https?://\S+$", url, re.I):
        raise ConfigError(
            f"{here}: a notify table is a signed webhook: "
            '{ webhook = "https://…", secret_env = "NAME" }'
        )
    if not isinstance(secret_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        raise ConfigError(
            f"{here}: the webhook {url} needs secret_env, the name of the variable that holds "
            "its signing secret"
        )
    return url, secret_env


def parse_all(entries: Any, where: str, source: str = "config") -> list[Subscription]:
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: subscription must be a list of tables ([[subscription]])")
    found = [parse(e, f"{where}: subscription {i}", source) for i, e in enumerate(entries, 1)]
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: subscription {twice[0]!r} is named twice")
    return found


@dataclass
class Facets:
    """What a slice is matched against, read from a trial's latest record."""

    sponsor: list[str] = field(default_factory=list)  # lead sponsor, then collaborators
    condition: list[str] = field(default_factory=list)
    intervention: list[str] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)  # PHASE2…
    status: str | None = None
    country: list[str] = field(default_factory=list)
