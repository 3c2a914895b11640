"""Fuzzing the whole path (parse, store, compare, render) with mutated real records: one
trial's trouble is that trial's error, never a crash; the same record gives the same bytes."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import all_records
from tests.fuzzing import mutate, through_everything
from trialwatch.model import Outcome
from trialwatch.store import SnapshotStore

RECORDS = [r for r in all_records() if len(str(r)) < 60_000][:12]


def test_seeded_mutations_never_crash(tmp_path: Path) -> None:
    rng = random.Random(8)
    outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for i, record in enumerate(itertools.islice(itertools.cycle(RECORDS), 120)):
        store = SnapshotStore(tmp_path / f"s{i}")
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
