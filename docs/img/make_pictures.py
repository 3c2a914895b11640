"""Makes docs/img/report.png: a real `trialwatch check` of a real record (NCT03630471) against
the test suite's stand-in registry on 127.0.0.1, after a realistic edit (the sponsor reduces
the blind, cuts the enrollment target and slips primary completion), as a terminal shows it.

Run from the repository root: python docs/img/make_pictures.py (needs chromium)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.text import Text  # noqa: E402

from tests.conftest import load  # noqa: E402
from tests.registry_server import Registry, serve  # noqa: E402


def edit(record: dict) -> dict:  # type: ignore[type-arg]
    new = copy.deepcopy(record)
    design = new["protocolSection"]["designModule"]
    design["designInfo"]["maskingInfo"]["masking"] = "SINGLE"
    design["designInfo"]["maskingInfo"]["whoMasked"] = ["OUTCOMES_ASSESSOR"]
    design["enrollmentInfo"] = {"count": 180, "type": "ACTUAL"}
    status = new["protocolSection"]["statusModule"]
    status["primaryCompletionDateStruct"] = {"date": "2019-04-20", "type": "ACTUAL"}
    status["lastUpdateSubmitDate"] = "2019-05-02"
    return new


def main() -> None:
    exe = str(Path(sys.executable).parent / "trialwatch")
    record = load("NCT03630471.json")
    reg = Registry()
    reg.put(record)
    with tempfile.TemporaryDirectory() as work, serve(reg) as url:
        env = {**os.environ, "TRIALWATCH_API_URL": url, "HOME": work, "FORCE_COLOR": "1",
               "COLUMNS": "110"}  # fmt: skip
        subprocess.run(
            [exe, "check", "NCT03630471"], cwd=work, env=env, check=True, capture_output=True
        )
        reg.put(edit(record))
        reg.data_timestamp = "2026-11-26T09:00:00"
        ran = subprocess.run(
            [exe, "check", "NCT03630471"], cwd=work, env=env, capture_output=True, text=True
        )
    console = Console(record=True, width=110, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Text.from_ansi(f"$ trialwatch check NCT03630471\n{ran.stdout}"))
    svg = Path(tempfile.mkdtemp()) / "report.svg"
    svg.write_text(console.export_svg(title="trialwatch"), encoding="utf-8")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is needed to turn the SVG into a PNG"
    out = ROOT / "docs" / "img" / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={out}", "--window-size=1400,300", svg.as_uri()],
        check=True, capture_output=True,
    )  # fmt: skip
    print(out)


if __name__ == "__main__":
    main()
