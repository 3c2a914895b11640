"""The command line: parse options, build the objects, call the core, render, map to exit codes.

Exit codes, like diff: 0 no change, 1 changes, 2 trouble (trouble wins), 130 interrupted."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Collection
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialwatch import __version__
from trialwatch.changes.sentences import counted
from trialwatch.errors import InputError, TrialwatchError
from trialwatch.model import (
    FAIL_ON_NAMES,
    FAIL_ON_SIGNALS,
    Outcome,
    RunReport,
    TrialReport,
)

if TYPE_CHECKING:
    import datetime as dt

    from trialwatch.app import Preview
    from trialwatch.store.watchlist import Watched

EXIT_OK, EXIT_CHANGED, EXIT_TROUBLE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="trialwatch",
    help="Watch ClinicalTrials.gov records and report what changed, in words a person would use.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

log = logging.getLogger("trialwatch")


class TableFormat(StrEnum):
    table = "table"
    json = "json"


def complete_watched(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion of trial ids: the watched trials (with their labels) starting with what
    was typed. Quietly nothing when the watch list cannot be read."""
    try:
        from trialwatch.app import config_trials
        from trialwatch.config import load_settings
        from trialwatch.store.watchlist import watched_trials

        settings = load_settings()
        watched = watched_trials(settings.watchlist, config_trials(settings))
    except Exception:  # completion never prints a traceback into a shell
        return []
    typed = incomplete.upper()
    return [(w.nct_id, w.label or "") for w in watched if w.nct_id.startswith(typed)]


class Format(StrEnum):
    auto = "auto"
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"


