"""`regions(parent)`: the provinces, or the regions directly under one. Public."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.regions.types import Region
from app.domain import regions


@strawberry.type
class RegionQuery:
    @strawberry.field(
        description=(
            "GB/T 2260 regions: the provinces without `parent`, else the regions directly "
            "under that code (a province's cities, a city's districts)."
        )
    )
    async def regions(self, info: Info, parent: str | None = None) -> list[Region]:
        return [Region.of(r) for r in await regions.children(parent)]
