"""Settings: flags, then ``TRIALWATCH_*`` variables, then the project's config file, then the
user's, then defaults.

The project's config file is ``--config``, else ``$TRIALWATCH_CONFIG``, else the nearest
``trialwatch.toml`` in the working folder or a folder above it. The user's is ``config.toml`` in
the user config folder (``$XDG_CONFIG_HOME/trialwatch`` on Linux, by platformdirs' rules on macOS
and Windows). Both are read; a key the project sets wins over the user's, and an ``[email]``
table merges key by key. Relative paths resolve against the folder of the file that set them,
so a repository holding ``trialwatch.toml`` and ``snapshots/`` works from any working folder;
data never goes under a config folder: a store the user's config names by a relative path, or
none names while only the user's config is in use, is in the user data folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialwatch.errors import ConfigError, os_reason
from trialwatch.model import FAIL_ON_NAMES

ENV_PREFIX = "TRIALWATCH_"
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
# The registry's own (undocumented) version history lives beside the website, not in API v2.
DEFAULT_HISTORY_URL = "https://clinicaltrials.gov/api/int"


@dataclass(frozen=True)
class Key:
    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    path: bool = False  # resolved against the config file's folder
    env: bool = True  # may come from TRIALWATCH_<NAME>


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("api_url", str, DEFAULT_API_URL, "base URL of the ClinicalTrials.gov API v2"),
        Key(
            "history_url",
            str,
            DEFAULT_HISTORY_URL,
            "base URL of the registry's version history (undocumented; used by backfill)",
        ),
        Key(
            "backfill",
            bool,
            False,
            "on a trial's first check, store the registry's earlier versions first",
        ),
        Key(
            "store",
            str,
            "snapshots",
            "folder of stored snapshots, or a PostgreSQL URL (postgresql://…)",
            path=True,
        ),
        Key(
            "watchlist", str, "watchlist.toml", "file of watched trials (machine-edited)", path=True
        ),
        Key("request_interval", (int, float), 1.0, "seconds between requests to the registry"),
        Key(
            "timeout",
            (int, float),
            30.0,
            "most seconds one request may take, its whole answer included",
        ),
        Key(
            "run_deadline",
            (int, float),
            0.0,
            "most seconds a whole check may spend asking the registry (0: no limit)",
        ),
        Key("max_retries", int, 5, "retries of a request the registry refused for now"),
        Key("backoff_base", (int, float), 1.0, "seconds before the first retry; doubles"),
        Key("retry_time_cap", (int, float), 300.0, "most seconds spent waiting on retries"),
        Key("batch_size", int, 500, "ids per batched request (at most 500)"),
        Key("ignore", list, [], "field paths whose changes are never reported", env=False),
        Key("show_admin", bool, False, "also report registry bookkeeping changes"),
        Key("fail_on", list, [], "categories that make check exit 1 (empty: all)", env=False),
        Key("email", dict, {}, "mail settings (see [email])", env=False),
        Key(
            "notify",
            list,
            [],
            "notification channels (Apprise URLs, or { url_env, only } tables)",
            env=False,
        ),
        Key(
            "grace_days",
            int,
            30,
            "days past a results deadline before results are called overdue (audit, check)",
        ),
        Key("signals", bool, True, "check reports transparency signals starting or stopping"),
        Key(
            "two_phase",
            bool,
            True,
            "watch-list checks ask for last-update dates first, whole records only when moved",
        ),
        Key(
            "full_check_days",
            (int, float),
            7,
            "days between checks that fetch every whole record anyway (0: every run)",
        ),
        Key("max_query_results", int, 10000, "most trials a search watch may match"),
        Key(
            "sweep_days",
            (int, float),
            7,
            "days between a sync's sweeps of the registry's ids for trials that left (0: never)",
        ),
        Key(
            "lease_seconds",
            (int, float),
            600,
            "seconds a sync worker's claim lasts before another worker may take the job over",
        ),
        Key("trials", list, [], "watched trials written by hand (ids or tables)", env=False),
        Key(
            "site_url",
            str,
            "",
            "where the site `trialwatch site` builds is published (a digest links to a "
            "subscription's page there for what it could not show)",
        ),
        Key(
            "subscription",
            list,
            [],
            "subscriptions: slices of the registry with their own rule, people and pace "
            "([[subscription]] tables)",
            env=False,
        ),
        Key(
            "owners",
            dict,
            {},
            "who answers for which trials: names as the registry writes them, to mail "
            "addresses (audit --sponsor … --mail-owners)",
            env=False,
        ),
    ]
}

EMAIL_KEYS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "enabled": (bool, False),
    "to": ((str, list), []),
    "from": (str, ""),
    "host": (str, "localhost"),
    "port": (int, 0),
    "security": (str, "starttls"),
    "username": (str, ""),
    "password_env": (str, ""),
    "heartbeat": (bool, False),
    "only": (list, []),
    "timeout": ((int, float), 30.0),
    "subject_prefix": (str, "[trialwatch]"),
}


@dataclass
class Settings:
    values: dict[str, Any]
    sources: dict[str, str]
    config_file: Path | None
    # Every config file read, the user's first (the project's wins).
    config_files: tuple[Path, ...] = ()

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def store(self) -> str:
        """A snapshot folder, or a PostgreSQL URL (store/open.py reads either)."""
        return str(self.values["store"])

    @property
    def owners(self) -> dict[str, list[str]]:
        """``[owners]``: names as the registry writes them, to their addresses."""
        return owner_table(self.values["owners"], "owners")

    @property
    def watchlist(self) -> Any:
        """The watch list: a file, or on PostgreSQL the store itself, shared by everyone using
        it (unless the ``watchlist`` setting names a file): store/watchlist.py's ``Where``."""
        file = Path(self.values["watchlist"])
        spec = self.store
        if self.sources.get("watchlist", "default") == "default" and spec.startswith(
            ("postgresql://", "postgres://")
        ):
            from trialwatch.store.watchlist import StoreList

            return StoreList(spec, file)
        return file


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    if t == (int, float):
        return "a number"
    if isinstance(t, tuple):
        return " or ".join(dict.fromkeys(names.get(x, x.__name__) for x in t))
    return names.get(t, t.__name__)


