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
    assert Path(settings.store) == project / "snapshots"
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
    assert Path(settings.store) == home / ".local" / "share" / "trialwatch" / "everything"


def test_a_user_level_setup_keeps_data_out_of_the_config_folder(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    user_config(home, 'trials = ["NCT06224738"]\n')
    settings = load_settings(env=env_for(home), cwd=elsewhere)
    assert Path(settings.store) == home / ".local" / "share" / "trialwatch" / "snapshots"
    assert settings.watchlist == home / ".config" / "trialwatch" / "watchlist.toml"
    env = {**env_for(home), "XDG_DATA_HOME": str(tmp_path / "data")}
    elsewhere_store = load_settings(env=env, cwd=elsewhere).store
    assert Path(elsewhere_store) == tmp_path / "data/trialwatch/snapshots"


def test_no_config_at_all_works_in_the_folder_you_are_in(tmp_path: Path) -> None:
    settings = load_settings(env=env_for(tmp_path / "home"), cwd=tmp_path)
    assert Path(settings.store) == tmp_path / "snapshots"
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


def test_config_init_writes_a_starting_config(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import cli

    code, _, err = cli(capsys, "config", "init")
    assert code == 0 and "wrote trialwatch.toml" in err
    settings = load_settings()
    assert settings.config_file == Path("trialwatch.toml").resolve()
    assert settings["trials"] == []  # watches nothing until you say
    code, _, err = cli(capsys, "config", "init")
    assert code == 2 and "is there already" in err  # never overwritten by accident
    assert cli(capsys, "config", "init", "--force")[0] == 0
    code, _, err = cli(capsys, "config", "init", "--user")
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "trialwatch" / "config.toml"
    assert code == 0 and user.is_file()
    code, out, _ = cli(capsys, "config")
    assert code == 0 and f"config files: {Path('trialwatch.toml').resolve()} and {user}" in out


def test_the_packaged_example_is_the_documented_one() -> None:
    root = Path(__file__).resolve().parent.parent
    top = (root / "config.example.toml").read_text(encoding="utf-8")
    assert (root / "trialwatch" / "config.example.toml").read_text(encoding="utf-8") == top


def test_the_wheel_carries_the_example_config(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("trialwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "trialwatch/config.example.toml" in names
    assert "trialwatch/changes/fieldnames.txt" in names
