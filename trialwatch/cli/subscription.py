"""trialwatch subscription add|list|show|remove|send: slices of the registry, each with its own
rule, people and pace."""

import sys
from typing import Annotated, Any

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    EXIT_TROUBLE,
    ConfigOpt,
    StoreOpt,
    group,
    load,
    option_flags,
    say,
)
from trialwatch.errors import InputError

subscription_app = group(
    "subscription",
    "Subscriptions: a slice of the registry (a sponsor, a condition, a search, trials…) "
    "with its own rule, its own people and its own pace; told at the end of check, sync and "
    "worker runs, and by `trialwatch subscription send`.",
    no_args_is_help=True,
)

Many = list[str] | None


def _many(name: str, help_: str, metavar: str = "TEXT") -> Any:
    return typer.Option(name, metavar=metavar, help=help_ + " Repeatable.")


@subscription_app.command("add")
def subscription_add(
    name: Annotated[str, typer.Argument(help="Its name (also its page's and feed's).")],
    title: Annotated[str | None, typer.Option("--title", help="A title in words.")] = None,
    sponsor: Annotated[
        Many, _many("--sponsor", "Lead sponsor or collaborator, whole words.")
    ] = None,
    condition: Annotated[Many, _many("--condition", "A condition or keyword, whole words.")] = None,
    intervention: Annotated[Many, _many("--intervention", "An intervention, whole words.")] = None,
    phase: Annotated[Many, _many("--phase", "A phase (2, 3, PHASE3, early phase 1).")] = None,
    status: Annotated[
        Many, _many("--status", "An overall status (recruiting, TERMINATED…).")
    ] = None,
    country: Annotated[Many, _many("--country", "A country of a site.")] = None,
    search: Annotated[
        Many, _many("--search", "A search parameter (query.cond=asthma); also watched.", "P=V")
    ] = None,
    trial: Annotated[Many, _many("--trial", "A trial the slice holds.", "NCT_ID")] = None,
    when: Annotated[
        str | None,
        typer.Option(
            "--when",
            metavar="RULE",
            help="What is material, e.g. 'type == \"status_changed\" or change_pct <= -20'.",
        ),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="Only events at least this severe: high, medium, low."),
    ] = None,
    notify: Annotated[
        Many, _many("--notify", "A mail address or an Apprise URL (json://…, slack://…).", "URL")
    ] = None,
    webhook: Annotated[
        Many,
        _many(
            "--webhook", "A signed webhook's URL (Standard Webhooks); needs --secret-env.", "URL"
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="NAME",
            help="The variable that holds the webhooks' signing secret (never the secret).",
        ),
    ] = None,
    every: Annotated[
        str, typer.Option("--every", help="run (each run), day or week: one digest a period.")
    ] = "run",
    owners: Annotated[
        bool,
        typer.Option(
            "--owners",
            help="Also tell each person of the config's [owners] the events of the trials "
            "they answer for.",
        ),
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a subscription, kept in the store (shared by everyone using it). It is told what is
    stored from now on, never the trials' first baselines."""
    from trialwatch.usecases.subscriptions import add_subscription

    entry: dict[str, Any] = {"name": name}
    for key, value in (
        ("title", title), ("sponsor", sponsor), ("condition", condition),
        ("intervention", intervention), ("phase", phase), ("status", status),
        ("country", country), ("trials", trial), ("when", when), ("severity", severity),
        ("notify", notify),
    ):  # fmt: skip
        if value:
            entry[key] = value
    if webhook:
        if not secret_env:
            raise InputError("--webhook needs --secret-env NAME: the variable with its secret")
        hooks: list[Any] = [{"webhook": u, "secret_env": secret_env} for u in webhook]
        entry["notify"] = [*entry.get("notify", []), *hooks]
    if every != "run":
        entry["every"] = every
    if owners:
        entry["owners"] = True
    if search:
        pairs = [p.split("=", 1) for p in search]
        if any(len(p) != 2 or not p[0].strip() for p in pairs):
            raise InputError("--search wants PARAMETER=VALUE, e.g. --search query.cond=asthma")
        entry["search"] = {k.strip(): v.strip() for k, v in pairs}
    settings = load(option_flags(store=store), config)
    sub = add_subscription(settings, entry)
    say(f"trialwatch: subscription {sub.name!r} added: {sub.describe()}")
    if not sub.notify and not sub.owners:
        say("trialwatch: it tells no one yet: add --notify ADDRESS_OR_URL")
    raise typer.Exit(EXIT_OK)


@subscription_app.command("remove")
def subscription_remove(
    name: Annotated[str, typer.Argument(help="The subscription's name.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove a subscription added by command (those in the config are edited there)."""
    from trialwatch.usecases.subscriptions import remove_subscription

    sub = remove_subscription(load(option_flags(store=store), config), name)
    say(f"trialwatch: subscription {sub.name!r} removed")
    raise typer.Exit(EXIT_OK)


@subscription_app.command("list")
def subscription_list(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json")] = "text",
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every subscription: the config's and the store's."""
    from trialwatch.sanitize import dumps, terminal
    from trialwatch.usecases.subscriptions import list_subscriptions

    subs = list_subscriptions(load(option_flags(store=store), config))
    if fmt == "json":
        data = [{**s.to_toml(), "kept_in": s.source} for s in subs]
        sys.stdout.write(dumps({"subscriptions": data}, indent=2) + "\n")
    elif fmt == "text":
        if not subs:
            sys.stdout.write("No subscriptions (trialwatch subscription add NAME --sponsor …).\n")
        for s in subs:
            told = ", ".join(s.notify) or "no one yet"
            sys.stdout.write(
                terminal(
                    f"{s.name}"
                    + (f"  {s.title}" if s.title else "")
                    + f"\n  {s.describe()}\n  tells {told}, every {s.every}"
                )
                + (terminal(f"; rule: {s.when.text}") if s.when else "")
                + f"\n  kept in the {s.source}\n"
            )
    else:
        raise InputError(f"--format is text or json, not {fmt!r}")
    raise typer.Exit(EXIT_OK)


@subscription_app.command("show")
def subscription_show(
    name: Annotated[str, typer.Argument(help="The subscription's name.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json")] = "text",
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Which trials the slice holds now, and what each of its addresses was last told."""
    from trialwatch.sanitize import dumps, terminal
    from trialwatch.usecases.subscriptions import show_subscription

    shown = show_subscription(load(option_flags(store=store), config), name)
    s = shown.sub
    if fmt == "json":
        data = {
            **s.to_toml(),
            "kept_in": s.source,
            "trials": [{"nct_id": n, "title": t} for n, t in shown.trials],
            "outbox": [{"to": t, **state} for t, state in shown.outbox],
            "note": shown.note,
        }
        sys.stdout.write(dumps(data, indent=2) + "\n")
        raise typer.Exit(EXIT_OK)
    out = [s.name + (f": {s.title}" if s.title else ""), f"  slice: {s.describe()}"]
    if s.when:
        out.append(f"  rule: {s.when.text}")
    out.append(f"  at least {s.severity.value}; every {s.every}; kept in the {s.source}")
    n = len(shown.trials)
    out.append(f"  holds {n} trial{'s' if n != 1 else ''} now" + (":" if n else ""))
    out += [f"    {nct}  {title or ''}".rstrip() for nct, title in shown.trials[:50]]
    if n > 50:
        out.append(f"    … and {n - 50} more (--format json lists them all)")
    if shown.note:
        out.append(f"  note: {shown.note}")
    for target, state in shown.outbox:
        if not state:
            out.append(f"  {target}: nothing told yet")
            continue
        last = state.get("sent_at") or "never"
        told = state.get("told", 0)
        line = f"  {target}: last told {last}, {told} event{'s' if told != 1 else ''} in all"
        if state.get("error"):
            line += f"; the last try failed: {state['error']}"
        out.append(line)
    if not s.notify:
        out.append("  tells no one yet")
    sys.stdout.write(terminal("\n".join(out)) + "\n")
    raise typer.Exit(EXIT_OK)


@subscription_app.command("send")
def subscription_send(
    name: Annotated[str | None, typer.Argument(help="One subscription (default: all).")] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Send day and week digests now, even if one went out.")
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send the digests that are due (what check, sync and worker runs do at their end).
    Exit 0 sent or nothing to send, 2 a delivery failed (it is sent next time)."""
    from trialwatch.usecases.subscriptions import problems, send_subscriptions

    sent = send_subscriptions(load(option_flags(store=store), config), name, now)
    for s in sent:
        if s.told:
            say(f"trialwatch: {s.subscription}: told {s.target} {s.told} event(s)")
    failed = problems(sent)
    for line in failed:
        say(f"trialwatch: error: {line}")
    raise typer.Exit(EXIT_TROUBLE if failed else EXIT_OK)