def _say(message: str) -> None:
    """One line on stderr: plain text (messages are one line and carry no markup), so a
    command that prints no table never imports rich."""
    from trialwatch.sanitize import terminal

    try:
        sys.stderr.write(terminal(message) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: nothing left to tell
        pass


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    if quiet and not verbose:
        level = logging.ERROR
    logger = logging.getLogger("trialwatch")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("trialwatch: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"trialwatch {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Watch ClinicalTrials.gov records and report what changed."""


def exit_code(report: RunReport, fail_on: list[str] | None = None) -> int:
    if report.errors or report.warnings or any(q.error for q in report.queries):
        return EXIT_TROUBLE
    if any(t.outcome is Outcome.REMOVED for t in report.trials):
        return EXIT_CHANGED
    if not fail_on:
        news = report.changed or any(q.new or q.left for q in report.queries)
        return EXIT_CHANGED if news else EXIT_OK
    return EXIT_CHANGED if report.matches() & set(fail_on) else EXIT_OK


def emit(report: RunReport, fmt: Format, quiet: bool) -> list[TrialReport]:
    """Print the report on stdout in the chosen format (errors one line each on stderr), flush
    it, and return the trials whose reports are out. A trial whose report cannot be rendered
    becomes that trial's error; the others are still printed."""
    from trialwatch.sanitize import one_line

    text = _render_isolated(report, fmt, quiet)
    for t in report.trials:
        problem = t.error or t.warning
        if problem:
            _say(f"trialwatch: error: {one_line(t.nct_id)}: {one_line(problem)}")
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    return [t for t in report.trials if t.outcome is not Outcome.ERROR]


def _render_isolated(report: RunReport, fmt: Format, quiet: bool) -> str:
    try:
        return _render(report, fmt, quiet)
    except Exception:
        log.debug("rendering failed; finding the trial", exc_info=True)
    for i, t in enumerate(report.trials):
        try:
            _render(RunReport(report.generated_at, [t]), fmt, quiet)
        except Exception as exc:
            report.trials[i] = TrialReport(
                nct_id=t.nct_id,
                outcome=Outcome.ERROR,
                title=t.title,
                error=f"its report could not be shown ({type(exc).__name__}); it is reported "
                "again next time. Please report this",
            )
    return _render(report, fmt, quiet)


def _plain(fmt: Format) -> bool:
    """Plain text for ``--format text``, when piped, with NO_COLOR or TERM=dumb; FORCE_COLOR
    asks for colour anyway."""
    if fmt is Format.text or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return True
    if os.environ.get("FORCE_COLOR"):
        return False
    return not sys.stdout.isatty()


def _render(report: RunReport, fmt: Format, quiet: bool) -> str:
    nothing = (
        not report.changed
        and not report.by_outcome(Outcome.REMOVED)
        and not any(q.news or q.error for q in report.queries)
    )
    if quiet and nothing and fmt in (Format.auto, Format.text, Format.markdown, Format.html):
        return ""
    if fmt is Format.json:
        from trialwatch.render.json_report import render_json

        return render_json(report)
    if fmt is Format.markdown:
        from trialwatch.render.markdown import render_markdown

        return render_markdown(report)
    if fmt is Format.html:
        from trialwatch.render.html import render_html

        return render_html(report)
    shown = RunReport(
        report.generated_at,
        [t for t in report.trials if t.error is None],
        report.data_timestamp,
        report.notes,
        report.skipped,
        report.queries,
    )
    if _plain(fmt):  # decided without importing rich: piped output never pays for it
        from trialwatch.render.text import render_text

        return render_text(shown, quiet=quiet)
    from rich.console import Console

    from trialwatch.render.text import print_terminal

    out = Console(highlight=False, soft_wrap=True, force_terminal=True)

    with out.capture() as captured:
        print_terminal(out, shown, quiet=quiet)
    return captured.get()


def _summary(report: RunReport, quiet: bool) -> None:
    from trialwatch.render.common import summary_line

    if quiet:  # for cron: stderr carries trouble only (said where it happens), never notes
        return
    for note in report.notes:
        _say(f"trialwatch: {note}")
    if report.skipped:
        return
    if len(report.trials) > 1 or report.data_timestamp:
        _say(f"trialwatch: {summary_line(report)}")


def parse_ids(raw_ids: list[str]) -> tuple[list[str], list[TrialReport]]:
    """Valid ids (normalised, in order, once each) and an error report for each bad one."""
    from trialwatch.registry.ids import normalize_nct_id

    good: list[str] = []
    bad: list[TrialReport] = []
    for raw in raw_ids:
        try:
            nct = normalize_nct_id(raw)
        except InputError as exc:
            bad.append(
                TrialReport(nct_id=raw.strip()[:40] or "''", outcome=Outcome.ERROR, error=str(exc))
            )
            continue
        if nct not in good:
            good.append(nct)
    return good, bad


# Options shared by commands.
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        help="API base URL [env TRIALWATCH_API_URL; default https://clinicaltrials.gov/api/v2]",
    ),
]
HistoryUrl = Annotated[
    str | None,
    typer.Option(
        "--history-url",
        metavar="URL",
        help="Version history base URL [env TRIALWATCH_HISTORY_URL; "
        "default https://clinicaltrials.gov/api/int]",
    ),
]


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="DIR|URL",
        help="Snapshot folder, or a PostgreSQL URL (postgresql://…) [env TRIALWATCH_STORE; "
        "default ./snapshots]",
    ),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Config file [env TRIALWATCH_CONFIG; default ./trialwatch.toml]",
    ),
]
FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format",
        "-f",
        help="Output format; auto is colour on a terminal and plain text otherwise.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing when nothing changed (for cron).")
]
VerboseOpt = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr (-vv for debug).")
]
AdminOpt = Annotated[
    bool | None,
    typer.Option(
        "--show-admin/--hide-admin",
        help="Also report registry bookkeeping (derived data, update dates).",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        metavar="PATH",
        help="Field path whose changes are not reported (repeatable), as the JSON report "
        "prints it, with wildcards: contactsLocationsModule.centralContacts, *.contacts, "
        "locations[*].contacts",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="An ignore pattern that names no field is an error."),
]


def _check_ignore(settings: Any, strict: bool) -> None:
    """Say (or, with --strict, refuse) ignore patterns that name no field."""
    from trialwatch.changes.ignore import check as check_patterns

    _, warnings = check_patterns(settings["ignore"])
    if warnings and strict:
        raise InputError("; ".join(warnings))
    for warning in warnings:
        _say(f"trialwatch: warning: {warning}")


TableFormatOpt = Annotated[TableFormat, typer.Option("--format", "-f", help="table or json")]
FailOnOpt = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="CATEGORIES",
        help="Comma-separated categories (status,dates,enrollment…) or signals (overdue, "
        "status_stale…) that make the exit code 1",
    ),
]


