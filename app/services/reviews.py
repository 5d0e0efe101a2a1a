"""Reviewing an order (SPEC §14.2): the review, its store's rating, then discovery.

The review and the rating it moves are one transaction; after the commit, discovery
hears of it: the nearby index takes the new rating and the store's weekly reviews task
counts it (once per review, by its id). A failure there is logged and never undoes the
review (`rebuild-geo-index` repairs the index).
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import reviews as rules
from app.domain.policy import Policy, get_policy
from app.models.orders import Order
from app.models.reviews import Review
from app.services import discovery


async def review_order(
    *, consumer_id: int, order_id: int, stars: int, text: str | None, policy: Policy | None = None
) -> Review:
    policy = policy or get_policy()
    stars, clean = rules.check_review(stars, text)
    order = rules.check_order(await Order.get_or_none(id=order_id), consumer_id)
    done = await rules.review_of(order.id)
    if done is not None:
        return rules.same_review(done, stars, clean)
    try:
        async with in_transaction() as conn:
            review = await rules.insert_review(conn, order, stars, clean)
            await rules.count_review(conn, order.merchant_id, stars, policy)
    except IntegrityError:
        # a twin request reviewed the order first: one review, this call answers with it
        raced = await rules.review_of(order.id)
        if raced is None:
            raise
        return rules.same_review(raced, stars, clean)
    await discovery.review_posted(order.merchant_id, f"review:{review.id}", review.created_at)
    return review


async def refresh_ratings(policy: Policy | None = None) -> int:
    """Every store's rating against today's platform mean; how many changed."""
    async with in_transaction() as conn:
        changed = await rules.refresh_ratings(conn, policy or get_policy())
    for merchant_id in changed:
        await discovery.rating_changed(merchant_id)
    return len(changed)
