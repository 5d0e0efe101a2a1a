"""GB/T 2260 regions (province / city / district, each with its parent), and the rules
that read them: a store's region, an agent's region of its level.

The table is reference data: written only by migrations (`load`), from the files shipped
in `data/` (see its README for their source, version and date); never by a request.
It has no ORM model on purpose: nothing in the app writes it, and the test harness, which
empties every model's table between tests, leaves it whole.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tortoise import connections

from app.infra import inputs
from app.infra.errors import DomainError
from app.infra.sql import fetch, numbered

DATA = Path(__file__).parent / "data"


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: Level
    parent_code: str | None


def _csv(name: str) -> Iterator[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f)


def shipped() -> list[Region]:
    """Every region in the shipped files, parents before children, codes as 6 digits.
    A city without districts is listed by the files again as its own district under the
    same code: it is kept once, as the city."""
    regions: dict[str, Region] = {}
    for r in _csv("provinces.csv"):
        code = r["code"].ljust(6, "0")
        regions[code] = Region(code, r["name"], Level.PROVINCE, None)
    for r in _csv("cities.csv"):
        code = r["code"].ljust(6, "0")
        regions[code] = Region(code, r["name"], Level.CITY, r["provinceCode"].ljust(6, "0"))
    for r in _csv("areas.csv"):
        if r["code"] not in regions:
            regions[r["code"]] = Region(
                r["code"], r["name"], Level.DISTRICT, r["cityCode"].ljust(6, "0")
            )
    return list(regions.values())


_UPSERT = (
    "INSERT INTO regions (code, name, level, parent_code) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, "
    "parent_code = excluded.parent_code"
)


async def load(conn: Any) -> int:
    """Upsert the shipped regions (a migration's step); how many were written."""
    rows = [[r.code, r.name, r.level.value, r.parent_code] for r in shipped()]
    await conn.execute_many(numbered(_UPSERT), rows)
    return len(rows)


_COLUMNS = "code, name, level, parent_code"


def _region(row: dict[str, Any]) -> Region:
    return Region(row["code"], row["name"], Level(row["level"]), row["parent_code"])


async def children(parent_code: str | None) -> list[Region]:
    """The provinces (no parent), or the regions directly under one, by code."""
    conn = connections.get("default")
    if parent_code is None:
        rows = await fetch(
            conn, f"SELECT {_COLUMNS} FROM regions WHERE parent_code IS NULL ORDER BY code"
        )
    else:
        code = _code(parent_code, "parent")
        rows = await fetch(
            conn,
            f"SELECT {_COLUMNS} FROM regions WHERE parent_code = ? ORDER BY code",
            [code],
        )
    return [_region(r) for r in rows]


async def get(code: str) -> Region | None:
    rows = await fetch(
        connections.get("default"), f"SELECT {_COLUMNS} FROM regions WHERE code = ?", [code]
    )
    return _region(rows[0]) if rows else None


def _code(value: str, field: str) -> str:
    if field == "parent":
        message = "parent must be a 6-digit GB/T 2260 code"
    else:
        message = "regionCode must be a 6-digit GB/T 2260 code"
    return inputs.digits(value, inputs.REGION_CODE, field, message)


async def store_region(code: str, field: str = "regionCode") -> str:
    """A store's region: a district (区/县), or a city that has none below it (东莞)."""
    code = _code(code, field)
    rows = await fetch(
        connections.get("default"),
        "SELECT r.level, EXISTS (SELECT 1 FROM regions c WHERE c.parent_code = r.code) "
        "AS has_children FROM regions r WHERE r.code = ?",
        [code],
    )
    if not rows:
        raise DomainError("INVALID", "no region has this code", field)
    if rows[0]["has_children"]:
        raise DomainError(
            "INVALID", "a store's region is a district, not a province or city", field
        )
    return code


async def agent_region(level: str, code: str, field: str = "regionCode") -> Region:
    """The region an agent of this level may hold: one of that very level."""
    try:
        wanted = Level(level)
    except ValueError:
        raise DomainError("INVALID", "level is province, city or district", "level") from None
    region = await get(_code(code, field))
    if region is None:
        raise DomainError("INVALID", "no region has this code", field)
    if region.level != wanted:
        raise DomainError("INVALID", "the region is not of the agent's level", field)
    return region
