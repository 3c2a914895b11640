"""trialwatch config and trialwatch config init: the settings in force, and a starting config."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from trialwatch.cli.common import (
    EXIT_OK,
    ApiUrl,
    ConfigOpt,
    StoreOpt,
    group,
    load,
    option_flags,
    say,
)
from trialwatch.errors import InputError

config_app = group(
    "config",
    "Show the settings in force and where each came from; config init writes a starting config.",
    invoke_without_command=True,
)


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
    say(f"trialwatch: wrote {path}; edit it, then: trialwatch watch add NCT06224738")
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
    from trialwatch.config import KEYS

    settings = load(option_flags(api_url=api_url, store=store), config)
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