def _check_type(value: Any, expected: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and expected in (int, (int, float)):
        return False
    return isinstance(value, expected)


def _linux_like() -> bool:
    import sys

    return os.name != "nt" and sys.platform != "darwin"


def _user_dir(env: Mapping[str, str], xdg: str, under_home: tuple[str, ...], kind: str) -> Path:
    if _linux_like():
        base = env.get(xdg) or str(Path(env.get("HOME", "~")).expanduser().joinpath(*under_home))
        return Path(base) / "trialwatch"
    import platformdirs

    return Path(getattr(platformdirs, kind)("trialwatch", appauthor=False))


def user_config_dir(env: Mapping[str, str]) -> Path:
    """The user's config folder for trialwatch (XDG on Linux, platformdirs elsewhere)."""
    return _user_dir(env, "XDG_CONFIG_HOME", (".config",), "user_config_dir")


def user_data_dir(env: Mapping[str, str]) -> Path:
    """The user's data folder for trialwatch: where a user-level setup keeps its snapshots."""
    return _user_dir(env, "XDG_DATA_HOME", (".local", "share"), "user_data_dir")


def _user_base(name: str, env: Mapping[str, str]) -> Path:
    """What a relative path of a user-level setup is relative to: the data folder for the
    store (data never under a config folder), the config folder for the rest."""
    return user_data_dir(env) if name == "store" else user_config_dir(env)


def _is_file(path: Path, what: str) -> bool:
    """path.is_file(), with a folder this user may not read said as such."""
    try:
        if path.is_file():
            return True
        if path.exists():
            raise ConfigError(f"{path} ({what}) is not a file")
        return False
    except PermissionError:
        raise ConfigError(
            f"cannot read {path.parent} ({what}): permission denied; give this user read "
            "access to it, or name another config with --config"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({what}): {os_reason(exc)}") from None


def find_config(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The project's config file: --config, $TRIALWATCH_CONFIG, or the nearest
    trialwatch.toml from the working folder up."""
    if explicit:
        path = Path(explicit).expanduser()
        if not _is_file(path, "from --config"):
            raise ConfigError(f"config file {path} (from --config) does not exist")
        return path
    from_env = env.get("TRIALWATCH_CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not _is_file(path, "from TRIALWATCH_CONFIG"):
            raise ConfigError(f"config file {path} (from TRIALWATCH_CONFIG) does not exist")
        return path
    for folder in (cwd, *cwd.parents):
        try:
            found = (folder / "trialwatch.toml").is_file()
        except OSError:
            break  # a folder above that this user may not read: no project config there
        if found:
            return folder / "trialwatch.toml"
    return None


def find_user_config(env: Mapping[str, str]) -> Path | None:
    path = user_config_dir(env) / "config.toml"
    return path if _is_file(path, "the user config") else None


def is_project_folder(folder: Path) -> bool:
    """A folder that holds a watch list or snapshots of its own is a project, config or not."""
    try:
        return (folder / "watchlist.toml").is_file() or (folder / "snapshots").is_dir()
    except OSError:
        return False


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {os_reason(exc)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    import tomllib  # here, not at the top: most runs have no config file to parse

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _validate_file(data: dict[str, Any], path: Path) -> None:
    for key, value in data.items():
        spec = KEYS.get(key)
        if spec is None:
            known = ", ".join(sorted(KEYS))
            raise ConfigError(f"{path}: unknown key {key!r}; known keys are {known}")
        if not _check_type(value, spec.type):
            raise ConfigError(
                f"{path}: {key} must be {_type_name(spec.type)}, not {type(value).__name__} "
                f"({value!r})"
            )
    for key in ("ignore", "fail_on"):
        if key in data and not all(isinstance(v, str) for v in data[key]):
            raise ConfigError(f"{path}: {key} must be a list of strings")
    if "email" in data:
        validate_email(data["email"], str(path))
    if "owners" in data:
        owner_table(data["owners"], f"{path}: [owners]")
    if "subscription" in data:
        from trialwatch.subscriptions.model import parse_all

        parse_all(data["subscription"], str(path))
    if "trials" in data:
        from trialwatch.store.watchlist import parse_entries

        parse_entries(data["trials"], str(path))


def owner_table(value: Any, where: str) -> dict[str, list[str]]:
    """``[owners]``: each name as the registry writes it, to one address or a list of them."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of names to mail addresses")
    table: dict[str, list[str]] = {}
    for name, addresses in value.items():
        found = [addresses] if isinstance(addresses, str) else addresses
        if not isinstance(found, list) or not found or not all(isinstance(a, str) for a in found):
            raise ConfigError(f"{where}: {name!r} wants a mail address or a list of them")
        for a in found:
            if "@" not in a or any(c in a for c in "\r\n ,;"):
                raise ConfigError(f"{where}: {a!r} (for {name!r}) is not a mail address")
        table[str(name)] = list(found)
    return table


def validate_email(email: dict[str, Any], where: str) -> None:
    if "password" in email:
        raise ConfigError(
            f"{where}: never put the mail password in the file; "
            "set email.password_env to the name of a variable that holds it"
        )
    for key, value in email.items():
        if key not in EMAIL_KEYS:
            raise ConfigError(
                f"{where}: unknown key email.{key}; known keys are {', '.join(sorted(EMAIL_KEYS))}"
            )
        expected = EMAIL_KEYS[key][0]
        if not _check_type(value, expected):
            raise ConfigError(f"{where}: email.{key} must be {_type_name(expected)}")
    security = email.get("security", "starttls")
    if security not in ("starttls", "ssl", "none"):
        raise ConfigError(f"{where}: email.security must be starttls, ssl or none")
    if "timeout" in email:
        check_number(email["timeout"], f"{where}: email.timeout", 0.0, 3600.0, False)
    port = email.get("port", 0)
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"{where}: email.port must be from 1 to 65535 (0: the default), not {port}"
        )
    for key in ("from", "host", "username", "password_env", "subject_prefix"):
        value = email.get(key, "")
        if any(c in value for c in "\r\n\x00"):
            raise ConfigError(f"{where}: email.{key} must be one line")


def _from_env(key: Key, raw: str) -> Any:
    where = f"{ENV_PREFIX}{key.name.upper()}"
    try:
        if key.type == (int, float):
            return float(raw)
        if key.type is int:
            return int(raw)
        if key.type is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{where}={raw!r} must be {_type_name(key.type)}") from None
    return raw


# Numeric settings: (key, lowest, highest, may be 0). Each must be a finite number in range, so
# that no value can reach a crash (or a wait of centuries) later.
NUMBER_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("request_interval", 0.0, 3600.0, True),
    ("timeout", 0.0, 3600.0, False),
    ("run_deadline", 0.0, 7 * 86400.0, True),
    ("backoff_base", 0.0, 3600.0, True),
    ("retry_time_cap", 0.0, 86400.0, True),
)


