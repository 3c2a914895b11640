"""trialwatch events: every stored change as rows."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from trialwatch.cli.formats import EventsFormat
from trialwatch.errors import InputError

if TYPE_CHECKING:
    pass
from trialwatch.cli.common import (
    EXIT_OK,
    ConfigOpt,
    StoreOpt,
    VerboseOpt,
    app,
    complete_watched,
    option_flags,
    parse_day,
    setup_logging,
)


@app.command()
def events(
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help="Changes made on or after DATE.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="DATE", help="Changes made on or before DATE.")
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="An event type (outcome_replaced, status_changed…; see the README). Repeatable.",
        ),
    ] = None,
    categories: Annotated[
        list[str] | None,
        typer.Option("--category", metavar="CATEGORY", help="status, dates, outcomes… Repeatable."),
    ] = None,
    trials: Annotated[
        list[str] | None,
        typer.Option(
            "--trial",
            metavar="NCT_ID",
            help="One trial's. Repeatable.",
            autocompletion=complete_watched,
        ),
    ] = None,
    fmt: Annotated[
        EventsFormat, typer.Option("--format", "-f", help="text, json or csv.")
    ] = EventsFormat.text,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="File the rows again from every stored snapshot first (a store from before "
            "0.5, or after changing ignore rules).",
        ),
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Every change and event trialwatch stored, as data: "every outcome switch posted this
    month" is trialwatch events --since 2026-11-01 --type outcome_replaced. Offline."""
    setup_logging(verbose, False)
    from trialwatch.model import Category, EventType
    from trialwatch.render import events as render
    from trialwatch.usecases.events import run_events

    parse_day(since, "--since")
    parse_day(until, "--until")
    known = {e.value for e in EventType} | {"added", "removed", "changed"}
    unknown = [t for t in types or [] if t not in known]
    if unknown:
        raise InputError(
            f"--type {unknown[0]!r} is no event type; the README's Events table lists them "
            "(also added, removed, changed for field changes no event explains)"
        )
    bad = [c for c in categories or [] if c not in {c.value for c in Category}]
    if bad:
        names = ", ".join(sorted(c.value for c in Category))
        raise InputError(f"--category {bad[0]!r} is no category; choose from {names}")
    rows = run_events(
        option_flags(store=store), config, since=since, until=until,
        types=types, categories=categories, trials=trials, rebuild=rebuild,
    )  # fmt: skip
    renderer = {
        EventsFormat.text: render.render_text,
        EventsFormat.json: render.render_json,
        EventsFormat.csv: render.render_csv,
    }[fmt]
    sys.stdout.write(renderer(rows))
    raise typer.Exit(EXIT_OK)
