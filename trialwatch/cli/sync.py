"""trialwatch sync and trialwatch worker: the whole registry kept current."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_CHANGED,
    EXIT_OK,
    EXIT_TROUBLE,
    ApiUrl,
    ConfigOpt,
    QuietOpt,
    StoreOpt,
    VerboseOpt,
    app,
    load,
    option_flags,
    say,
    setup_logging,
)
from trialwatch.cli.formats import SyncFormat
from trialwatch.errors import InputError


@app.command()
def sync(
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            metavar="FILE",
            help="Start from the registry's bulk file (ctg-studies.json.zip, or the website's "
            "JSON download).",
        ),
    ] = None,
    download: Annotated[
        bool,
        typer.Option("--download", help="Fetch the registry's bulk file first and start from it."),
    ] = False,
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            metavar="NAME=VALUE",
            help="Sync a population, not the whole registry (cond=asthma…, or a search URL). "
            "Repeatable; given on the first sync only.",
        ),
    ] = None,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep", help="List the registry's ids now to find trials that left it (weekly)."
        ),
    ] = False,
    no_work: Annotated[
        bool,
        typer.Option(
            "--no-work", help="Only queue what moved; trialwatch worker processes compare it."
        ),
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show how far the sync and its workers are, only.")
    ] = False,
    fmt: Annotated[SyncFormat, typer.Option("--format", "-f", help="text or json.")] = (
        SyncFormat.text
    ),
    store: StoreOpt = None,
    config: ConfigOpt = None,
    api_url: ApiUrl = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Keep the whole registry (or a population of it) current in the store: every change of
    every trial stored as rows that trialwatch events and SQL read. The first sync starts from
    the bulk file; later ones ask only for what moved since."""
    setup_logging(verbose, quiet)
    from trialwatch.render import sync as render

    flags = option_flags(store=store, api_url=api_url)
    if status:
        from trialwatch.usecases.sync import sync_status

        state, progress = sync_status(load(flags, config))
        if fmt is SyncFormat.json:
            sys.stdout.write(render.status_json(state, progress))
        else:
            sys.stdout.write(render.status_text(state, progress, bar=sys.stdout.isatty()))
        raise typer.Exit(EXIT_OK if not progress.failed else EXIT_TROUBLE)
    if from_file is not None and download:
        raise InputError("give --from-file or --download, not both")
    from trialwatch.usecases.sync import run_sync

    report = run_sync(
        load(flags, config), from_file=from_file, download=download, query=query,
        sweep=sweep,
        work=not no_work, interactive=sys.stderr.isatty() and not quiet,
    )  # fmt: skip
    t = report.tally
    if fmt is SyncFormat.json:
        sys.stdout.write(render.report_json(report))
    elif not quiet or t.changed or t.gone or t.errors:
        sys.stdout.write(render.report_text(report))
    for line in t.undelivered:
        say(f"trialwatch: error: {line}")
    if t.errors or t.undelivered:
        raise typer.Exit(EXIT_TROUBLE)
    raise typer.Exit(EXIT_CHANGED if t.changed or t.gone else EXIT_OK)


@app.command()
def worker(
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="Once the queue is empty, keep looking for new work this long (default: stop).",
        ),
    ] = 0.0,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", help="Compare at most N trials, then stop."),
    ] = None,
    fmt: Annotated[SyncFormat, typer.Option("--format", "-f", help="text or json.")] = (
        SyncFormat.text
    ),
    store: StoreOpt = None,
    config: ConfigOpt = None,
    api_url: ApiUrl = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Compare the trials a sync queued, beside any number of other workers on this store (one
    machine or several on one PostgreSQL), all keeping one request pace."""
    setup_logging(verbose, quiet)
    from trialwatch.render import sync as render
    from trialwatch.usecases.sync import run_worker

    tally = run_worker(
        load(option_flags(store=store, api_url=api_url), config), wait=wait, limit=limit,
        interactive=sys.stderr.isatty() and not quiet,
    )  # fmt: skip
    if fmt is SyncFormat.json:
        from trialwatch.sanitize import dumps

        sys.stdout.write(dumps({"schema": render.SCHEMA, **render.tally_json(tally)}, indent=2))
        sys.stdout.write("\n")
    elif not quiet or tally.changed or tally.gone or tally.errors:
        sys.stdout.write(render.worker_text(tally))
    for line in tally.undelivered:
        say(f"trialwatch: error: {line}")
    if tally.errors or tally.undelivered:
        raise typer.Exit(EXIT_TROUBLE)
    raise typer.Exit(EXIT_CHANGED if tally.changed or tally.gone else EXIT_OK)
