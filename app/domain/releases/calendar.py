"""Working days on the mainland China calendar (SPEC §4: 紧接着的下一个工作日).

`chinese-calendar` knows public holidays and adjusted working weekends (调休) for the
years the State Council has published. A year it does not cover falls back to
Monday–Friday. An operator can override single days in a TOML file
(`RELEASE_CALENDAR` env var, default `policies/calendar_overrides.toml`):

    holidays = [2031-01-01, 2031-02-10]
    workdays = [2031-02-08]
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar

DEFAULT_OVERRIDES = Path(__file__).resolve().parents[3] / "policies" / "calendar_overrides.toml"


@lru_cache(maxsize=4)
def _overrides(path: str) -> tuple[frozenset[date], frozenset[date]]:
    p = Path(path)
    if not p.is_file():
        return frozenset(), frozenset()
    data = tomllib.loads(p.read_text(encoding="utf-8"))
    return frozenset(data.get("holidays", [])), frozenset(data.get("workdays", []))


def overrides_path() -> str:
    return os.environ.get("RELEASE_CALENDAR", str(DEFAULT_OVERRIDES))


def is_working_day(day: date, overrides: str | None = None) -> bool:
    holidays, workdays = _overrides(overrides or overrides_path())
    if day in workdays:
        return True
    if day in holidays:
        return False
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the library does not cover
        return day.weekday() < 5


def next_working_day(day: date, overrides: str | None = None) -> date:
    """The first working day strictly after `day`."""
    d = day + timedelta(days=1)
    while not is_working_day(d, overrides):
        d += timedelta(days=1)
    return d
