"""trialwatch export: every change as files anyone can load (Parquet or JSON Lines)."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    ConfigOpt,
    QuietOpt,
    StoreOpt,
    VerboseOpt,
    app,
    load,
    option_flags,
    parse_day,
    say,
    setup_logging,
)
from trialwatch.cli.formats import ExportFormat


@app.command()
def export(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Where the dataset goes.")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="parquet or jsonl.")
    ] = ExportFormat.parquet,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DATE", help="Only the days stored on or after DATE (the rest kept)."
        ),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Every change as a dataset: event rows by the day stored (events/date=…/part-0.…), the
    trials' current state, the stored versions, the trials that left the registry, and
    manifest.json (every file, its rows and sha256, the cursor range). Readable as it is by
    DuckDB, pandas and R's arrow. A second export writes again only the days that changed."""
    setup_logging(verbose, quiet)
    from trialwatch.usecases.export import run_export

    parse_day(since, "--since")
    done = run_export(out_dir, load(option_flags(store=store), config), fmt.value, since)
    if not quiet:
        cursor = f", cursor {done.cursor[0]}–{done.cursor[1]}" if done.cursor else ""
        say(
            f"trialwatch: exported {done.rows:,} event rows to {done.out}{cursor}: "
            f"{len(done.written)} files written, {len(done.kept)} unchanged"
        )
    sys.stdout.flush()
    raise typer.Exit(EXIT_OK)
