"""Start-up: how long `trialwatch --help` and a `trialwatch diff` of two small records take,
beside the floor of starting Python at all, in the same run.

Run: python benchmarks/bench_startup.py --runs 21

Each command is run --runs times as a fresh process (output discarded); the median and the
fastest run are printed. The two records are a real sample (NCT06171568) and the same record
with its overall status changed. "import pydantic" is shown for scale: typer 0.29 and newer
import it for every command (the reason trialwatch asks for typer < 0.29).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "NCT06171568.json"


def timed(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    exe = shutil.which("trialwatch")
    if exe is None:
        sys.exit("trialwatch is not installed in this environment (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        record = json.loads(FIXTURE.read_text(encoding="utf-8"))
        old, new = Path(tmp, "old.json"), Path(tmp, "new.json")
        old.write_text(json.dumps(record), encoding="utf-8")
        record["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
        new.write_text(json.dumps(record), encoding="utf-8")
        rows = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("python -c 'import pydantic'", [sys.executable, "-c", "import pydantic"]),
            ("trialwatch --help", [exe, "--help"]),
            ("trialwatch --version", [exe, "--version"]),
            ("trialwatch diff (2 small records)", [exe, "diff", str(old), str(new)]),
        ]
        print(f"{'command':<36} {'median ms':>10} {'fastest ms':>11}")
        for name, cmd in rows:
            median, fastest = timed(cmd, args.runs)
            print(f"{name:<36} {median * 1000:>10.0f} {fastest * 1000:>11.0f}")


if __name__ == "__main__":
    main()
