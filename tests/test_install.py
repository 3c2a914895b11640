"""The README's install steps, run as written on a fresh account: a clone, a venv of its own,
the link onto a PATH folder that does not exist yet, and the first command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def install_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Install\n") : readme.index("## Quickstart\n")]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "no sh block in the README's Install section"
    return match.group(1)


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
