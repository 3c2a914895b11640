from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

pytest_plugins = ["tests.pg"]  # a real PostgreSQL: the pg_server and pg_url fixtures


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``each_store`` runs against both stores; one marked ``folder_only`` (it is
    about the snapshot folder's files themselves) against the folder alone."""
    if "each_store" in metafunc.fixturenames:
        folder_only = metafunc.definition.get_closest_marker("folder_only") is not None
        # The same test on PostgreSQL is the slow half: the fast subset runs the folder.
        kinds: list[Any] = ["folder"]
        if not folder_only:
            kinds.append(pytest.param("postgresql", marks=pytest.mark.slow))
        metafunc.parametrize("each_store", kinds, indirect=True)


@pytest.fixture
def each_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store a test runs against: the snapshot folder (the default), or a fresh PostgreSQL
    database (named by TRIALWATCH_STORE, as a user would)."""
    if request.param == "folder":
        return "snapshots"
    url = str(request.getfixturevalue("pg_url"))
    monkeypatch.setenv("TRIALWATCH_STORE", url)
    return url


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty stand-in registry on 127.0.0.1 that trialwatch is pointed at, with no pause
    between requests; a test module that needs another defines its own ``registry``."""
    from tests.registry_server import Registry, serve

    reg = Registry()
    with serve(reg) as url:
        monkeypatch.setenv("TRIALWATCH_API_URL", url)
        monkeypatch.setenv("TRIALWATCH_REQUEST_INTERVAL", "0")
        yield reg


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No user config, no real snapshot folder, no colour surprises."""
    import os

    for name in list(os.environ):
        if name.startswith("TRIALWATCH_") or name in ("FORCE_COLOR", "NO_COLOR", "TERM"):
            monkeypatch.delenv(name, raising=False)
    # `watch add` looks a trial up in the registry: only ever in a local server a test started.
    from trialwatch.usecases import watch

    real_title_check = watch.title_check

    def local_only(settings: Any, raw: str) -> str | None:
        if str(settings["api_url"]).startswith("http://127.0.0.1:"):
            return real_title_check(settings, raw)
        return None

    monkeypatch.setattr(watch, "title_check", local_only)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("COLUMNS", "100")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run trialwatch in this process: (exit code, stdout, stderr)."""
    from trialwatch.cli import run

    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def load(name: str) -> dict[str, Any]:
    """A real record from tests/fixtures (copied from shared/ctgov-samples)."""
    path = FIXTURES / name
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "study" in data:
        data = data["study"]
    assert isinstance(data, dict)
    return data


def edited(record: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of a real record with one realistic edit applied."""
    out = copy.deepcopy(record)
    edit(out)
    return out


def renumbered(record: dict[str, Any], nct: str) -> dict[str, Any]:
    """A deep copy of a real record under another id, with no former ids (for populations
    larger than the samples)."""
    out = copy.deepcopy(record)
    ident = out["protocolSection"]["identificationModule"]
    ident["nctId"] = nct
    ident.pop("nctIdAliases", None)
    return out


def all_records() -> list[dict[str, Any]]:
    """Every real study record in the fixtures: single records, pages and download files."""
    records: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            records.extend(data)
        elif isinstance(data, dict) and "studies" in data:
            records.extend(data["studies"])
        elif isinstance(data, dict) and "study" in data:
            records.append(data["study"])
        elif isinstance(data, dict) and "protocolSection" in data:
            records.append(data)
    return records


@pytest.fixture
def her2() -> dict[str, Any]:
    return load("NCT06224738.reconstructed.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked posix need file modes, fork, bash or mount: skipped on Windows."""
    import os

    if os.name != "nt":
        return
    skip = pytest.mark.skip(reason="needs POSIX")
    for item in items:
        if "posix" in item.keywords:
            item.add_marker(skip)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/* from the current output instead of comparing",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; rewrite it only with --update-golden."""
    update = bool(request.config.getoption("--update-golden"))
    folder = Path(__file__).parent / "golden"

    def check(name: str, text: str) -> None:
        path = folder / name
        if update:
            folder.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}; run pytest --update-golden and review it"
        assert text == path.read_text(encoding="utf-8")

    return check


def nested(levels: int) -> list[Any]:
    """A value nesting ``levels`` lists deep (a record past the depth no study nears)."""
    value: list[Any] = ["deep"]
    for _ in range(levels - 1):
        value = [value]
    return value
