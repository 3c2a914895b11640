"""Partial dates (``2025``, ``2025-06``, ``2025-06-15``) and how far a date moved, said plainly."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")

YEAR, MONTH, DAY = 0, 1, 2


@dataclass(frozen=True)
class PartialDate:
    year: int
    month: int | None
    day: int | None
    text: str

    @property
    def precision(self) -> int:
        return DAY if self.day is not None else MONTH if self.month is not None else YEAR


def parse_partial(text: object) -> PartialDate | None:
    if not isinstance(text, str):
        return None
    return _parse(text)


@functools.lru_cache(maxsize=4096)  # records repeat the same few thousand dates
def _parse(text: str) -> PartialDate | None:
    match = _PARTIAL.match(text.strip())
    if not match:
        return None
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        dt.date(year, month or 1, day or 1)
    except ValueError:
        return None
    return PartialDate(year, month, day, text.strip())


def day_of(value: object) -> dt.date | None:
    """A full date (``2024-03-01``) as a date; partial or malformed dates give None."""
    date = parse_partial(value)
    if date is None or date.day is None or date.month is None:
        return None
    return dt.date(date.year, date.month, date.day)


def first_day(date: PartialDate) -> dt.date:
    """The first day a partial date can mean: ``2024-03`` → 2024-03-01."""
    return dt.date(date.year, date.month or 1, date.day or 1)


def last_day(date: PartialDate) -> dt.date:
    """The last day a partial date can mean: ``2024-03`` → 2024-03-31."""
    if date.day is not None and date.month is not None:
        return dt.date(date.year, date.month, date.day)
    if date.month is not None:
        following = dt.date(date.year + (date.month == 12), date.month % 12 + 1, 1)
        return following - dt.timedelta(days=1)
    return dt.date(date.year, 12, 31)


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def months_in(days: int) -> int:
    """A number of days in whole months, rounded half up."""
    return int(abs(days) / 30.4375 + 0.5)


def months_between(a: dt.date, b: dt.date) -> int:
    """Whole months from a to b, rounded half up (negative when b is earlier)."""
    days = (b - a).days
    return -months_in(days) if days < 0 else months_in(days)


def span_words(days: int) -> str:
    """A length of time as people say it: days under two months, then months, then years and
    months."""
    days = abs(days)
    if days < 60:
        return _plural(days, "day")
    return months_words(months_in(days))


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def months_words(months: int) -> str:
    """A number of months as people say it: a year or more in years and months."""
    if months < 12:
        return _plural(months, "month")
    years, rest = divmod(months, 12)
    return _plural(years, "year") + (f" {_plural(rest, 'month')}" if rest else "")


def shift(old: PartialDate, new: PartialDate) -> tuple[int, str]:
    """How far new is from old, compared at the coarser of the two precisions.

    Returns (sign, amount in words): sign is -1 earlier, 0 same, 1 later.
    """
    precision = min(old.precision, new.precision)
    if precision == YEAR:
        delta = new.year - old.year
        return (delta > 0) - (delta < 0), _plural(abs(delta), "year")
    if precision == MONTH:
        delta = (new.year - old.year) * 12 + ((new.month or 1) - (old.month or 1))
        return (delta > 0) - (delta < 0), months_words(abs(delta))
    a = dt.date(old.year, old.month or 1, old.day or 1)
    b = dt.date(new.year, new.month or 1, new.day or 1)
    days = (b - a).days
    sign = (days > 0) - (days < 0)
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if a.day == b.day and months != 0:
        return sign, months_words(abs(months))
    if abs(days) < 60:
        return sign, _plural(abs(days), "day")
    return sign, f"about {months_words(months_in(days))} ({abs(days)} days)"
