"""The documented recipes work as written: config.example.toml loads, and the commands of the
example GitHub Actions workflow run against a local registry and commit snapshots back."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edited
from tests.registry_server import Registry, serve
from trialwatch.config import load_settings

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]

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
    return textwrap.dedent(match.group(1))


GH = """#!/bin/sh
# A stand-in for the runner's gh: records what the recipe asks of it (one JSON line a call).
exec "$PYTHON" - "$@" <<'PY'
import json, os, sys
args = sys.argv[1:]
record = {"args": args}
if "--body-file" in args:
    record["body"] = open(args[args.index("--body-file") + 1], encoding="utf-8").read()
with open(os.environ["GH_RECORD"], "a", encoding="utf-8") as f:
    f.write(json.dumps(record) + "\\n")
print("https://github.test/someone/trials/issues/1")
PY
"""


def gh_stand_in(folder: Path) -> Path:
    """A folder holding an executable ``gh`` that records its calls."""
    folder.mkdir()
    gh = folder / "gh"
    gh.write_text(GH, encoding="utf-8")
    gh.chmod(0o755)
    return folder


@pytest.mark.posix
def test_github_actions_recipe(her2: dict[str, Any], tmp_path: Path) -> None:
    """The workflow's steps, run as written (bash, the job's environment): it opens an issue
    when something changed, commits only a snapshot that changed with the trials and their
    headlines in the message, and fails the job on trouble (a missing trialwatch included) or
    on what FAIL_ON names."""
    if shutil.which("git") is None:  # pragma: no cover - git is on every CI machine here
        raise AssertionError("git is needed for this test")
    reg = Registry()
    reg.put(her2)
    origin = tmp_path / "origin.git"
    repo = tmp_path / "repo"
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run([*git, "clone", "-q", str(origin), str(repo)], check=True, capture_output=True)
    tools = gh_stand_in(tmp_path / "tools")
    calls = tmp_path / "gh.jsonl"

    def issues() -> list[dict[str, Any]]:
        """The issues the recipe opened: title and body of each gh issue create."""
        if not calls.exists():
            return []
        out = []
        for line in calls.read_text(encoding="utf-8").splitlines():
            args = json.loads(line)["args"]
            assert args[:2] == ["issue", "create"], args
            out.append({"title": args[args.index("--title") + 1], "body": json.loads(line)["body"]})
        return out

    with serve(reg) as url:
        (repo / "trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\n'
            'trials = [{ id = "NCT06224738", label = "HER2 CAR-M" }]\n',
            encoding="utf-8",
        )
        env = {
            "PATH": f"{BIN}:{tools}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
            "GH_TOKEN": "t0ken",
            "GH_RECORD": str(calls),
            "PYTHON": sys.executable,
            "FAIL_ON": "",
            "ISSUE_ON": "",
        }

        def output(name: str) -> str:
            lines = (tmp_path / "output.txt").read_text(encoding="utf-8").splitlines()
            found = [ln.split("=", 1)[1] for ln in lines if ln.startswith(f"{name}=")]
            return found[-1]

        def code() -> str:
            return output("code")

        def step(name: str, **extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["bash", "-e", "-c", recipe(name)],  # as GitHub runs a step: bash -e
                cwd=repo,
                env={
                    **env,
                    **({"CODE": code(), "FAIL": output("fail")} if name == "fail" else {}),
                    **extra,
                },
                capture_output=True,
                text=True,
                check=False,
            )

        def job(**extra: str) -> int:
            """The steps in order, with the workflow's conditions; the job's result."""
            assert step("check", **extra).returncode == 0
            if output("open") == "true":  # the step's condition in the workflow
                notify = step("notify", **extra)
                assert notify.returncode == 0, notify.stderr
            commit = step("commit", **extra)
            assert commit.returncode == 0, commit.stderr
            if code() in ("0", "1"):  # the site is built whenever the check ran
                site = step("site", **extra)
                assert site.returncode == 0, site.stderr
            return step("fail", **extra).returncode

        def log() -> list[str]:
            out = subprocess.run(
                ["git", "log", "--format=%B%x00", "origin/main"],
                cwd=repo,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return [m.strip() for m in out.split("\x00") if m.strip()]

        assert job() == 0 and code() == "0"
        assert log() == ["trialwatch: NCT06224738"]
        assert issues() == []  # a first baseline is not news
        # Nothing changed: no commit (no lock or run-state file in git), no issue.
        assert job() == 0 and len(log()) == 1 and issues() == []
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        assert ".trialwatch" not in tracked and ".lock" not in tracked

        def status(**fields: Any) -> None:
            reg.put(edited(her2, lambda r: r["protocolSection"]["statusModule"].update(**fields)))

        # The sponsor moves primary completion: an issue, a commit naming it, the summary.
        status(primaryCompletionDateStruct={"date": "2026-09-01", "type": "ESTIMATED"})
        reg.data_timestamp = "2026-11-26T09:00:05"
        assert job() == 0 and code() == "1"  # changes alone do not fail the job…
        headline = "Primary completion slipped 6 months (2026-03-01 → 2026-09-01, estimated)"
        assert len(issues()) == 1
        issue = issues()[0]
        assert issue["title"].startswith(f"trialwatch: NCT06224738 (HER2 CAR-M): {headline}")
        # The issue's body is the report itself, as the job summary has it.
        assert headline in issue["body"] and issue["body"].startswith("## trialwatch")
        message = log()[0]
        assert message.startswith("trialwatch: NCT06224738") and headline in message
        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert headline in summary and issue["body"] in summary
        # The site to publish: the trial's page and feed carry the change; never committed.
        page = (repo / "_site" / "trials" / "NCT06224738.html").read_text(encoding="utf-8")
        assert "Primary completion slipped 6 months" in page
        assert (repo / "_site" / "trials" / "NCT06224738.atom").exists()
        assert (
            "_site"
            not in subprocess.run(
                ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
            ).stdout
        )
        # …unless FAIL_ON names them; and what fails the job does not decide the issue: a
        # status change with FAIL_ON=dates opens one all the same, and passes.
        status(
            primaryCompletionDateStruct={"date": "2026-12-01", "type": "ESTIMATED"},
        )
        reg.data_timestamp = "2026-11-27T09:00:05"
        assert job(FAIL_ON="dates") == 1 and len(issues()) == 2
        status(
            primaryCompletionDateStruct={"date": "2026-12-01", "type": "ESTIMATED"},
            overallStatus="RECRUITING",
        )
        reg.data_timestamp = "2026-11-28T09:00:05"
        assert job(FAIL_ON="dates") == 0 and len(issues()) == 3
        assert "Recruiting" in issues()[2]["title"]
        # ISSUE_ON narrows what opens one: a date slip is not a status change.
        status(
            primaryCompletionDateStruct={"date": "2027-03-01", "type": "ESTIMATED"},
            overallStatus="RECRUITING",
        )
        reg.data_timestamp = "2026-11-29T09:00:05"
        assert job(ISSUE_ON="status,results") == 0 and code() == "1" and len(issues()) == 3
        # Trouble fails the job: the registry is down…
        (repo / "trialwatch.toml").write_text(
            'api_url = "http://127.0.0.1:9/api/v2"\ntrials = ["NCT06224738"]\n',
            encoding="utf-8",
        )
        assert job() == 1 and code() == "2"
        # …and so does a missing trialwatch (exit 127).
        assert job(PATH=f"{tools}:/usr/bin:/bin") == 1 and code() == "127"
        assert len(issues()) == 3
        # The install step says what to set when no source is given.
        install = step("install", TRIALWATCH="")
        assert install.returncode == 1 and "TRIALWATCH_SOURCE" in install.stderr


# --- cron recipes, run as written ---------------------------------------------------------------

_CRON_LINE = re.compile(r"^#?\s*((?:[0-9*/,-]+\s+){5})(\S.*)$")


def cron_recipes() -> list[tuple[str, str]]:
    """Every cron line the docs give — examples/crontab.example (commented options too) and
    each ```cron block of the README and docs/ — as (where, command)."""
    found: list[tuple[str, str]] = []
    sources = [ROOT / "examples" / "crontab.example"]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if doc.exists():
            sources.append(doc)
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            text = "\n".join(re.findall(r"```cron\n(.*?)```", text, re.S))
        for line in text.splitlines():
            match = _CRON_LINE.match(line.strip())
            if match:
                found.append((path.name, match.group(2).split("    #")[0].strip()))
    return found


def test_every_cron_recipe_is_found() -> None:
    commands = [c for _, c in cron_recipes()]
    assert len(commands) >= 6, commands
    assert any("site" in c for c in commands) and any("worker" in c for c in commands)
    # A step after a check or a sync tests for trouble, never for success (exit 1 = changes).
    for command in commands:
        assert not re.search(r"trialwatch (check|sync)[^;]*&&", command), command


@pytest.mark.posix
@pytest.mark.parametrize("where,command", cron_recipes())
def test_a_cron_recipe_does_its_work_on_a_day_with_changes(
    where: str, command: str, her2: dict[str, Any], tmp_path: Path
) -> None:
    """Each recipe as cron runs it (sh -c, cron's bare PATH, the paths of a user's venv and
    home put where this test's are): on the second day a trial changed, and every step of the
    line must still have done its work."""
    from tests import stores
    from tests.smtp_server import Mailbox, smtp_server

    home = Path.home()
    reg = Registry()
    reg.put(her2)
    reg.queries["query.cond=gastric cancer"] = ["NCT06224738"]
    box = Mailbox()
    with serve(reg) as url, smtp_server(box) as port:
        # The config in this test's folder: its store (./snapshots, or the database) is the one
        # tests/stores.py reads.
        config = Path.cwd() / "trialwatch.toml"
        config.write_text(
            f'api_url = "{url}"\nrequest_interval = 0\ntrials = ["NCT06224738"]\n'
            f'[email]\nto = ["you@example.org"]\nfrom = "tw@example.org"\nhost = "127.0.0.1"\n'
            f'port = {port}\nsecurity = "none"\n',
            encoding="utf-8",
        )
        line = command.replace("/home/you/.venvs/trialwatch/bin/", BIN + "/")
        line = line.replace("/home/you", str(home))
        if not line.startswith(BIN) and line.startswith("trialwatch"):
            line = f"PATH={BIN}:$PATH; {line}"  # the README's short form: trialwatch on PATH
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TRIALWATCH_CONFIG": str(config),
            **stores.process_env(),
        }

        def day() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["sh", "-c", line], cwd=home, env=env, capture_output=True, text=True, timeout=120
            )

        if "sync" in line:  # the whole-registry recipe starts from a store synced once
            first = subprocess.run(
                [f"{BIN}/trialwatch", "sync", "--query", "cond=gastric cancer"],
                cwd=home, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert first.returncode == 0, first.stderr
        ran = day()
        assert "Traceback" not in ran.stderr, ran.stderr
        reg.put(
            edited(
                her2,
                lambda r: r["protocolSection"]["statusModule"].update(
                    overallStatus="TERMINATED", whyStopped="Sponsor decision"
                ),
            )
        )
        reg.data_timestamp = "2026-11-26T09:00:00"
        ran = day()
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.returncode < 2, (line, ran.returncode, ran.stderr)
        if " site " in line:
            page = (home / "public_html" / "trials" / "trials" / "NCT06224738.html").read_text(
                encoding="utf-8"
            )
            assert "Completed → Terminated" in page or "→ Terminated" in page, line
        if "worker" in line:
            done = stores.sql("SELECT count(*) FROM sync_jobs WHERE state != 'done'")
            assert done == [(0,)], line
            told = stores.sql("SELECT count(*) FROM events WHERE nct = 'NCT06224738'")
            assert told[0][0] >= 1, line
        if "--email" in line:
            assert len(box.messages) == 1, line
        if line.endswith("check --quiet"):
            assert "Terminated" in ran.stdout, line  # what cron mails