def check_number(
    value: Any, where: str, low: float, high: float, zero_ok: bool, unit: str = "seconds"
) -> None:
    import math

    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number of {unit}, not {value!r}")
    smallest = "0" if zero_ok else "more than 0"
    if value < low or value > high or (value == 0 and not zero_ok):
        raise ConfigError(f"{where} must be from {smallest} to {high:g} {unit}, not {value!r}")


def validate_values(values: dict[str, Any], sources: dict[str, str]) -> None:
    def where(k: str) -> str:
        return sources.get(k, k)

    if not str(values["history_url"]).startswith(("http://", "https://")):
        raise ConfigError(
            f"history_url ({where('history_url')}) must start with http:// or https://, "
            f"got {values['history_url']!r}"
        )
    site_url = str(values["site_url"])
    if site_url and not site_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"site_url ({where('site_url')}) must start with http:// or https://, got {site_url!r}"
        )
    if not str(values["api_url"]).startswith(("http://", "https://")):
        raise ConfigError(
            f"api_url ({where('api_url')}) must start with http:// or https://, "
            f"got {values['api_url']!r}"
        )
    for k, low, high, zero_ok in NUMBER_RANGES:
        check_number(values[k], f"{k} ({where(k)})", low, high, zero_ok)
    if values["max_retries"] < 0 or values["max_retries"] > 20:
        raise ConfigError(f"max_retries ({where('max_retries')}) must be from 0 to 20")
    if not 1 <= values["batch_size"] <= 500:
        raise ConfigError(f"batch_size ({where('batch_size')}) must be from 1 to 500")
    if values["notify"] != [] or values["email"].get("only") is not None:
        # Only a config that sets them pays for the channels' module (start-up: a diff or a
        # check without notifications never loads it).
        from trialwatch.notify.channels import channels, parse_only

        channels(values["notify"], f"notify ({where('notify')})")
        parse_only(values["email"].get("only"), f"email.only ({where('email')})")
    if not 1 <= values["max_query_results"] <= 1_000_000:
        raise ConfigError(
            f"max_query_results ({where('max_query_results')}) must be from 1 to 1000000"
        )
    check_number(
        values["full_check_days"],
        f"full_check_days ({where('full_check_days')})",
        0,
        3650,
        True,
        "days",
    )
    if not 0 <= values["grace_days"] <= 3650:
        raise ConfigError(f"grace_days ({where('grace_days')}) must be from 0 to 3650")
    valid = FAIL_ON_NAMES
    for cat in values["fail_on"]:
        if cat not in valid:
            raise ConfigError(
                f"fail_on ({where('fail_on')}): unknown category {cat!r}; "
                f"choose from {', '.join(sorted(valid))}"
            )


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = find_config(config, env, cwd)
    data = read_toml(path) if path else {}
    if path:
        _validate_file(data, path)
    user_path = find_user_config(env)
    user = read_toml(user_path) if user_path else {}
    if user_path:
        _validate_file(user, user_path)
    base: Path | None
    if path:
        base = path.parent.resolve()
    elif user_path and not is_project_folder(cwd):
        base = None  # a user-level setup: config in the config folder, data in the data folder
    else:
        base = cwd
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in KEYS.items():
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if name in flags:
            value, source = flags[name], "command line"
            rel_base = cwd
        elif key.env and env.get(env_name):
            value, source = _from_env(key, env[env_name]), env_name
            rel_base = cwd
        elif name in data or name in user:
            value, source = _merged(name, data, user, path, user_path)
            rel_base = path.parent.resolve() if name in data and path else _user_base(name, env)
        elif base is None:
            value, source = key.default, "default"
            rel_base = _user_base(name, env)
        else:
            value, source = key.default, "default"
            rel_base = base
        # A database URL, or the in-memory store, is no path to resolve.
        if key.path and not (
            str(value).startswith(("postgresql://", "postgres://")) or str(value) == "memory:"
        ):
            p = Path(str(value)).expanduser()
            value = str(p if p.is_absolute() else (rel_base / p))
        if isinstance(value, list | dict):
            value = type(value)(value)
        values[name] = value
        sources[name] = source
    validate_values(values, sources)
    return Settings(
        values=values,
        sources=sources,
        config_file=path or user_path,
        config_files=tuple(p for p in (user_path, path) if p is not None),
    )


def _merged(
    name: str,
    project: dict[str, Any],
    user: dict[str, Any],
    project_path: Path | None,
    user_path: Path | None,
) -> tuple[Any, str]:
    """A key from the config files, and which: the project's over the user's; a table
    (``[email]``) merged key by key, the project's keys winning."""
    if name in project and name in user and isinstance(project[name], dict):
        both = {**user[name], **project[name]} if isinstance(user[name], dict) else project[name]
        return both, f"{user_path} and {project_path}"
    if name in project:
        return project[name], str(project_path)
    return user[name], str(user_path)
