"""Traffic points: tasks pay once per period through the ledger; boosts spend and expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.ledger import acct, balance_of
from app.domain.policy import get_policy
from app.infra.errors import DomainError
from app.models.geo import ExposureBoost, TaskReward
from app.models.ledger import Asset, LedgerEntry
from app.models.merchants import MerchantStatus
from app.models.users import Role
from app.services import discovery as hooks
from app.services import traffic
from app.services.discovery import nearby
from tests.geo.factories import CENTRE, merchant, offset, paid_order, user


def task(metric):
    return next(t for t in get_policy().traffic.tasks if t.metric == metric)


async def tp(mid):
    return await balance_of(acct.merchant_traffic_points(mid))


async def test_orders_served_task_pays_once_per_week():
    t = task("orders_served_week")
    m = await merchant()
    c = await user()
    monday = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, week 47
    for i in range(t.threshold - 1):
        await paid_order(m, c, 1_000, monday + timedelta(minutes=i))
    assert await tp(m.id) == 0
    # when the threshold-th order of the week is paid, and more after it
    for i in range(3):
        await paid_order(m, c, 1_000, monday + timedelta(hours=5, minutes=i))
    # then the task paid exactly once, from the issuer, with its idempotency key
    assert await tp(m.id) == t.points
    assert await TaskReward.filter(merchant_id=m.id, task_code=t.code).count() == 1
    assert await LedgerEntry.filter(idem_key=f"traffic:{m.id}:{t.code}:2026-W47").count() == 1
    assert await balance_of(acct.issuer(Asset.TRAFFIC_POINTS)) == -t.points
    # and the next week starts over
    for i in range(t.threshold):
        await paid_order(m, c, 1_000, monday + timedelta(days=7, minutes=i))
    assert await tp(m.id) == 2 * t.points


async def test_recruiting_a_merchant_pays_the_recruiters_merchant_once():
    t = task("merchants_recruited")
    owner = await user(Role.MERCHANT_OWNER)
    mine = await merchant(owner)
    newcomer = await merchant(status=MerchantStatus.PENDING, recruiter=owner)
    assert await tp(mine.id) == 0
    newcomer.status = MerchantStatus.APPROVED
    await newcomer.save()
    await hooks.merchant_changed(newcomer)
    await hooks.merchant_changed(newcomer)  # repeated: still once
    assert t.threshold == 1
    assert await tp(mine.id) == t.points


async def test_reviews_count_once_per_key():
    t = task("reviews_week")
    m = await merchant()
    at = datetime(2026, 11, 17, 3, 0, tzinfo=UTC)
    for i in range(t.threshold - 1):
        await hooks.review_posted(m.id, f"r{i}", at)
        await hooks.review_posted(m.id, f"r{i}", at)
    assert await tp(m.id) == 0
    await hooks.review_posted(m.id, "last", at)
    assert await tp(m.id) == t.points


async def _fund(mid: int, points: int) -> None:
    from app.domain.ledger import Entry, Post, post

    await post(
        Entry(
            "test_fund",
            f"merchant:{mid}",
            [Post(acct.issuer(Asset.TRAFFIC_POINTS), acct.merchant_traffic_points(mid), points)],
        )
    )


async def test_boost_lifts_ranking_then_expires():
    per_hour = get_policy().traffic.boost_points_per_hour
    near = await merchant(at=offset(*CENTRE, north_m=100))
    far = await merchant(at=offset(*CENTRE, north_m=1200))
    assert [x.merchant_id for x in (await nearby(*CENTRE)).items] == [near.id, far.id]
    await _fund(far.id, 3 * per_hour)
    # when the far merchant buys a 2-hour boost
    b = await traffic.boost_exposure(
        far, points=2 * per_hour, hours=2, by_user_id=far.owner_id, idempotency_key="b1"
    )
    # then it is charged, and ranks first while the boost runs
    assert await tp(far.id) == per_hour
    page = await nearby(*CENTRE)
    assert [x.merchant_id for x in page.items] == [far.id, near.id]
    assert page.items[0].parts.boost > 0
    # and once the boost has ended it falls back
    later = b.ends_at.timestamp() + 1
    page = await nearby(*CENTRE, now=later)
    assert [x.merchant_id for x in page.items] == [near.id, far.id]
    assert all(x.parts.boost == 0 for x in page.items)
    assert b.ends_at - b.starts_at == timedelta(hours=2)


async def test_boost_refuses_overdraft_wrong_price_and_too_long():
    per_hour = get_policy().traffic.boost_points_per_hour
    max_h = get_policy().traffic.boost_max_hours
    m = await merchant()
    await _fund(m.id, per_hour)
    with pytest.raises(DomainError) as e:
        await traffic.boost_exposure(
            m, points=2 * per_hour, hours=2, by_user_id=1, idempotency_key="b1"
        )
    assert e.value.code == "OVERDRAFT"
    with pytest.raises(DomainError) as e:
        await traffic.boost_exposure(
            m, points=per_hour - 1, hours=1, by_user_id=1, idempotency_key="b2"
        )
    assert e.value.code == "PRICE_MISMATCH"
    with pytest.raises(DomainError) as e:
        await traffic.boost_exposure(
            m, points=per_hour * (max_h + 1), hours=max_h + 1, by_user_id=1, idempotency_key="b3"
        )
    assert e.value.code == "BOOST_TOO_LONG"
    for key in ("", " ", "k" * 65):
        with pytest.raises(DomainError) as e:
            await traffic.boost_exposure(
                m, points=per_hour, hours=1, by_user_id=1, idempotency_key=key
            )
        assert (e.value.code, e.value.field) == ("INVALID", "idempotencyKey")
    assert await tp(m.id) == per_hour and await ExposureBoost.all().count() == 0


async def test_boosts_stack_and_the_same_key_pays_once():
    per_hour = get_policy().traffic.boost_points_per_hour
    m = await merchant()
    await _fund(m.id, 10 * per_hour)
    b1 = await traffic.boost_exposure(
        m, points=per_hour, hours=1, by_user_id=1, idempotency_key="k1"
    )
    again = await traffic.boost_exposure(
        m, points=per_hour, hours=1, by_user_id=1, idempotency_key="k1"
    )
    b2 = await traffic.boost_exposure(
        m, points=2 * per_hour, hours=2, by_user_id=1, idempotency_key="k2"
    )
    # the same key for other terms is refused and spends nothing
    with pytest.raises(DomainError) as e:
        await traffic.boost_exposure(
            m, points=2 * per_hour, hours=2, by_user_id=1, idempotency_key="k1"
        )
    assert (e.value.code, e.value.field) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert again.id == b1.id
    assert b2.starts_at == b1.ends_at and b2.ends_at - b1.starts_at == timedelta(hours=3)
    assert await tp(m.id) == 7 * per_hour
    assert (await nearby(*CENTRE)).items[0].boost_until == int(b2.ends_at.timestamp())
    assert (await nearby(*CENTRE, now=time.time())).items[0].parts.boost > 0


@pytest.mark.postgres
async def test_concurrent_orders_crossing_the_threshold_pay_the_task_once():
    import asyncio

    t = task("orders_served_week")
    m = await merchant()
    c = await user()
    monday = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    orders = [
        await paid_order(m, c, 1_000, monday + timedelta(minutes=i), hook=False)
        for i in range(t.threshold + 5)
    ]
    # when every order's hook runs at the same time
    await asyncio.gather(*(hooks.order_paid(o) for o in orders))
    # then every order counted once and the task paid once
    from app.models.geo import MerchantTaskCounter

    counter = await MerchantTaskCounter.get(merchant_id=m.id, metric="orders_served_week")
    assert counter.value == len(orders)
    assert await tp(m.id) == t.points
    assert await TaskReward.filter(merchant_id=m.id).count() == 1


@pytest.mark.postgres
async def test_concurrent_boosts_never_overdraw():
    import asyncio

    per_hour = get_policy().traffic.boost_points_per_hour
    m = await merchant()
    await _fund(m.id, 3 * per_hour)
    results = await asyncio.gather(
        *(
            traffic.boost_exposure(m, points=per_hour, hours=1, by_user_id=1, idempotency_key=k)
            for k in "abcdef"
        ),
        return_exceptions=True,
    )
    ok = [x for x in results if isinstance(x, ExposureBoost)]
    refused = [x for x in results if isinstance(x, DomainError)]
    assert len(ok) == 3 and len(refused) == 3
    assert all(e.code == "OVERDRAFT" for e in refused)
    assert await tp(m.id) == 0
    ends = sorted(b.ends_at for b in ok)
    # stacked back to back, not overlapping
    assert ends[2] - ends[0] == timedelta(hours=2)


@pytest.mark.postgres
async def test_a_request_sent_twice_at_once_pays_once():
    import asyncio

    per_hour = get_policy().traffic.boost_points_per_hour
    m = await merchant()
    await _fund(m.id, 3 * per_hour)
    results = await asyncio.gather(
        *(
            traffic.boost_exposure(m, points=per_hour, hours=1, by_user_id=1, idempotency_key="tap")
            for _ in range(4)
        )
    )
    assert len({b.id for b in results}) == 1
    assert await tp(m.id) == 2 * per_hour and await ExposureBoost.all().count() == 1
