"""trialwatch history and trialwatch backfill: a trial's whole life, from the registry's
versions."""

import re
import sys
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    EXIT_TROUBLE,
    ConfigOpt,
    HistoryUrl,
    QuietOpt,
    StoreOpt,
    TableFormatOpt,
    VerboseOpt,
    app,
    complete_watched,
    load,
    option_flags,
    setup_logging,
)
from trialwatch.cli.formats import HistoryFormat, TableFormat
from trialwatch.errors import InputError


@app.command("history")
def history_command(
    nct_id: Annotated[
        str,
        typer.Argument(
            metavar="NCT_ID", help="A trial with snapshots.", autocompletion=complete_watched
        ),
    ],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[
        HistoryFormat, typer.Option("--format", "-f", help="text, json, markdown or html")
    ] = HistoryFormat.text,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="Only versions made on or after DATE."),
    ] = None,
    original: Annotated[
        bool,
        typer.Option("--original", help="Also compare the original registration with now."),
    ] = False,
) -> None:
    """Tell a trial's whole life: every version (the registry's, after backfill, and the
    snapshots check took), what changed at each, and how its dates and status moved."""
    from trialwatch.usecases.history import run_history

    if since is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
        raise InputError(f"--since wants a date like 2024-01-31, not {since!r}")
    story = run_history(
        nct_id, load(option_flags(store=store), config), since=since, original=original
    )
    if fmt is HistoryFormat.json:
        from trialwatch.timeline.render import render_json as render
    elif fmt is HistoryFormat.markdown:
        from trialwatch.timeline.render import render_markdown as render
    elif fmt is HistoryFormat.html:
        import datetime as dt
        from functools import partial

        from trialwatch.timeline.svg import render_html

        render = partial(render_html, today=dt.date.today())  # the current status runs to today
    else:
        from trialwatch.timeline.render import render_text as render
    sys.stdout.write(render(story))
    raise typer.Exit(EXIT_OK)


@app.command("backfill")
def backfill_command(
    nct_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NCT_ID]...", help="Trials to backfill.", autocompletion=complete_watched
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every trial on the watch list and in the config.")
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    history_url: HistoryUrl = None,
    fmt: TableFormatOpt = TableFormat.table,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Store every version the registry keeps of a trial (its history since registration).
    Safe to run again: only the versions not yet stored are fetched."""
    setup_logging(verbose, quiet)
    from trialwatch.usecases.history import run_backfill

    results = run_backfill(
        list(nct_ids or []),
        load(option_flags(store=store, history_url=history_url), config),
        every_watched=every,
        interactive=sys.stderr.isatty() and not quiet,
    )
    if fmt is TableFormat.json:
        from trialwatch.sanitize import dumps

        sys.stdout.write(dumps([r.to_json() for r in results], indent=2) + "\n")
    elif not quiet or any(not r.ok for r in results):
        from trialwatch.sanitize import terminal

        for r in results:
            sys.stdout.write(terminal(r.line()) + "\n")
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_TROUBLE)
