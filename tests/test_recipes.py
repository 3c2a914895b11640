"""The documented recipes work as written: config.example.toml loads, and the commands of the
example GitHub Actions workflow run against a local registry and commit snapshots back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import edited
from tests.registry_server import Registry, serve
from trialwatch.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)


def test_config_example_loads_and_documents_every_key() -> None:
    from trialwatch.config import EMAIL_KEYS, KEYS

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    settings = load_settings(config=str(ROOT / "config.example.toml"))
    assert settings["api_url"] == "https://clinicaltrials.gov/api/v2"
    for key in KEYS:
        if key != "email":
            assert re.search(rf"^{key} = ", text, re.M), f"{key} is not documented"
    for key in EMAIL_KEYS:
        assert re.search(rf"^#? ?{key} ", text, re.M), f"email.{key} is not documented"


def recipe(name: str) -> str:
    text = (ROOT / "examples" / "github-actions.yml").read_text(encoding="utf-8")
    match = re.search(rf"# --- trialwatch recipe: {name}\n(.*?)\n\s*# --- end", text, re.S)
    assert match, name
    return "\n".join(line.strip() for line in match.group(1).splitlines())


def test_github_actions_recipe(her2: dict[str, Any], tmp_path: Path) -> None:
    if shutil.which("git") is None:  # pragma: no cover - git is on every CI machine here
        raise AssertionError("git is needed for this test")
    reg = Registry()
    reg.put(her2)
    origin = tmp_path / "origin.git"
    repo = tmp_path / "repo"
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run([*git, "clone", "-q", str(origin), str(repo)], check=True, capture_output=True)
    with serve(reg) as url:
        (repo / "trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT06224738"]\n', encoding="utf-8"
        )
        env = {
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        }

        def step(name: str) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", recipe(name)],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            return proc

        step("check")
        step("commit")
        assert (tmp_path / "output.txt").read_text(encoding="utf-8") == "code=0\n"
        log = subprocess.run(
            ["git", "log", "--oneline", "origin/main", "--", "snapshots"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "trialwatch: registry changes" in log
        # A day later the sponsor moves primary completion: the summary says so, code 1.
        reg.put(
            edited(
                her2,
                lambda r: r["protocolSection"]["statusModule"].update(
                    primaryCompletionDateStruct={"date": "2026-09-01", "type": "ESTIMATED"}
                ),
            )
        )
        reg.data_timestamp = "2026-11-26T09:00:05"
        step("check")
        step("commit")
        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert "Primary completion slipped 6 months (2026-03-01 → 2026-09-01, estimated)" in summary
        assert (tmp_path / "output.txt").read_text(encoding="utf-8").splitlines()[-1] == "code=1"
        files = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", "origin/main"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert len([f for f in files if f.startswith("snapshots/NCT06224738/20")]) == 2
