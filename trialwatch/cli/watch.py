"""trialwatch watch add|remove|list: the watched trials and searches."""

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialwatch.cli.formats import TableFormat
from trialwatch.errors import InputError

if TYPE_CHECKING:
    from trialwatch.store.watchlist import Watched
from trialwatch.cli.common import (
    EXIT_OK,
    EXIT_TROUBLE,
    ApiUrl,
    ConfigOpt,
    StoreOpt,
    TableFormatOpt,
    complete_watched,
    group,
    load,
    option_flags,
    say,
    when_words,
)

watch_app = group(
    "watch",
    "Manage the watched-trials list that `trialwatch check` (with no ids) checks.",
    no_args_is_help=True,
)


QueryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--query",
        metavar="NAME=VALUE|URL",
        help="Watch a search instead of ids: cond=…, term=…, intr=…, status=…, or a URL copied "
        "from the registry's search page. Repeatable.",
    ),
]


@watch_app.command("add")
def watch_add(
    nct_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[NCT_ID]...", help="Trials to watch.")
    ] = None,
    query: QueryOpt = None,
    label: Annotated[str | None, typer.Option("--label", help="A short name of your own.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note of your own.")] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not look the trial up in the registry.")
    ] = False,
    api_url: ApiUrl = None,
    config: ConfigOpt = None,
) -> None:
    """Add trials, or a search (--query), to the watch list. Each trial is looked up in the
    registry first, to show its title (and refuse an id the registry does not know)."""
    from trialwatch.store.watchlist import add
    from trialwatch.usecases.common import config_trials

    settings = load(option_flags(api_url=api_url), config)
    if query:
        from trialwatch.search.query import from_args
        from trialwatch.store.watchlist import add_query

        if nct_ids:
            raise InputError("give either NCT ids or --query, not both")
        added = add_query(settings.watchlist, from_args(query, label))
        what = (
            f"the search {added.label!r} ({added.describe()}"
            if added.label
            else f"the search for {added.describe()} ("
        )
        say(
            f"trialwatch: watching {what}{'; ' if added.label else ''}id {added.id}) in "
            f"{settings.watchlist}; its first check records its members"
        )
        raise typer.Exit(EXIT_OK)
    if not nct_ids:
        raise InputError("say what to watch: NCT ids, or --query 'cond=…'")
    from trialwatch.ids import missing_digit
    from trialwatch.usecases.watch import title_check

    def add_one(raw: str) -> "Watched":
        warning = missing_digit(raw)
        if warning:
            say(f"trialwatch: warning: {warning}")
        if not offline:
            found = title_check(settings, raw)  # InputError for a trial not in the registry
            if found:
                say(f"trialwatch: {found}")
        return add(settings.watchlist, raw, label, note, config_trials(settings))

    raise typer.Exit(_for_each_id(nct_ids, add_one, f"watching {{}} (in {settings.watchlist})"))


@watch_app.command("remove")
def watch_remove(
    nct_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NCT_ID]...", help="Trials to drop.", autocompletion=complete_watched
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", metavar="LABEL|ID", help="Stop watching this search."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Remove trials, or a search (--query LABEL), from the watch list (snapshots are kept)."""
    from trialwatch.store.watchlist import remove
    from trialwatch.usecases.common import config_trials

    settings = load({}, config)
    if query:
        from trialwatch.store.watchlist import remove_query

        gone = remove_query(settings.watchlist, query)
        say(f"trialwatch: no longer watching the search {gone.name!r}")
        raise typer.Exit(EXIT_OK)
    if not nct_ids:
        raise InputError("say what to stop watching: NCT ids, or --query LABEL")
    raise typer.Exit(
        _for_each_id(
            nct_ids,
            lambda raw: remove(settings.watchlist, raw, config_trials(settings)),
            "no longer watching {}",
        )
    )


def _for_each_id(nct_ids: list[str], action: "Callable[[str], Watched]", done: str) -> int:
    """Apply a watch-list action to each id; a refused id is said and the others still go."""
    code = EXIT_OK
    for raw in nct_ids:
        try:
            watched = action(raw)
        except InputError as exc:
            say(f"trialwatch: error: {exc}")
            code = EXIT_TROUBLE
            continue
        say("trialwatch: " + done.format(watched.nct_id))
    return code


@watch_app.command("list")
def watch_list(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Show watched trials: id, label, status, last checked, last change."""
    from trialwatch.changes.words import status_words
    from trialwatch.usecases.watch import watch_rows

    rows = watch_rows(load(option_flags(store=store), config))
    queries = [r for r in rows if r.get("query")]
    rows = [r for r in rows if not r.get("query")]
    if fmt is TableFormat.json:
        _print_rows(fmt, rows + queries, [], [])
        raise typer.Exit(EXIT_OK)
    if not rows and not queries:
        say("trialwatch: no trials watched; add some with `trialwatch watch add NCT06224738`")
        raise typer.Exit(EXIT_OK)
    if queries:
        _print_rows(
            fmt,
            queries,
            ["search", "id", "parameters", "members"],
            [[q["label"], q["id"], q["query"], q["members"]] for q in queries],
        )
    if not rows:
        raise typer.Exit(EXIT_OK)
    _print_rows(
        fmt,
        rows,
        ["id", "label", "status", "last checked", "last change"],
        [
            [
                r["id"],
                r["label"],
                status_words(r["status"]) if r["status"] else "",
                when_words(r["last_checked"]),
                when_words(r["last_changed"]),
            ]
            for r in rows
        ],
    )
    raise typer.Exit(EXIT_OK)


def _print_rows(
    fmt: TableFormat, data: list[Any], headers: list[str], cells: list[list[str | None]]
) -> None:
    """JSON of data, or a table of cells (registry text cleaned) on stdout."""
    if fmt is TableFormat.json:
        from trialwatch.sanitize import dumps

        sys.stdout.write(dumps(data, indent=2) + "\n")  # controls, C1 and bidi as escapes
        return
    from rich.table import Table
    from rich.text import Text

    from trialwatch.sanitize import terminal as clean

    table = Table(show_edge=False, pad_edge=False)
    for header in headers:
        table.add_column(header)
    for row in cells:
        table.add_row(*(Text(clean(cell or "")) for cell in row))
    from rich.console import Console

    Console(highlight=False).print(table)
