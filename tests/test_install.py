"""The install steps, run as written on a fresh account: the README's two commands (a fresh
clone that installs trialwatch and checks a trial; one that installs what the tests need and runs
them) and docs/install.md's venv of its own with the link onto a PATH folder that does not exist
yet. Each against this checkout as its REPO and the stand-in registry on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def install_block() -> str:
    page = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    match = re.search(r"```sh\n(.*?)```", page, re.S)
    assert match, "no sh block in docs/install.md"
    return match.group(1)


def readme_commands() -> list[str]:
    """The README's two commands on a fresh machine, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Two commands") : readme.index("## A five-minute tour")]
    found = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert len(found) == 2, found
    return found


@pytest.mark.posix
@pytest.mark.parametrize("which", ["main job", "tests"])
def test_the_readmes_two_commands_work_from_a_fresh_clone_on_a_fresh_account(
    which: str, tmp_path: Path
) -> None:
    """Each command as written, in an empty home, REPO this checkout. The main job checks a
    real record served by the stand-in registry (TRIALWATCH_API_URL, as the docs say to point
    trialwatch elsewhere); the test command runs the suite as written, narrowed by
    PYTEST_ADDOPTS to one quick file (the whole suite inside the suite would run it twice)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of trialwatch")
    from tests.conftest import load
    from tests.registry_server import Registry, serve

    home = tmp_path / "newcomer"
    home.mkdir()
    command = readme_commands()[0 if which == "main job" else 1]
    reg = Registry()
    reg.put(load("NCT06224738.reconstructed.json"))
    with serve(reg) as url:
        env = {
            "HOME": str(home),
            "PATH": os.environ["PATH"],
            "REPO": str(ROOT),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "TRIALWATCH_API_URL": url,
            "PYTEST_ADDOPTS": "tests/test_ids.py -p no:cacheprovider",
        }
        ran = subprocess.run(
            ["bash", "-e", "-c", command], cwd=home, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
    assert ran.returncode == 0, (ran.stdout[-2000:], ran.stderr[-3000:])
    if which == "main job":
        assert "baseline recorded" in ran.stdout, ran.stdout
        assert list((home / "trialwatch" / "snapshots" / "NCT06224738").glob("*.json"))
    else:
        assert re.search(r"\d+ passed", ran.stdout), ran.stdout[-2000:]


@pytest.mark.posix
def test_the_readme_install_works_on_a_fresh_account(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of trialwatch")
    home = tmp_path / "newcomer"
    home.mkdir()  # no ~/.local/bin: the README's steps make it
    script = install_block()
    assert script.startswith("REPO=")
    # REPO is "the URL you cloned it from, or the path of a clone": this checkout.
    script = re.sub(r"^REPO=\S+", f"REPO={ROOT}", script, count=1)
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    ran = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    exe = home / ".local" / "bin" / "trialwatch"
    assert exe.is_symlink()
    version = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("trialwatch ")
    work = tmp_path / "trials"
    work.mkdir()
    init = subprocess.run(
        [str(exe), "config", "init"], env=env, cwd=work, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    assert (work / "trialwatch.toml").read_text(encoding="utf-8").startswith("# trialwatch")
