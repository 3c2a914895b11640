"""Start-up: what every run pays before it does anything. The figures are measured in
benchmarks/bench_startup.py; these tests hold the causes found there, not the timings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edited, load


def test_every_command_s_options_are_read_without_evaluating_strings() -> None:
    """typer reads every command's annotations each time trialwatch starts; written as strings
    (``from __future__ import annotations``) each is compiled and evaluated again on every run,
    15 ms of a small diff's start-up. The command modules keep them as objects."""
    import inspect

    from trialwatch.cli import app

    def callbacks(typer_app: Any) -> Iterator[Any]:
        if typer_app.registered_callback is not None:
            yield typer_app.registered_callback.callback
        for command in typer_app.registered_commands:
            yield command.callback
        for group in typer_app.registered_groups:
            yield from callbacks(group.typer_instance)

    found = list(callbacks(app))
    assert len(found) > 20
    strings = {
        f"{fn.__module__}.{fn.__name__}: {name}"
        for fn in found
        for name, hint in inspect.get_annotations(fn).items()
        if isinstance(hint, str)
    }
    assert not strings, sorted(strings)


@pytest.mark.slow  # a process of its own
def test_a_small_diff_loads_no_toml_parser_and_no_entity_table(tmp_path: Path) -> None:
    """With no config file there is nothing to parse, and a record without HTML entities needs
    no table of them: 6 ms of start-up between them, loaded when a run needs them."""
    import json

    old = load("NCT06171568.json")

    def recruiting(record: dict[str, Any]) -> None:  # the sponsor reports recruitment opened
        record["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"

    new = edited(old, recruiting)
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "new.json").write_text(json.dumps(new), encoding="utf-8")
    script = (
        "import sys, io, contextlib\n"
        "from trialwatch.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    code = run(['diff', 'old.json', 'new.json'])\n"
        "assert code == 1 and 'Recruiting' in out.getvalue(), (code, out.getvalue())\n"
        "print(sorted(m for m in ('tomllib', 'html', 'html.entities') if m in sys.modules))\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "APPDATA", "LOCALAPPDATA"):
        env[name] = str(tmp_path / "home")  # no user config to find, on any system
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_run_builds_only_the_commands_its_arguments_name() -> None:
    """typer turns every command's options into click's on each start; a run needs those of
    the command it names (and of any command name among its arguments, so an option's value
    that happens to be one parses as it would in the whole app). Help, completion and an
    unknown command get the whole app: their output lists every command."""
    from trialwatch.cli import app, app_for

    def names(typer_app: Any) -> set[str]:
        import typer.main

        group = typer.main.get_command(typer_app)
        return set(getattr(group, "commands", {}))

    assert names(app_for(["diff", "old.json", "new.json"])) == {"diff"}
    assert names(app_for(["--store", "check", "diff", "a", "b"])) == {"check", "diff"}
    assert names(app_for(["watch", "list"])) == {"watch"}
    assert app_for(["diff", "--help"]) is app
    assert app_for(["chek", "NCT06224738"]) is app
    assert app_for([]) is app
    assert len(names(app)) >= 15


def test_an_unknown_command_still_gets_the_whole_list_of_suggestions(
    capsys: Any,
) -> None:
    from trialwatch.cli import run

    assert run(["chek", "NCT06224738"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'chek'" in err and "check" in err
