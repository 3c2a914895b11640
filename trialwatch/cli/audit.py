"""trialwatch audit: where each trial stands against its obligations."""

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

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
    complete_watched,
    known_names,
    load,
    option_flags,
    parse_day,
    plain_format,
    say,
    setup_logging,
)
from trialwatch.cli.formats import AuditFormat, Format
from trialwatch.config import Settings
from trialwatch.errors import InputError
from trialwatch.model import (
    FAIL_ON_SIGNALS,
)


def _audit_fail_on(value: str | None) -> set[str] | None:
    """The signal types that make ``audit`` exit 1 (None: any signal)."""
    if value is None:
        return None
    names = known_names(value, FAIL_ON_SIGNALS, "signal")
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
    sponsors: Annotated[
        list[str] | None,
        typer.Option(
            "--sponsor",
            metavar="NAME",
            help="An organisation's desk: every trial whose lead sponsor or responsible "
            "party's organisation has these words (case-insensitive), with its results state, "
            "due date, the 90-day calendar and what moved since its last audit. Repeatable.",
        ),
    ] = None,
    mail_owners: Annotated[
        bool,
        typer.Option(
            "--mail-owners",
            help="With --sponsor: mail each person of the config's [owners] table the trials "
            "they answer for, when one needs action or moved.",
        ),
    ] = False,
    fetch: Annotated[
        bool,
        typer.Option(
            "--fetch",
            help="Check the trials against the registry first (with --sponsor: search the "
            "registry for the organisation's trials).",
        ),
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

    setup_logging(verbose, quiet)
    from trialwatch.audit import render
    from trialwatch.usecases.audit import run_audit

    day = parse_day(today)
    if grace is not None and not 0 <= grace <= 3650:
        raise InputError(f"--grace wants a number of days from 0 to 3650, not {grace}")
    wanted = _audit_fail_on(fail_on)
    from trialwatch.ids import missing_digit

    for raw in nct_ids or []:
        warning = missing_digit(raw)
        if warning:
            say(f"trialwatch: warning: {warning}")
    if sponsors:
        if nct_ids or files:
            raise InputError(
                "--sponsor audits an organisation's trials: give it without NCT ids or --file"
            )
        _desk(sponsors, load(option_flags(api_url=api_url, store=store, grace_days=grace), config),
              day, fetch, fmt, brief, quiet, wanted, mail_owners)  # fmt: skip
    if mail_owners:
        raise InputError("--mail-owners goes with --sponsor: an organisation's trials")
    report = run_audit(
        list(nct_ids or []),
        list(files or []),
        load(option_flags(api_url=api_url, store=store, grace_days=grace), config),
        as_of=day,
        fetch=fetch,
    )
    text = rendered(render, report, fmt, brief)
    flagged = [s for s in report.signals() if wanted is None or s.type.value in wanted]
    if not (quiet and not flagged and not report.errors):
        sys.stdout.write(text)
    for t in report.errors:
        say(f"trialwatch: error: {t.nct_id}: {t.error}")
    code = EXIT_TROUBLE if report.errors else EXIT_CHANGED if flagged else EXIT_OK
    raise typer.Exit(code)


def rendered(render: Any, report: Any, fmt: AuditFormat, brief: bool) -> str:
    """An audit (or an organisation's desk) in the format asked for: ``render`` is the module
    that renders it (audit/render.py or audit/desk_render.py, which name their functions
    alike)."""
    if fmt is AuditFormat.json:
        return str(render.render_json(report))
    if fmt is AuditFormat.csv:
        return str(render.render_csv(report))
    if fmt is AuditFormat.markdown:
        return str(render.render_markdown(report))
    if fmt is AuditFormat.html:
        return str(render.render_html(report))
    if plain_format(Format.text if fmt is AuditFormat.text else Format.auto):
        return str(render.render_text(report, verbose=not brief))
    return str(render.render_terminal(report, verbose=not brief))


def _desk(
    sponsors: list[str],
    settings: Settings,
    day: dt.date | None,
    fetch: bool,
    fmt: AuditFormat,
    brief: bool,
    quiet: bool,
    wanted: set[str] | None,
    mail: bool,
) -> None:
    from trialwatch.audit import desk_render as render
    from trialwatch.usecases.desk import mail_owners, owners_table, run_desk

    table = owners_table(settings) if mail else {}
    report = run_desk(sponsors, settings, as_of=day, fetch=fetch)
    text = rendered(render, report, fmt, brief)
    errors = report.audit.errors
    flagged = [s for s in report.audit.signals() if wanted is None or s.type.value in wanted]
    if not (quiet and not flagged and not errors and not report.transitions):
        sys.stdout.write(text)
    for t in errors:
        say(f"trialwatch: error: {t.nct_id}: {t.error}")
    failed: list[str] = []
    if mail:
        sent, failed = mail_owners(report, settings, table)
        for line in sent:
            say(f"trialwatch: mailed {line}")
        if not sent and not failed:
            say("trialwatch: no one in [owners] answers for a trial that needs action or moved")
        for line in failed:
            say(f"trialwatch: error: mail to {line}; it goes out with the next audit")
    trouble = errors or failed
    raise typer.Exit(EXIT_TROUBLE if trouble else EXIT_CHANGED if flagged else EXIT_OK)
