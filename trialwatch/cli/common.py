"""What every command shares: the app, the options declared once (--api-url, --store, --config,
--format, -q, -v, …), the output formats, how a report is rendered and how an outcome becomes an
exit code. Exit codes, like diff: 0 no change, 1 changes, 2 trouble (trouble wins), 130
interrupted."""

import logging
import os
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialwatch import __version__
from trialwatch.cli.formats import Format, TableFormat
from trialwatch.errors import InputError
from trialwatch.model import (
    FAIL_ON_NAMES,
    Outcome,
    RunReport,
    TrialReport,
)

if TYPE_CHECKING:
    import datetime as dt

    from trialwatch.config import Settings


EXIT_OK, EXIT_CHANGED, EXIT_TROUBLE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="trialwatch",
    help="Watch ClinicalTrials.gov records and report what changed, in words a person would use.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def group(name: str, help: str, **options: Any) -> typer.Typer:
    """A group of commands under the app (``trialwatch watch …``), set up as the app is:
    tracebacks and rich markup off, completion offered by the app alone."""
    commands = typer.Typer(
        help=help,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        **options,
    )
    app.add_typer(commands, name=name)
    return commands


log = logging.getLogger("trialwatch")


def complete_watched(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion of trial ids: the watched trials (with their labels) starting with what
    was typed. Quietly nothing when the watch list cannot be read."""
    try:
        from trialwatch.config import load_settings
        from trialwatch.store.watchlist import watched_trials
        from trialwatch.usecases.common import config_trials

        settings = load_settings()
        watched = watched_trials(settings.watchlist, config_trials(settings))
    except Exception:  # completion never prints a traceback into a shell
        return []
    typed = incomplete.upper()
    return [(w.nct_id, w.label or "") for w in watched if w.nct_id.startswith(typed)]


def say(message: str) -> None:
    """One line on stderr: plain text (messages are one line and carry no markup), so a
    command that prints no table never imports rich."""
    from trialwatch.sanitize import terminal

    try:
        sys.stderr.write(terminal(message) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: nothing left to tell
        pass


def setup_logging(verbose: int, quiet: bool) -> None:
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


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"trialwatch {__version__}")
        raise typer.Exit(EXIT_OK)


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

    text = render_isolated(report, fmt, quiet)
    for t in report.trials:
        problem = t.error or t.warning
        if problem:
            say(f"trialwatch: error: {one_line(t.nct_id)}: {one_line(problem)}")
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    return [t for t in report.trials if t.outcome is not Outcome.ERROR]


def render_isolated(report: RunReport, fmt: Format, quiet: bool) -> str:
    try:
        return render_report(report, fmt, quiet)
    except Exception:
        log.debug("rendering failed; finding the trial", exc_info=True)
    for i, t in enumerate(report.trials):
        try:
            render_report(RunReport(report.generated_at, [t]), fmt, quiet)
        except Exception as exc:
            report.trials[i] = TrialReport(
                nct_id=t.nct_id,
                outcome=Outcome.ERROR,
                title=t.title,
                error=f"its report could not be shown ({type(exc).__name__}); it is reported "
                "again next time. Please report this",
            )
    return render_report(report, fmt, quiet)


def plain_format(fmt: Format) -> bool:
    """Plain text for ``--format text``, when piped, with NO_COLOR or TERM=dumb; FORCE_COLOR
    asks for colour anyway."""
    if fmt is Format.text or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return True
    if os.environ.get("FORCE_COLOR"):
        return False
    return not sys.stdout.isatty()


def render_report(report: RunReport, fmt: Format, quiet: bool) -> str:
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
    if plain_format(fmt):  # decided without importing rich: piped output never pays for it
        from trialwatch.render.text import render_text

        return render_text(shown, quiet=quiet)
    from rich.console import Console

    from trialwatch.render.text import print_terminal

    out = Console(highlight=False, soft_wrap=True, force_terminal=True)

    with out.capture() as captured:
        print_terminal(out, shown, quiet=quiet)
    return captured.get()


def say_summary(report: RunReport, quiet: bool) -> None:
    from trialwatch.render.common import summary_line

    if quiet:  # for cron: stderr carries trouble only (said where it happens), never notes
        return
    for note in report.notes:
        say(f"trialwatch: {note}")
    if report.skipped:
        return
    if len(report.trials) > 1 or report.data_timestamp:
        say(f"trialwatch: {summary_line(report)}")


def parse_ids(raw_ids: list[str]) -> tuple[list[str], list[TrialReport]]:
    """Valid ids (normalised, in order, once each) and an error report for each bad one."""
    from trialwatch.ids import normalize_nct_id

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


def check_ignore(settings: Any, strict: bool) -> None:
    """Say (or, with --strict, refuse) ignore patterns that name no field."""
    from trialwatch.changes.ignore import check as check_patterns

    _, warnings = check_patterns(settings["ignore"])
    if warnings and strict:
        raise InputError("; ".join(warnings))
    for warning in warnings:
        say(f"trialwatch: warning: {warning}")


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


def option_flags(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def known_names(value: str, valid: Collection[str], what: str) -> list[str]:
    """A comma-separated --fail-on list, each name checked against ``valid``."""
    names = [c.strip() for c in value.split(",") if c.strip()]
    for name in names:
        if name not in valid:
            raise InputError(
                f"--fail-on: unknown {what} {name!r}; choose from {', '.join(sorted(valid))}"
            )
    return names


def fail_on_names(value: str | None) -> list[str] | None:
    return None if value is None else known_names(value, FAIL_ON_NAMES, "category or signal")


def parse_day(text: str | None, option: str = "--today") -> "dt.date | None":
    """A date option (--today, --since…) as a date; None when not given."""
    import datetime

    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} wants a date like 2026-03-31, not {text!r}") from None


def when_words(stamp: str | None) -> str:
    """``2026-11-25T06:46:01Z`` → ``2026-11-25 06:46``."""
    return stamp[:16].replace("T", " ") if stamp else "never"


# The options given before the command (trialwatch --store URL watch list), for every command
# that takes them after it too; an option given after the command wins.
_BEFORE: dict[str, Any] = {}


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    api_url: ApiUrl = None,
) -> None:
    """Watch ClinicalTrials.gov records and report what changed."""
    _BEFORE.clear()
    _BEFORE.update(option_flags(store=store, config=config, api_url=api_url))


def load(flags: dict[str, Any], config: str | None) -> "Settings":
    """The settings in force: the command's own options, then those given before the command,
    then the environment, the config file and the defaults."""
    from trialwatch.config import load_settings

    merged = {**{k: v for k, v in _BEFORE.items() if k != "config"}, **flags}
    return load_settings(merged, config if config is not None else _BEFORE.get("config"))
