"""Reviews (SPEC §14.2): once per settled order; the rating follows them, smoothed
toward the platform mean, and feeds nearby ranking and the weekly reviews task."""

from __future__ import annotations

import pytest

from app import worker
from app.domain import orders
from app.domain.ledger import acct, balance_of
from app.domain.policy import get_policy
from app.infra.errors import DomainError
from app.models.merchants import Merchant
from app.models.reviews import Review
from app.services import checkout
from app.services.discovery import nearby
from app.services.reviews import refresh_ratings, review_order
from tests.factories import make_merchant, make_user, paid_order
from tests.geo.factories import CENTRE, offset


async def settled_order(consumer, merchant, amount_fen: int = 1_000):
    order = await paid_order(consumer, merchant, amount_fen)
    await orders.settle_order(order.id)
    return order


async def refused(**kw) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as e:
        await review_order(**kw)
    return e.value.code, e.value.field


async def rating(merchant_id: int) -> int:
    return (await Merchant.get(id=merchant_id)).rating_x100


async def test_an_order_is_reviewed_once_after_its_refund_window():
    c, m = await make_user(), await make_merchant()
    order = await paid_order(c, m, 1_000)
    # inside the refund window: refused, nothing written
    assert await refused(consumer_id=c.id, order_id=order.id, stars=5, text="") == (
        "ORDER_NOT_SETTLED",
        "orderId",
    )
    await orders.settle_order(order.id)
    # someone else's order is as unknown as a missing one
    other = await make_user()
    assert await refused(consumer_id=other.id, order_id=order.id, stars=5, text="") == (
        "NOT_FOUND",
        "orderId",
    )
    # once settled, its consumer reviews it; the text is normalised as names are
    r = await review_order(consumer_id=c.id, order_id=order.id, stars=4, text=" ｇｏｏｄ ")
    assert (r.stars, r.text, r.merchant_id) == (4, "good", m.id)
    # the same review again is the same answer; another one is refused
    again = await review_order(consumer_id=c.id, order_id=order.id, stars=4, text="good")
    assert again.id == r.id
    assert await refused(consumer_id=c.id, order_id=order.id, stars=1, text="bad") == (
        "ALREADY_REVIEWED",
        "orderId",
    )
    assert await Review.all().count() == 1
    assert (await Merchant.get(id=m.id)).review_count == 1


async def test_review_input_and_order_state_refusals():
    c, m = await make_user(), await make_merchant()
    order = await settled_order(c, m)
    for stars, text, field in ((0, "", "stars"), (6, "", "stars"), (3, "a\u202eb", "text"),
                               (3, "x" * 301, "text"), (3, "line\nbreak", "text")):  # fmt: skip
        assert await refused(consumer_id=c.id, order_id=order.id, stars=stars, text=text) == (
            "INVALID",
            field,
        )
    unpaid = await checkout.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=1_000, idempotency_key="open"
    )
    assert await refused(consumer_id=c.id, order_id=unpaid.id, stars=3, text="") == (
        "ORDER_NOT_REVIEWABLE",
        "orderId",
    )
    assert await Review.all().count() == 0


async def test_rating_is_smoothed_toward_the_platform_mean():
    weight = get_policy().reviews.prior_weight
    assert weight == 5  # the figures below follow the shipped prior
    c = await make_user()
    busy, fresh = await make_merchant(), await make_merchant()
    # the platform's first reviews: four 3-star reviews at one store
    for _ in range(4):
        await review_order(
            consumer_id=c.id, order_id=(await settled_order(c, busy)).id, stars=3, text=""
        )
    # mean 3.00 with (5 × 3.00 + 4 × 3) / 9 = 3.00
    assert await rating(busy.id) == 300
    # one five-star review does not make a new store a five-star store:
    # platform mean (12 + 5) / 5 = 3.40; (5 × 3.40 + 5) / 6 = 3.67
    await review_order(consumer_id=c.id, order_id=(await settled_order(c, fresh)).id, stars=5,
                       text="")  # fmt: skip
    assert await rating(fresh.id) == 367
    # and many reviews outweigh the prior: ten more fives bring it close to 5
    for _ in range(10):
        await review_order(
            consumer_id=c.id, order_id=(await settled_order(c, fresh)).id, stars=5, text=""
        )
    # mean (12 + 55) / 15 = 4.47; (5 × 4.47 + 55) / 16 = 4.83
    assert await rating(fresh.id) == 483
    # the busy store follows the mean when the worker refreshes ratings: (5 × 4.47 + 12) / 9
    assert await worker.ratings({}) >= 1
    assert await rating(busy.id) == 382
    assert await refresh_ratings() == 0  # nothing moved since


async def test_nearby_ranking_reads_the_rating():
    c = await make_user()
    # two stores alike but for their distance: the nearer ranks first
    near = await make_merchant(at=offset(*CENTRE, north_m=100))
    far = await make_merchant(at=offset(*CENTRE, north_m=150))
    page = await nearby(*CENTRE)
    assert [x.merchant_id for x in page.items][:2] == [near.id, far.id]
    # when the near store gets poor reviews and the far one good ones
    for m, stars in ((near, 1), (far, 5)):
        for _ in range(5):
            await review_order(
                consumer_id=c.id, order_id=(await settled_order(c, m)).id, stars=stars, text=""
            )
    # then the ranking's rating term follows them and the order flips
    page = await nearby(*CENTRE)
    parts = {x.merchant_id: x.parts.rating for x in page.items}
    assert parts[near.id] < parts[far.id]
    assert [x.merchant_id for x in page.items][:2] == [far.id, near.id]


async def test_reviews_pay_the_weekly_reviews_task():
    task = next(t for t in get_policy().traffic.tasks if t.metric == "reviews_week")
    c, m = await make_user(), await make_merchant()
    tp = acct.merchant_traffic_points(m.id)
    settled = [await settled_order(c, m) for _ in range(task.threshold)]
    for o in settled[:-1]:
        await review_order(consumer_id=c.id, order_id=o.id, stars=4, text="")
    await review_order(consumer_id=c.id, order_id=settled[0].id, stars=4, text="")  # a repeat
    assert await balance_of(tp) == 0
    # when the threshold-th review of the week is posted
    await review_order(consumer_id=c.id, order_id=settled[-1].id, stars=4, text="")
    # then the task pays the store its traffic points
    assert await balance_of(tp) == task.points
