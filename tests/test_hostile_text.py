"""Registry text that a column, a feed or a list must survive (issue 30: 12, 13, 20): a U+0000
in a title (PostgreSQL refuses it in a text column), U+FFFE and U+FFFF (XML 1.0 forbids them,
so a feed holding one is dropped whole by readers), and a terminal hyperlink with C1 characters
in a title. Each is served by the stand-in registry and run through the CLI, on both stores."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli, edited
from tests.registry_server import Registry, serve

pytestmark = pytest.mark.usefixtures("each_store")

LINK = "\x1b]8;;https://evil.test/\x1b\\click\x1b]8;;\x1b\\"
C1 = "\x85\x86"


def _titled(record: dict[str, Any], title: str, why: str | None = None) -> dict[str, Any]:
    def edit(r: dict[str, Any]) -> None:
        r["protocolSection"]["identificationModule"]["briefTitle"] = title
        if why is not None:
            module = r["protocolSection"]["statusModule"]
            module.update(overallStatus="TERMINATED", whyStopped=why)

    return edited(record, edit)


@pytest.fixture
def registry(her2: dict[str, Any]) -> Iterator[tuple[Registry, str, dict[str, Any]]]:
    reg = Registry()
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nrequest_interval = 0\n', encoding="utf-8"
        )
        yield reg, url, her2


def test_a_nul_in_registry_text_never_stops_a_run(
    registry: tuple[Registry, str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, _, her2 = registry
    reg.put(_titled(her2, "HER2\x00 gastric cancer"))
    assert cli(capsys, "watch", "add", "NCT06224738")[0] == 0
    code, _, err = cli(capsys, "check", "-q")
    assert code == 0, err
    reg.put(_titled(her2, "HER2\x00 gastric cancer, phase 2", why="Sponsor\x00 decision"))
    reg.data_timestamp = "2026-11-26T09:00:00"
    code, out, err = cli(capsys, "check")
    assert code == 1, err
    assert "\x00" not in out and "Sponsor decision" in out
    # …and the run after it too (the title went into the state's columns).
    code, _, err = cli(capsys, "check", "-q")
    assert code == 0, err
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    assert code == 0 and "HER2 gastric cancer, phase 2" in out


def test_xml_forbidden_characters_never_reach_a_feed_or_a_page(
    registry: tuple[Registry, str, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    reg, _, her2 = registry
    reg.put(her2)
    assert cli(capsys, "watch", "add", "NCT06224738")[0] == 0
    assert cli(capsys, "check", "-q")[0] == 0
    reg.put(_titled(her2, "HER2 \ufffe gastric \uffff cancer", why="Stopped \ufffe\uffff early"))
    reg.data_timestamp = "2026-11-26T09:00:00"
    assert cli(capsys, "check", "-q")[0] == 1
    out = tmp_path / "site"
    code, _, err = cli(capsys, "site", str(out))
    assert code == 0, err
    written = [*out.rglob("*.atom"), *out.rglob("*.html")]
    assert len(written) >= 4
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "\ufffe" not in text and "\uffff" not in text, path
        if path.suffix == ".atom":
            ET.fromstring(text.encode("utf-8"))  # well-formed XML 1.0


def test_watch_list_json_carries_the_same_sanitised_title_as_every_report(
    registry: tuple[Registry, str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, _, her2 = registry
    reg.put(_titled(her2, f"HER2 {LINK} gastric{C1} cancer"))
    assert cli(capsys, "watch", "add", "NCT06224738")[0] == 0
    assert cli(capsys, "check", "-q")[0] == 0
    code, out, _ = cli(capsys, "watch", "list", "--format", "json")
    assert code == 0
    listed = json.loads(out)
    titles = (
        [t.get("title") for t in listed.get("trials", listed)]
        if isinstance(listed, dict)
        else [t.get("title") for t in listed]
    )
    # The hyperlink's target and the C1 characters go; its visible text stays, as in a report.
    assert titles == ["HER2 click gastric cancer"], titles
    assert "evil.test" not in out and "\\u0085" not in out and "\\u0086" not in out
