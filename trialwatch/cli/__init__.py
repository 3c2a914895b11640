"""The command line: parse options, build the objects, call a use case, render, map to exit
codes. One module a command group (check.py, watch.py, history.py, audit.py, events.py, export.py,
sync.py, site.py, notify.py, subscription.py, config.py); what they share is common.py.

Exit codes, like diff: 0 no change, 1 changes, 2 trouble (trouble wins), 130 interrupted.

These modules do not use ``from __future__ import annotations``: typer reads every command's
annotations on each run, and strings would be compiled and evaluated again each time
(tests/test_startup.py)."""

import copy
import os
import sys

import typer

# The commands, registered in the order --help lists them (not alphabetical).
# isort: off
from trialwatch.cli import check, notify, history, audit, events, export, sync, site  # noqa: F401
from trialwatch.cli import watch, subscription, config  # noqa: F401

# isort: on
from trialwatch.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TROUBLE,
    app,
    log,
    say,
)
from trialwatch.errors import TrialwatchError

__all__ = ["app", "main", "run"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: every exit goes through here, so no path exits 1 by accident."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    try:
        result = app_for(sys.argv[1:] if argv is None else argv)(
            args=argv, prog_name="trialwatch", standalone_mode=False
        )
    except KeyboardInterrupt:
        say("trialwatch: interrupted")
        return EXIT_INTERRUPTED
    except typer.Abort:
        say("trialwatch: interrupted")
        return EXIT_INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        else:
            say(f"trialwatch: error: {exc.format_message()}")
        return EXIT_TROUBLE
    except TrialwatchError as exc:
        from trialwatch.sanitize import one_line

        say(f"trialwatch: error: {one_line(exc)}")
        return EXIT_TROUBLE
    except BrokenPipeError:
        return EXIT_TROUBLE
    except SystemExit as exc:  # typer exits 1 itself on a broken pipe; never let 1 leak out
        return exc.code if isinstance(exc.code, int) and exc.code != 1 else EXIT_TROUBLE
    except Exception as exc:  # a bug: say so briefly; -v shows the traceback
        log.debug("internal error", exc_info=True)
        say(
            f"trialwatch: internal error: {type(exc).__name__}: {exc} "
            "(run again with -vv for details, and please report it)"
        )
        return EXIT_TROUBLE
    if result == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
        say("trialwatch: interrupted")
    if isinstance(result, int):
        return result
    return EXIT_OK


def app_for(args: list[str]) -> typer.Typer:
    """The app with only the commands ``args`` names: typer turns every command's options into
    click's on each start (7 ms of a small diff's), where a run needs one command's. The whole
    app for help, shell completion, or arguments that name no command (its errors then list
    them all)."""
    if "--help" in args or "-h" in args or "_TRIALWATCH_COMPLETE" in os.environ:
        return app
    commands = [c for c in app.registered_commands if _name(c) in args]
    groups = [g for g in app.registered_groups if g.name in args]
    if not commands and not groups:
        return app
    lite = copy.copy(app)
    lite.registered_commands, lite.registered_groups = commands, groups
    return lite


def _name(command: typer.models.CommandInfo) -> str | None:
    """The name typer gives the command (typer.main.get_command_from_info's rule)."""
    if command.name:
        return command.name
    callback = command.callback
    return typer.main.get_command_name(callback.__name__) if callback is not None else None
