"""Reviews and the rating they make (SPEC §14.2).

A consumer may review an order of theirs once it is paid and past its refund window
(settled), once per order: 1–5 stars and a short text, normalised as names are (NFKC,
no control or bidirectional characters). A store's rating is a Bayesian average of its
reviews: as if it had `reviews.prior_weight` reviews at the platform's mean besides its
own, so one five-star review does not put a new store above every established one.

This module writes the `reviews` table and the rating columns of `merchants`
(`review_count`, `review_stars_sum`, `rating_x100`): nothing else changes a rating.
"""

from __future__ import annotations

from typing import Any

from tortoise.queryset import QuerySet

from app.domain.policy import Policy
from app.infra.errors import DomainError, NotFound, error_codes
from app.infra.inputs import display_text
from app.infra.sql import fetch, run
from app.models.orders import Order, OrderStatus
from app.models.reviews import Review

ReviewErrorCode = error_codes(
    "ReviewErrorCode", "ORDER_NOT_REVIEWABLE", "ORDER_NOT_SETTLED", "ALREADY_REVIEWED"
)

STARS = range(1, 6)
TEXT_MAX = 300
# A wholly refunded order bought nothing to review.
REVIEWABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


def check_review(stars: int, text: str | None) -> tuple[int, str]:
    if stars not in STARS:
        raise DomainError("INVALID", "stars must be between 1 and 5", "stars")
    return stars, display_text(text, "text", TEXT_MAX, required=False)


def check_order(order: Order | None, consumer_id: int) -> Order:
    """The order, if its consumer may review it now."""
    # another's order is as unknown as a missing one: no telling which ids exist
    if order is None or order.consumer_id != consumer_id:
        raise NotFound("order", "orderId")
    if order.status not in REVIEWABLE:
        raise DomainError(
            ReviewErrorCode.ORDER_NOT_REVIEWABLE,
            "only a paid order can be reviewed",
            "orderId",
        )
    if order.settled_at is None:
        raise DomainError(
            ReviewErrorCode.ORDER_NOT_SETTLED,
            "an order can be reviewed once its refund window has passed",
            "orderId",
        )
    return order


def same_review(done: Review, stars: int, text: str) -> Review:
    """A repeat of the review gets it back; another review of the order is refused."""
    if (done.stars, done.text) != (stars, text):
        raise DomainError(
            ReviewErrorCode.ALREADY_REVIEWED, "this order has been reviewed already", "orderId"
        )
    return done


async def insert_review(conn: Any, order: Order, stars: int, text: str) -> Review:
    return await Review.create(
        order_id=order.id,
        merchant_id=order.merchant_id,
        consumer_id=order.consumer_id,
        stars=stars,
        text=text,
        using_db=conn,
    )


async def review_of(order_id: int, conn: Any = None) -> Review | None:
    return await Review.filter(order_id=order_id).using_db(conn).first()


def reviews_of(merchant_id: int) -> QuerySet[Review]:
    return Review.filter(merchant_id=merchant_id)


# ---------------------------------------------------------------- the rating


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def platform_mean_x100(count: int, stars_sum: int, policy: Policy) -> int:
    if count <= 0:
        return policy.reviews.prior_mean_x100
    return half_up(100 * stars_sum, count)


def rating_x100(count: int, stars_sum: int, mean_x100: int, policy: Policy) -> int:
    """(C × mean + 100 × Σ stars) / (C + n), rounded half up: the mean with no reviews,
    the store's own average as reviews pile up."""
    weight = policy.reviews.prior_weight
    if weight + count == 0:
        return mean_x100
    return half_up(weight * mean_x100 + 100 * stars_sum, weight + count)


async def count_review(conn: Any, merchant_id: int, stars: int, policy: Policy) -> int:
    """Add a review's stars to its store and set the store's rating; the new rating."""
    rows = await fetch(
        conn,
        "UPDATE merchants SET review_count = review_count + 1, "
        "review_stars_sum = review_stars_sum + ? WHERE id = ? "
        "RETURNING review_count, review_stars_sum",
        [stars, merchant_id],
    )
    count, total = int(rows[0]["review_count"]), int(rows[0]["review_stars_sum"])
    mean = await _platform_mean(conn, policy)
    rating = rating_x100(count, total, mean, policy)
    await run(conn, "UPDATE merchants SET rating_x100 = ? WHERE id = ?", [rating, merchant_id])
    return rating


async def _platform_mean(conn: Any, policy: Policy) -> int:
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(review_count), 0) AS n, COALESCE(SUM(review_stars_sum), 0) AS s "
        "FROM merchants WHERE review_count > 0",
    )
    return platform_mean_x100(int(rows[0]["n"]), int(rows[0]["s"]), policy)


async def refresh_ratings(conn: Any, policy: Policy) -> list[int]:
    """Every store's rating against today's platform mean (the mean moves with every
    review; a store's own review moves it at once, the others' follow here). The ids of
    the stores whose rating changed."""
    mean = await _platform_mean(conn, policy)
    weight = policy.reviews.prior_weight
    # rating_x100() in SQL: half up of (C × mean + 100 × Σ) / (C + n), the mean at C + n = 0
    w, m, prior = (f"CAST({int(v)} AS BIGINT)" for v in (weight, mean, weight * mean))
    new = (
        f"CASE WHEN {w} + review_count = 0 THEN {m} "
        f"ELSE (2 * ({prior} + 100 * review_stars_sum) + {w} + review_count) "
        f"/ (2 * ({w} + review_count)) END"
    )
    rows = await fetch(
        conn, f"UPDATE merchants SET rating_x100 = {new} WHERE rating_x100 <> {new} RETURNING id"
    )
    return [int(r["id"]) for r in rows]
