"""NCT identifiers: validation and normalisation before any request or path is built."""

from __future__ import annotations

import re

from trialwatch.errors import InputError

# The API's own pattern (OpenAPI 2.0.5: ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$). Leading zeros may be dropped.
_API_PATTERN = re.compile(r"^[Nn][Cc][Tt]0*([1-9][0-9]{0,7})$")


# ASCII digits only: \d would also accept other scripts' digits.
_CANONICAL = re.compile(r"NCT[0-9]{8}")


def normalize_nct_id(raw: str) -> str:
    """Return the canonical ``NCT`` + 8 digits form, or raise InputError naming the bad id."""
    text = raw.strip()
    match = _API_PATTERN.match(text)
    if match is None or len(text) > 40:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InputError(
            f"{shown!r} is not a ClinicalTrials.gov id: expected NCT followed by 8 digits, "
            "for example NCT06224738"
        )
    digits = match.group(1)
    return f"NCT{int(digits):08d}"


def is_nct_id(value: str) -> bool:
    """True when value is already a canonical id (safe to use as a folder name)."""
    return _CANONICAL.fullmatch(value) is not None


def missing_digit(raw: str) -> str | None:
    """A warning when an id looks like it lost a digit: fewer than 8 digits that start with a
    zero ("NCT0622473" reads as NCT00622473, another trial). Ids written without their leading
    zeros ("NCT4437511") are a form the registry accepts and get none."""
    match = _API_PATTERN.match(raw.strip())
    digits = raw.strip()[3:]
    if match is None or len(digits) >= 8 or not digits.startswith("0"):
        return None
    nct = f"NCT{int(match.group(1)):08d}"
    return (
        f"{raw.strip()} has {len(digits)} digits, not 8: it is read as {nct}; if a digit is "
        "missing, that is another trial"
    )
