"""trialwatch check and trialwatch diff: the main job, and two stored versions compared."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trialwatch.cli.formats import Format
from trialwatch.model import (
    RunReport,
    TrialReport,
)

if TYPE_CHECKING:
    from trialwatch.outputs import Preview
from trialwatch.cli.common import (
    EXIT_TROUBLE,
    AdminOpt,
    ApiUrl,
    ConfigOpt,
    FailOnOpt,
    FormatOpt,
    HistoryUrl,
    IgnoreOpt,
    QuietOpt,
    StoreOpt,
    StrictOpt,
    VerboseOpt,
    app,
    check_ignore,
    complete_watched,
    emit,
    exit_code,
    fail_on_names,
    load,
    option_flags,
    parse_ids,
    say,
    say_summary,
    setup_logging,
)


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
    setup_logging(verbose, quiet)
    from trialwatch.usecases.check import run_check

    fail_list = fail_on_names(fail_on)
    flags = option_flags(
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
    check_ignore(load(flags, config), strict)  # before any request

    def publish(report: RunReport) -> list[TrialReport]:
        if json_file is not None:  # for automation beside a human-readable stdout
            from trialwatch.render.json_report import render_json
            from trialwatch.store.atomic import write_atomic

            write_atomic(json_file, render_json(report).encode("utf-8"))
        if explain_ignore:
            _explain_ignored(report)
        if dry_run:
            say("trialwatch: dry run: nothing is stored and nothing is sent")
        return emit(report, fmt, quiet)

    report, settings, mail_error = run_check(
        good,
        bad,
        load(flags, config),
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
    say_summary(report, quiet)
    code = exit_code(report, settings["fail_on"])
    if mail_error:
        say(f"trialwatch: error: {mail_error}")
        code = EXIT_TROUBLE
    raise typer.Exit(code)


def _explain_ignored(report: RunReport) -> None:
    """check --explain-ignore: each changed trial's ignore rules and what they hid, on stderr."""
    from trialwatch.sanitize import terminal

    for t in report.trials:
        if t.ignored:
            say(f"{terminal(t.nct_id)}:")
            for line in t.ignored:
                say("  " + terminal(line))


def _show_preview(p: "Preview", fmt: Format) -> None:
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
    setup_logging(verbose, quiet)
    from trialwatch.usecases.diff import explain_ignore as explain
    from trialwatch.usecases.diff import run_diff

    fail_list = fail_on_names(fail_on)
    flags = option_flags(show_admin=show_admin, store=store)
    if ignore:
        flags["ignore"] = list(ignore)
    if fail_list is not None:
        flags["fail_on"] = fail_list
    report, settings = run_diff(old, new, load(flags, config))
    check_ignore(settings, strict)
    if explain_ignore:
        from trialwatch.sanitize import terminal

        lines = explain(old, new, settings)
        sys.stdout.write("".join(terminal(line) + "\n" for line in lines) + "\n")
    emit(report, fmt, quiet)
    raise typer.Exit(exit_code(report, settings["fail_on"]))
