"""Reviews' fields: a consumer reviews a settled order; anyone reads a store's reviews."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsConsumer, user_of
from app.api.graphql.core.visibility import merchant_visible
from app.api.graphql.reviews.types import ReviewError, ReviewResult, ReviewType
from app.domain import reviews
from app.domain.reviews import ReviewErrorCode
from app.infra.errors import NotFound
from app.models.merchants import Merchant
from app.services import reviews as reviewing

on_error = handles_errors(ReviewError, ReviewErrorCode)


@strawberry.type
class ReviewQuery:
    @strawberry.field(description="A store's reviews, newest first.")
    async def merchant_reviews(
        self, info: Info, merchant_id: InputID, first: int | None = 20, after: str | None = None
    ) -> Connection[ReviewType]:
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        m = await Merchant.get_or_none(id=mid)
        if m is None or not merchant_visible(info.context.principal, m):
            raise NotFound("merchant", "merchantId")
        return await paginate(reviews.reviews_of(mid), first, after, ReviewType.from_model)


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(
        permission_classes=[IsConsumer],
        description=(
            "Review one of my orders once its refund window has passed: 1-5 stars and a "
            "short text. Sending the same review again answers with it; another review "
            "of the order is refused (ALREADY_REVIEWED)."
        ),
    )
    @on_error
    async def review_order(
        self, info: Info, order_id: InputID, stars: int, text: str | None = None
    ) -> ReviewResult:
        r = await reviewing.review_order(
            consumer_id=user_of(info).user_id,
            order_id=decode_id(order_id, "Order", "orderId"),
            stars=stars,
            text=text,
        )
        return ReviewType.from_model(r)
