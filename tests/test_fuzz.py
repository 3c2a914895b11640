"""Fuzzing the whole path (parse, store, compare, render) with mutated real records: one
trial's trouble is that trial's error, never a crash; the same record gives the same bytes."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import all_records
from tests.fuzzing import mutate, through_everything
from trialwatch.model import Outcome
from trialwatch.store import SnapshotStore

RECORDS = [r for r in all_records() if len(str(r)) < 60_000][:12]


def test_seeded_mutations_never_crash() -> None:
    """On the in-memory store: the change model, the pipeline and every renderer, without a
    disk (the folder's own files are proven deterministic below)."""
    from trialwatch.store.memory import MemoryStore

    rng = random.Random(8)
    outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for record in itertools.islice(itertools.cycle(RECORDS), 120):
        store = MemoryStore()
        through_everything(store, record, record, "2026-11-25T06:00:00Z")
        run = through_everything(store, record, mutate(record, rng), "2026-11-26T06:00:00Z")
        for t in run.trials:
            outcomes[t.outcome] += 1
            if t.outcome is Outcome.ERROR:
                assert "internal error" not in (t.error or ""), t.error
    assert outcomes[Outcome.CHANGED] > 60  # the mutations were seen as changes, not dropped


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(RECORDS) - 1))
def test_mutated_records_are_stored_deterministically(
    tmp_path: Path, seed: int, which: int
) -> None:
    record = mutate(RECORDS[which], random.Random(seed))
    texts = []
    for n in range(2):
        store = SnapshotStore(tmp_path / f"{seed}-{n}")
        run = through_everything(store, RECORDS[which], record, "2026-11-25T06:00:00Z")
        files = list((tmp_path / f"{seed}-{n}").glob("NCT*/20*.json"))
        if run.trials and run.trials[0].outcome is Outcome.NEW:
            texts.append(files[0].read_bytes())
            assert "internal error" not in (run.trials[0].error or "")
    if len(texts) == 2:
        assert texts[0] == texts[1]  # the same record, the same snapshot bytes


# Values of a type the registry does not document for the field they replace.
ODD_VALUES: list[object] = [5, 1e308, "text", [], [5], {"a": 1}, None, True]


def _paths(
    value: object, path: tuple[object, ...] = (), depth: int = 5
) -> list[tuple[object, ...]]:
    out = [path] if path else []
    if len(path) >= depth:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key), depth)
    elif isinstance(value, list):
        for i, item in enumerate(value[:1]):
            out += _paths(item, (*path, i), depth)
    return out


@pytest.mark.slow
def test_odd_types_at_every_level_are_reported_never_raised() -> None:
    """Every field of real records (to five levels), replaced by a value of another type, both
    ways: compared without error, every difference said, and every format and the mail digest
    built."""
    import copy

    from trialwatch.changes.differ import compare, fill
    from trialwatch.changes.normalize import VOLATILE
    from trialwatch.model import RunReport, TrialReport
    from trialwatch.notify.mail import build_message, digest_report, mail_settings
    from trialwatch.render.html import render_html
    from trialwatch.render.json_report import render_json
    from trialwatch.render.markdown import render_markdown
    from trialwatch.render.text import render_text

    mail = mail_settings({"to": ["a@example.org"], "from": "b@example.org", "host": "127.0.0.1"})
    tried = 0
    for record in (RECORDS[1], RECORDS[5]):
        nct = record["protocolSection"]["identificationModule"]["nctId"]
        for path in _paths(record):
            if path[-1] == "nctId" or path[: len(VOLATILE[0])] in VOLATILE:
                continue  # the id itself; registry bookkeeping no report shows
            for odd in ODD_VALUES:
                changed = copy.deepcopy(record)
                node = changed
                for part in path[:-1]:
                    node = node[part]
                if node[path[-1]] == odd:
                    continue
                node[path[-1]] = odd
                for old, new in ((record, changed), (changed, record)):
                    trial = TrialReport(nct, Outcome.UNCHANGED, title="t", snapshot="b.json")
                    found = compare(nct, old, new)
                    assert found.changes, (path, odd)
                    fill(trial, found, show_admin=True)
                    run = RunReport("2026-12-04T06:00:00Z", trials=[trial])
                    for render in (render_text, render_markdown, render_html, render_json):
                        render(run)
                    build_message(digest_report([trial], run, []), mail)
                    tried += 1
    assert tried > 500