def _flags(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _names(value: str, valid: Collection[str], what: str) -> list[str]:
    """A comma-separated --fail-on list, each name checked against ``valid``."""
    names = [c.strip() for c in value.split(",") if c.strip()]
    for name in names:
        if name not in valid:
            raise InputError(
                f"--fail-on: unknown {what} {name!r}; choose from {', '.join(sorted(valid))}"
            )
    return names


def _fail_on(value: str | None) -> list[str] | None:
    return None if value is None else _names(value, FAIL_ON_NAMES, "category or signal")


@app.command()
def check(
    nct_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NCT_ID]...",
            help="Trials to check; none checks every watched trial.",
            autocompletion=complete_watched,
        ),
    ] = None,
    api_url: ApiUrl = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.auto,
    quiet: QuietOpt = False,
    show_admin: AdminOpt = None,
    ignore: IgnoreOpt = None,
    strict: StrictOpt = False,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json-file",
            metavar="FILE",
            help="Also write the JSON report to FILE (stdout keeps --format).",
        ),
    ] = None,
    fail_on: FailOnOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Check even when the registry data has not changed since the last complete run.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Fetch every whole record, not only those whose last-update date moved.",
        ),
    ] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch/--no-batch",
            help="Fetch several trials per request (default), or each with its own request.",
        ),
    ] = True,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            metavar="SECONDS",
            help="Stop asking the registry after this long; the rest is reported as not checked "
            "[config run_deadline; default no limit].",
        ),
    ] = None,
    email: Annotated[
        bool | None,
        typer.Option(
            "--email/--no-email",
            help="Mail a digest of the changes (settings in the config's [email] section).",
        ),
    ] = None,
    backfill: Annotated[
        bool | None,
        typer.Option(
            "--backfill/--no-backfill",
            help="Before a trial's first baseline, store its registry versions and say what "
            "they hold [config backfill; default off].",
        ),
    ] = None,
    history_url: HistoryUrl = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show what stdout, mail and each notification channel would get, and store "
            "and send nothing.",
        ),
    ] = False,
    explain_ignore: Annotated[
        bool,
        typer.Option(
            "--explain-ignore",
            help="Say, for each changed trial, what each ignore rule hides (on stderr).",
        ),
    ] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Fetch trials, store a snapshot when a record changed, and report what changed."""
    _setup_logging(verbose, quiet)
    from trialwatch.app import run_check

    fail_list = _fail_on(fail_on)
    flags = _flags(
        api_url=api_url,
        store=store,
        show_admin=show_admin,
        run_deadline=deadline,
        backfill=backfill,
        history_url=history_url,
    )
    if ignore:
        flags["ignore"] = list(ignore)
    if fail_list is not None:
        flags["fail_on"] = fail_list
    good, bad = parse_ids(nct_ids or [])
    from trialwatch.config import load_settings

    _check_ignore(load_settings(flags, config), strict)  # before any request

    def publish(report: RunReport) -> list[TrialReport]:
        if json_file is not None:  # for automation beside a human-readable stdout
            from trialwatch.render.json_report import render_json
            from trialwatch.store.atomic import write_atomic

            write_atomic(json_file, render_json(report).encode("utf-8"))
        if explain_ignore:
            _explain_ignored(report)
        if dry_run:
            _say("trialwatch: dry run: nothing is stored and nothing is sent")
        return emit(report, fmt, quiet)

    report, settings, mail_error = run_check(
        good,
        bad,
        flags,
        config,
        force=force,
        full=full,
        batch=batch,
        email=email,
        interactive=sys.stderr.isatty() and not quiet,
        explicit_ids=bool(nct_ids),
        publish=publish,
        dry_run=dry_run,
        preview=(lambda p: _show_preview(p, fmt)) if dry_run else None,
        explain_ignore=explain_ignore,
    )
    _summary(report, quiet)
    code = exit_code(report, settings["fail_on"])
    if mail_error:
        _say(f"trialwatch: error: {mail_error}")
        code = EXIT_TROUBLE
    raise typer.Exit(code)


def _as_of(text: str | None, option: str = "--today") -> dt.date | None:
    """A date option (--today, --since…) as a date; None when not given."""
    import datetime

    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} wants a date like 2026-03-31, not {text!r}") from None


def _explain_ignored(report: RunReport) -> None:
    """check --explain-ignore: each changed trial's ignore rules and what they hid, on stderr."""
    from trialwatch.sanitize import terminal

    for t in report.trials:
        if t.ignored:
            _say(f"{terminal(t.nct_id)}:")
            for line in t.ignored:
                _say("  " + terminal(line))


