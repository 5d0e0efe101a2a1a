"""Reviews' types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.visibility import merchant_visible
from app.domain.reviews import ReviewErrorCode
from app.models.merchants import Merchant
from app.models.reviews import Review

ReviewError = error_type("ReviewError", ReviewErrorCode)


@strawberry.type(name="Review")
class ReviewType(relay.Node):
    id: relay.NodeID[int]
    merchant_id: relay.GlobalID
    stars: int = strawberry.field(description="1 to 5.")
    text: str
    created_at: datetime

    @classmethod
    def from_model(cls, r: Review) -> ReviewType:
        return cls(
            id=r.id,
            merchant_id=relay.GlobalID("Merchant", str(r.merchant_id)),
            stars=r.stars,
            text=r.text,
            created_at=r.created_at,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        # a review is as public as its store
        rows = {r.id: r for r in await Review.filter(id__in=[int(i) for i in node_ids])}
        stores = {
            m.id: m for m in await Merchant.filter(id__in={r.merchant_id for r in rows.values()})
        }
        p = info.context.principal
        out = []
        for i in node_ids:
            r = rows.get(int(i))
            seen = r is not None and merchant_visible(p, stores[r.merchant_id])
            out.append(cls.from_model(r) if r and seen else None)
        return out


ReviewResult = Annotated[
    ReviewType | ReviewError,  # type: ignore[valid-type]
    strawberry.union("ReviewResult"),
]
