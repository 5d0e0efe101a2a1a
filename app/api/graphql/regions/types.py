"""Region types: the GB/T 2260 table as clients read it."""

from __future__ import annotations

import strawberry

from app.domain import regions

RegionLevel = strawberry.enum(regions.Level, name="RegionLevel")


@strawberry.type(description="A GB/T 2260 region: a province, a city or a district.")
class Region:
    code: str = strawberry.field(description="6 digits")
    name: str
    level: RegionLevel  # type: ignore[valid-type]
    parent_code: str | None = strawberry.field(description="None for a province.")

    @classmethod
    def of(cls, r: regions.Region) -> Region:
        return cls(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code)
