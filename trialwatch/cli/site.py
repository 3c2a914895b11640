"""trialwatch site: the watch as pages and Atom feeds."""

from pathlib import Path
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    EXIT_TROUBLE,
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


@app.command()
def site(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to write it to.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild every page, not only those that changed.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="DATE", help="Read signals as of DATE (default: today)."),
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Build a static site of the watch: an index, a page and an Atom feed per trial and search,
    and a feed of every change. From the store only; opens from file:// or any web server."""

    setup_logging(verbose, quiet)
    from trialwatch.usecases.site import run_site

    day = parse_day(today)
    built = run_site(out_dir, load(option_flags(store=store), config), full=full, as_of=day)
    for problem in built.problems:
        say(f"trialwatch: error: {problem}")
    if not quiet:
        from trialwatch.changes.sentences import counted

        say(
            f"trialwatch: site in {built.out}: {counted(built.trials, 'trial')}, "
            f"{counted(built.searches, 'search', 'searches')}; "
            f"{counted(built.written, 'page')} written, {built.kept} unchanged, in "
            f"{built.seconds:.1f}s "
            f"(open {built.out / 'index.html'})"
        )
    raise typer.Exit(EXIT_TROUBLE if built.problems else EXIT_OK)
