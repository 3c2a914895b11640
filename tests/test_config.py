"""Where settings come from: the project's config over the user's, merged key by key, and data
never under a config folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trialwatch.config import load_settings
from trialwatch.errors import ConfigError


def env_for(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def user_config(home: Path, text: str) -> Path:
    folder = home / ".config" / "trialwatch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_project_folder_wins_over_the_user_config(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    user_config(home, 'trials = ["NCT06224738"]\nrequest_interval = 2.5\n')
    (project / "watchlist.toml").write_text('trials = ["NCT03064438"]\n', encoding="utf-8")
    settings = load_settings(env=env_for(home), cwd=project)
    # The folder's own watch list and snapshots, not the user's.
    assert settings.watchlist == project / "watchlist.toml"
    assert settings.store == project / "snapshots"
    # What the project does not set still comes from the user's config.
    assert settings["request_interval"] == 2.5


def test_the_nearest_trialwatch_toml_wins_and_tables_merge(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    deep = project / "notes" / "2026"
    deep.mkdir(parents=True)
    user = user_config(
        home,
        'request_interval = 2.5\nstore = "everything"\n'
        '[email]\nto = ["me@example.org"]\nfrom = "tw@example.org"\nport = 2525\n',
    )
    config = project / "trialwatch.toml"
    config.write_text('[email]\nhost = "127.0.0.1"\nport = 25\n', encoding="utf-8")
    settings = load_settings(env=env_for(home), cwd=deep)
    assert settings.config_file == config
    assert settings.config_files == (user, config)
    email = settings["email"]
    assert email["to"] == ["me@example.org"] and email["host"] == "127.0.0.1"
    assert email["port"] == 25  # the project's key wins
    # A relative store in the user's config is in the user data folder, never the config one.
    assert settings.store == home / ".local" / "share" / "trialwatch" / "everything"


def test_a_user_level_setup_keeps_data_out_of_the_config_folder(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    user_config(home, 'trials = ["NCT06224738"]\n')
    settings = load_settings(env=env_for(home), cwd=elsewhere)
    assert settings.store == home / ".local" / "share" / "trialwatch" / "snapshots"
    assert settings.watchlist == home / ".config" / "trialwatch" / "watchlist.toml"
    env = {**env_for(home), "XDG_DATA_HOME": str(tmp_path / "data")}
    assert load_settings(env=env, cwd=elsewhere).store == tmp_path / "data/trialwatch/snapshots"


def test_no_config_at_all_works_in_the_folder_you_are_in(tmp_path: Path) -> None:
    settings = load_settings(env=env_for(tmp_path / "home"), cwd=tmp_path)
    assert settings.store == tmp_path / "snapshots"
    assert settings.watchlist == tmp_path / "watchlist.toml"
    assert settings.config_files == ()


def test_flags_and_environment_win_over_both_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user_config(home, "request_interval = 2.5\n")
    (tmp_path / "trialwatch.toml").write_text("request_interval = 3\n", encoding="utf-8")
    env = {**env_for(home), "TRIALWATCH_REQUEST_INTERVAL": "4"}
    assert load_settings(env=env, cwd=tmp_path)["request_interval"] == 4
    got = load_settings({"request_interval": 5.0}, env=env, cwd=tmp_path)
    assert got["request_interval"] == 5


def test_a_broken_user_config_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = user_config(home, "request_interval = [\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(env=env_for(home), cwd=tmp_path)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_an_unreadable_config_folder_is_a_message(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any folder (tests/test_faults.py runs this without the right)")
    home = tmp_path / "home"
    path = user_config(home, "request_interval = 1\n")
    path.parent.chmod(0)
    try:
        with pytest.raises(ConfigError, match="permission denied"):
            load_settings(env=env_for(home), cwd=tmp_path)
    finally:
        path.parent.chmod(0o755)