def _show_preview(p: Preview, fmt: Format) -> None:
    """What one output would get from check --dry-run: after the report on stdout (on stderr
    when stdout holds JSON, which must stay one document)."""
    from trialwatch.render.common import summary_line
    from trialwatch.render.text import render_text
    from trialwatch.sanitize import terminal

    out = sys.stderr if fmt is Format.json else sys.stdout
    if p.digest is None:
        out.write(f"\n── {terminal(p.to)}: nothing would be sent (nothing new it wants)\n")
        return
    out.write(f"\n── {terminal(p.to)} would get: {terminal(p.subject or '')}\n")
    out.write(summary_line(p.digest) + "\n\n" + render_text(p.digest))
    out.flush()


@app.command()
def diff(
    old: Annotated[
        Path,
        typer.Argument(
            help="Older record: an API record, a snapshot file, a history version "
            "{studyVersion, study}, or a stored one: NCT06224738/2026-11-25.json, "
            "NCT06224738/previous, NCT04280705/registry/v0003.json."
        ),
    ],
    new: Annotated[Path, typer.Argument(help="Newer record, in any of the same shapes.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.auto,
    quiet: QuietOpt = False,
    show_admin: AdminOpt = None,
    ignore: IgnoreOpt = None,
    strict: StrictOpt = False,
    explain_ignore: Annotated[
        bool,
        typer.Option("--explain-ignore", help="Show what each ignore rule hides, then the report."),
    ] = False,
    fail_on: FailOnOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Compare two record files offline, with the same report and exit codes as check."""
    _setup_logging(verbose, quiet)
    from trialwatch.app import explain_ignore as explain
    from trialwatch.app import run_diff

    fail_list = _fail_on(fail_on)
    flags = _flags(show_admin=show_admin, store=store)
    if ignore:
        flags["ignore"] = list(ignore)
    if fail_list is not None:
        flags["fail_on"] = fail_list
    report, settings = run_diff(old, new, flags, config)
    _check_ignore(settings, strict)
    if explain_ignore:
        from trialwatch.sanitize import terminal

        lines = explain(old, new, settings)
        sys.stdout.write("".join(terminal(line) + "\n" for line in lines) + "\n")
    emit(report, fmt, quiet)
    raise typer.Exit(exit_code(report, settings["fail_on"]))


watch_app = typer.Typer(
    help="Manage the watched-trials list that `trialwatch check` (with no ids) checks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(watch_app, name="watch")


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
    from trialwatch.app import config_trials
    from trialwatch.config import load_settings
    from trialwatch.store.watchlist import add

    settings = load_settings(_flags(api_url=api_url), config)
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
        _say(
            f"trialwatch: watching {what}{'; ' if added.label else ''}id {added.id}) in "
            f"{settings.watchlist}; its first check records its members"
        )
        raise typer.Exit(EXIT_OK)
    if not nct_ids:
        raise InputError("say what to watch: NCT ids, or --query 'cond=…'")
    from trialwatch.app import title_check
    from trialwatch.registry.ids import missing_digit

    def add_one(raw: str) -> Watched:
        warning = missing_digit(raw)
        if warning:
            _say(f"trialwatch: warning: {warning}")
        if not offline:
            found = title_check(settings, raw)  # InputError for a trial not in the registry
            if found:
                _say(f"trialwatch: {found}")
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
    from trialwatch.app import config_trials
    from trialwatch.config import load_settings
    from trialwatch.store.watchlist import remove

    settings = load_settings({}, config)
    if query:
        from trialwatch.store.watchlist import remove_query

        gone = remove_query(settings.watchlist, query)
        _say(f"trialwatch: no longer watching the search {gone.name!r}")
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


def _for_each_id(nct_ids: list[str], action: Callable[[str], Watched], done: str) -> int:
    """Apply a watch-list action to each id; a refused id is said and the others still go."""
    code = EXIT_OK
    for raw in nct_ids:
        try:
            watched = action(raw)
        except InputError as exc:
            _say(f"trialwatch: error: {exc}")
            code = EXIT_TROUBLE
            continue
        _say("trialwatch: " + done.format(watched.nct_id))
    return code


@watch_app.command("list")
def watch_list(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Show watched trials: id, label, status, last checked, last change."""
    from trialwatch.app import watch_rows
    from trialwatch.changes.words import status_words

    rows = watch_rows(_flags(store=store), config)
    queries = [r for r in rows if r.get("query")]
    rows = [r for r in rows if not r.get("query")]
    if fmt is TableFormat.json:
        _print_rows(fmt, rows + queries, [], [])
        raise typer.Exit(EXIT_OK)
    if not rows and not queries:
        _say("trialwatch: no trials watched; add some with `trialwatch watch add NCT06224738`")
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
                _when(r["last_checked"]),
                _when(r["last_changed"]),
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


@app.command("notify")
def notify_command(
    test: Annotated[
        bool, typer.Option("--test", help="Send a test message to every notification channel.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Check the notification channels (the notify setting): --test sends each a message."""
    from trialwatch.config import load_settings
    from trialwatch.model import RunReport
    from trialwatch.notify.channels import channels, send
    from trialwatch.record import utc_now

    settings = load_settings({}, config)
    chans = channels(settings["notify"], "notify")
    if not chans:
        raise InputError(
            'no notification channels: add notify = ["ntfy://ntfy.sh/my-topic"] (or '
            '{ url_env = "VARIABLE" } for a URL with a secret) to the config file'
        )
    if not test:
        for c in chans:
            only = f" (only {', '.join(c.only)})" if c.only else ""
            sys.stdout.write(f"{c.name}{only}\n")
        raise typer.Exit(EXIT_OK)
    code = EXIT_OK
    report = RunReport(generated_at=utc_now(), notes=["a test message from trialwatch"])
    for c in chans:
        try:
            done = send(c, report, "trialwatch: test message")
        except TrialwatchError as exc:
            _say(f"trialwatch: error: {exc}")
            code = EXIT_TROUBLE
            continue
        _say(f"trialwatch: {done}")
    raise typer.Exit(code)


@app.command("email")
def email_command(
    test: Annotated[
        bool, typer.Option("--test", help="Send a test message and show what the server said.")
    ] = False,
    config: ConfigOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Check the mail settings of the config's [email] section."""
    _setup_logging(verbose, False)
    from trialwatch.config import load_settings
    from trialwatch.notify.mail import send_test

    if not test:
        raise InputError("say what to do: trialwatch email --test")
    settings = load_settings({}, config)
    reply = send_test(settings["email"])
    _say(f"trialwatch: test message accepted: {reply}")
    raise typer.Exit(EXIT_OK)


def _when(stamp: str | None) -> str:
    """``2026-11-25T06:46:01Z`` → ``2026-11-25 06:46``."""
    return stamp[:16].replace("T", " ") if stamp else "never"


class HistoryFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


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
    from trialwatch.app import run_history

    if since is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
        raise InputError(f"--since wants a date like 2024-01-31, not {since!r}")
    story = run_history(nct_id, _flags(store=store), config, since=since, original=original)
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
    _setup_logging(verbose, quiet)
    from trialwatch.app import run_backfill

    results = run_backfill(
        list(nct_ids or []),
        _flags(store=store, history_url=history_url),
        config,
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


class AuditFormat(StrEnum):
    auto = "auto"
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"
    csv = "csv"


def _audit_fail_on(value: str | None) -> set[str] | None:
    """The signal types that make ``audit`` exit 1 (None: any signal)."""
    if value is None:
        return None
    names = _names(value, FAIL_ON_SIGNALS, "signal")
    return {s.value for name in names for s in FAIL_ON_SIGNALS[name]}


@app.command("audit")
def audit_command(
    nct_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NCT_ID]...",
            help="Trials to audit; none audits every watched trial.",
            autocompletion=complete_watched,
        ),
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="Audit the records in a JSON file (a record, a snapshot, a list or a page of "
            "search results) instead of the store. Repeatable.",
        ),
    ] = None,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Check the trials against the registry first.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="DATE", help="Audit as of DATE (default: today)."),
    ] = None,
    grace: Annotated[
        int | None,
        typer.Option(
            "--grace", metavar="DAYS", help="Days past a deadline before overdue [default 30]."
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="SIGNALS",
            help="Only these signals make the exit code 1, e.g. overdue,status_stale.",
        ),
    ] = None,
    brief: Annotated[
        bool, typer.Option("--brief", help="Text: one line a signal, without evidence.")
    ] = False,
    fmt: Annotated[
        AuditFormat,
        typer.Option("--format", "-f", help="auto, text, markdown, json, html or csv"),
    ] = AuditFormat.auto,
    api_url: ApiUrl = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Where each trial stands against its obligations by the public record: results probably
    due or overdue, a stale status, estimated dates in the past, verification overdue, results
    in QC review, a late certification, a posted FDAAA 801 violation, implausible enrollment.
    Reads the latest snapshots: no network unless --fetch. Exit 0 no signal, 1 signals, 2
    trouble."""

    _setup_logging(verbose, quiet)
    from trialwatch.app import run_audit
    from trialwatch.audit import render

    day = _as_of(today)
    if grace is not None and not 0 <= grace <= 3650:
        raise InputError(f"--grace wants a number of days from 0 to 3650, not {grace}")
    wanted = _audit_fail_on(fail_on)
    from trialwatch.registry.ids import missing_digit

    for raw in nct_ids or []:
        warning = missing_digit(raw)
        if warning:
            _say(f"trialwatch: warning: {warning}")
    report = run_audit(
        list(nct_ids or []),
        list(files or []),
        _flags(
            api_url=api_url,
            store=store,
            grace_days=grace,
        ),
        config,
        as_of=day,
        fetch=fetch,
    )
    if fmt is AuditFormat.json:
        text = render.render_json(report)
    elif fmt is AuditFormat.csv:
        text = render.render_csv(report)
    elif fmt is AuditFormat.markdown:
        text = render.render_markdown(report)
    elif fmt is AuditFormat.html:
        text = render.render_html(report)
    elif _plain(Format.text if fmt is AuditFormat.text else Format.auto):
        text = render.render_text(report, verbose=not brief)
    else:
        text = render.render_terminal(report, verbose=not brief)
    flagged = [s for s in report.signals() if wanted is None or s.type.value in wanted]
    if not (quiet and not flagged and not report.errors):
        sys.stdout.write(text)
    for t in report.errors:
        _say(f"trialwatch: error: {t.nct_id}: {t.error}")
    code = EXIT_TROUBLE if report.errors else EXIT_CHANGED if flagged else EXIT_OK
    raise typer.Exit(code)


class EventsFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


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
    _setup_logging(verbose, False)
    from trialwatch.app import run_events
    from trialwatch.model import Category, EventType
    from trialwatch.render import events as render

    _as_of(since, "--since")
    _as_of(until, "--until")
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
        _flags(store=store), config, since=since, until=until,
        types=types, categories=categories, trials=trials, rebuild=rebuild,
    )  # fmt: skip
    renderer = {
        EventsFormat.text: render.render_text,
        EventsFormat.json: render.render_json,
        EventsFormat.csv: render.render_csv,
    }[fmt]
    sys.stdout.write(renderer(rows))
    raise typer.Exit(EXIT_OK)


class SyncFormat(StrEnum):
    text = "text"
    json = "json"


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
    _setup_logging(verbose, quiet)
    from trialwatch.render import sync as render

    flags = _flags(store=store, api_url=api_url)
    if status:
        from trialwatch.app import sync_status

        state, progress = sync_status(flags, config)
        if fmt is SyncFormat.json:
            sys.stdout.write(render.status_json(state, progress))
        else:
            sys.stdout.write(render.status_text(state, progress, bar=sys.stdout.isatty()))
        raise typer.Exit(EXIT_OK if not progress.failed else EXIT_TROUBLE)
    if from_file is not None and download:
        raise InputError("give --from-file or --download, not both")
    from trialwatch.app import run_sync

    report = run_sync(
        flags, config, from_file=from_file, download=download, query=query, sweep=sweep,
        work=not no_work, interactive=sys.stderr.isatty() and not quiet,
    )  # fmt: skip
    t = report.tally
    if fmt is SyncFormat.json:
        sys.stdout.write(render.report_json(report))
    elif not quiet or t.changed or t.gone or t.errors:
        sys.stdout.write(render.report_text(report))
    if t.errors:
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
    _setup_logging(verbose, quiet)
    from trialwatch.app import run_worker
    from trialwatch.render import sync as render

    tally = run_worker(
        _flags(store=store, api_url=api_url), config, wait=wait, limit=limit,
        interactive=sys.stderr.isatty() and not quiet,
    )  # fmt: skip
    if fmt is SyncFormat.json:
        from trialwatch.sanitize import dumps

        sys.stdout.write(dumps({"schema": render.SCHEMA, **render.tally_json(tally)}, indent=2))
        sys.stdout.write("\n")
    elif not quiet or tally.changed or tally.gone or tally.errors:
        sys.stdout.write(render.worker_text(tally))
    if tally.errors:
        raise typer.Exit(EXIT_TROUBLE)
    raise typer.Exit(EXIT_CHANGED if tally.changed or tally.gone else EXIT_OK)


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

    _setup_logging(verbose, quiet)
    from trialwatch.app import run_site

    day = _as_of(today)
    built = run_site(out_dir, _flags(store=store), config, full=full, as_of=day)
    for problem in built.problems:
        _say(f"trialwatch: error: {problem}")
    if not quiet:
        _say(
            f"trialwatch: site in {built.out}: {counted(built.trials, 'trial')}, "
            f"{counted(built.searches, 'search', 'searches')}; "
            f"{counted(built.written, 'page')} written, {built.kept} unchanged, in "
            f"{built.seconds:.1f}s "
            f"(open {built.out / 'index.html'})"
        )
    raise typer.Exit(EXIT_TROUBLE if built.problems else EXIT_OK)


config_app = typer.Typer(
    help="Show the settings in force and where each came from; config init writes a starting "
    "config.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")


@config_app.command("init")
def config_init(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write it [default: ./trialwatch.toml; with --user, the user config]."
        ),
    ] = None,
    user: Annotated[
        bool, typer.Option("--user", help="Write your user config instead of the project's.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a file that is there.")] = False,
) -> None:
    """Write a commented starting config (every key, with its default), watching nothing."""
    import os
    from importlib.resources import files

    from trialwatch.config import user_config_dir
    from trialwatch.store.atomic import write_atomic

    if path is None:
        path = user_config_dir(os.environ) / "config.toml" if user else Path("trialwatch.toml")
    if path.exists() and not force:
        raise InputError(f"{path} is there already; edit it, or add --force to replace it")
    text = files("trialwatch").joinpath("config.example.toml").read_bytes()
    try:
        write_atomic(path, text)
    except OSError as exc:
        from trialwatch.errors import os_reason

        raise InputError(f"cannot write {path}: {os_reason(exc)}") from None
    _say(f"trialwatch: wrote {path}; edit it, then: trialwatch watch add NCT06224738")
    raise typer.Exit(EXIT_OK)


@config_app.callback()
def show_config(
    ctx: typer.Context,
    config: ConfigOpt = None,
    api_url: ApiUrl = None,
    store: StoreOpt = None,
) -> None:
    """Show the settings in force and where each came from."""
    if ctx.invoked_subcommand is not None:
        return
    from trialwatch.config import KEYS, load_settings

    settings = load_settings(_flags(api_url=api_url, store=store), config)
    out = sys.stdout
    files = " and ".join(str(f) for f in reversed(settings.config_files))
    out.write(f"config files: {files or '(none found)'}\n")
    for name in KEYS:
        value = settings.values[name]
        if name == "email" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "password"}
        if name == "trials":
            value = f"{len(value)} in the config file"
        out.write(f"{name} = {value!r}  ({settings.sources[name]}): {KEYS[name].help}\n")
    raise typer.Exit(EXIT_OK)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every exit goes through here, so no path exits 1 by accident."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="trialwatch", standalone_mode=False)
    except KeyboardInterrupt:
        _say("trialwatch: interrupted")
        return EXIT_INTERRUPTED
    except typer.Abort:
        _say("trialwatch: interrupted")
        return EXIT_INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        else:
            _say(f"trialwatch: error: {exc.format_message()}")
        return EXIT_TROUBLE
    except TrialwatchError as exc:
        from trialwatch.sanitize import one_line

        _say(f"trialwatch: error: {one_line(exc)}")
        return EXIT_TROUBLE
    except BrokenPipeError:
        return EXIT_TROUBLE
    except SystemExit as exc:  # typer exits 1 itself on a broken pipe; never let 1 leak out
        return exc.code if isinstance(exc.code, int) and exc.code != 1 else EXIT_TROUBLE
    except Exception as exc:  # a bug: say so briefly; -v shows the traceback
        log.debug("internal error", exc_info=True)
        _say(
            f"trialwatch: internal error: {type(exc).__name__}: {exc} "
            "(run again with -vv for details, and please report it)"
        )
        return EXIT_TROUBLE
    if result == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
        _say("trialwatch: interrupted")
    if isinstance(result, int):
        return result
    return EXIT_OK
