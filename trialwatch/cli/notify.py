"""trialwatch notify and trialwatch email: the channels and the mail, tried."""

import sys
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    EXIT_TROUBLE,
    ConfigOpt,
    VerboseOpt,
    app,
    load,
    say,
    setup_logging,
)
from trialwatch.errors import InputError, TrialwatchError
from trialwatch.model import (
    RunReport,
)


@app.command("notify")
def notify_command(
    test: Annotated[
        bool, typer.Option("--test", help="Send a test message to every notification channel.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Check the notification channels (the notify setting): --test sends each a message."""
    from trialwatch.notify.channels import channels, send
    from trialwatch.record import utc_now

    settings = load({}, config)
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
            if c.webhook:
                from trialwatch.outputs.webhook import WebhookOutput

                done = WebhookOutput(c, None).test()
            else:
                done = send(c, report, "trialwatch: test message")
        except TrialwatchError as exc:
            say(f"trialwatch: error: {exc}")
            code = EXIT_TROUBLE
            continue
        say(f"trialwatch: {done}")
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
    setup_logging(verbose, False)
    from trialwatch.notify.mail import send_test

    if not test:
        raise InputError("say what to do: trialwatch email --test")
    settings = load({}, config)
    reply = send_test(settings["email"])
    say(f"trialwatch: test message accepted: {reply}")
    raise typer.Exit(EXIT_OK)
