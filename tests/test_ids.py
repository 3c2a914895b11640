from __future__ import annotations

import pytest

from trialwatch.errors import InputError
from trialwatch.ids import is_nct_id, normalize_nct_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NCT06224738", "NCT06224738"),
        ("nct06224738", "NCT06224738"),
        (" NCT06224738 ", "NCT06224738"),
        ("NCT4437511", "NCT04437511"),  # the API accepts a dropped leading zero
        ("Nct000000001", "NCT00000001"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_nct_id(raw) == expected
    assert is_nct_id(normalize_nct_id(raw))


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "06224738",
        "NCT",
        "NCT0",
        "NCT123456789",
        "NCT06224738/../../etc",
        "../NCT06224738",
        "NCT06224738\x00",
        "NCT0622473a",
        "NCT 06224738",
        "x" * 500,
    ],
)
def test_malformed_ids_are_refused_with_a_message(raw: str) -> None:
    with pytest.raises(InputError, match="is not a ClinicalTrials.gov id"):
        normalize_nct_id(raw)
