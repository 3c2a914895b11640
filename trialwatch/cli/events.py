"""trialwatch events: every stored change as rows."""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    ConfigOpt,
    StoreOpt,
    VerboseOpt,
    app,
    complete_watched,
    load,
    option_flags,
    parse_day,
    setup_logging,
)
from trialwatch.cli.formats import EventsFormat
from trialwatch.errors import InputError

if TYPE_CHECKING:
    from trialwatch.store.events import Row as EventRow


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
    seen_since: Annotated[
        str | None,
        typer.Option(
            "--seen-since",
            metavar="DATE",
            help="Changes trialwatch stored on or after DATE (--since is when the sponsor made "
            "them).",
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            metavar="CURSOR",
            min=0,
            help="Only the rows stored after CURSOR (the next_cursor a previous run printed; 0 "
            "for all), in the order they were stored.",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep printing new rows as runs store them (NDJSON), until interrupted.",
        ),
    ] = False,
    fmt: Annotated[
        EventsFormat, typer.Option("--format", "-f", help="text, json, csv or ndjson.")
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
    parse_day(seen_since, "--seen-since")
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
    filters: dict[str, Any] = {
        "since": since, "until": until, "types": types, "categories": categories,
        "trials": trials, "seen_since": seen_since,
    }  # fmt: skip
    if follow:
        if rebuild:
            raise InputError("--follow and --rebuild do not go together: rebuild first")
        from trialwatch.usecases.events import follow_events

        def out(found: "list[EventRow]") -> None:
            sys.stdout.write(render.render_ndjson_rows(found))
            sys.stdout.flush()

        follow_events(load(option_flags(store=store), config), after or 0, out, **filters)
        raise typer.Exit(EXIT_OK)
    settings = load(option_flags(store=store), config)
    rows = run_events(settings, after=after, rebuild=rebuild, **filters)
    if fmt is EventsFormat.ndjson:
        sys.stdout.write(render.render_ndjson(rows, after or 0))
    else:
        renderer = {
            EventsFormat.text: render.render_text,
            EventsFormat.json: render.render_json,
            EventsFormat.csv: render.render_csv,
        }[fmt]
        sys.stdout.write(renderer(rows))
    raise typer.Exit(EXIT_OK)
