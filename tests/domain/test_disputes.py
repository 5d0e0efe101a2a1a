"""Admin dispute reversal after the settlement window (SPEC §11): lots stop, unspent
released vouchers come back, the spent part is the platform's loss, never a negative
user balance."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.domain import orders
from app.domain.disputes import reverse_after_window
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.infra.errors import DomainError
from app.models.ledger import LedgerEntry
from app.models.orders import PointLot
from app.models.releases import ReleasePayment
from tests.domain.test_releases import START, fund, get_pool, grow, make_policy, release_at
from tests.factories import make_merchant, make_user, paid_order


async def _released_order():
    """A paid, settled order whose consumer lot received one release (80% of it as
    vouchers, 20% as shopping points)."""
    policy = make_policy(voucher_share_bps=8_000)
    buyer = await make_user()
    shop = await make_merchant(discount_bps=2000)
    order = await paid_order(buyer, shop, 50_000)
    assert await orders.settle_order(order.id, at=date(2025, 1, 1)) == 1
    await get_pool("consumer", START)
    await fund(10**9)
    await grow("consumer", policy, 20)
    ev = await release_at("consumer", START + timedelta(days=10), policy)
    assert ev.release is not None, ev.note
    lot = await PointLot.get(order_id=order.id, holder_kind="consumer")
    pays = await ReleasePayment.filter(lot_id=lot.id)
    vouchers = sum(p.voucher_units for p in pays)
    shopping = sum(p.shopping_units for p in pays)
    assert vouchers > 0 and shopping > 0
    return policy, buyer, shop, order, lot, vouchers, shopping


async def test_reversal_takes_back_what_is_unspent_and_books_the_rest_as_loss(db):
    policy, buyer, shop, order, lot, vouchers, shopping = await _released_order()
    # given the buyer spent part of the released vouchers at another store
    spent = vouchers // 3
    other = await make_merchant()
    await paid_order(buyer, other, spent * 4, voucher_fen=spent)
    assert await balance_of(acct.consumer_voucher(buyer.id)) == vouchers - spent
    pool_before = await balance_of(acct.pool_available("consumer"))
    points_before = await balance_of(acct.consumer_points(buyer.id, "active"))
    # when an admin reverses the order after its window
    r = await reverse_after_window(order.id, reversal_key="d-1", reason="chargeback")
    # then both lots stop, the unspent vouchers and shopping points come back, the spent
    # part is the platform's loss, and the pool got all of it back
    assert r.lots_cancelled == 2
    assert (r.vouchers_clawed_back_fen, r.shopping_points_clawed_back) == (
        vouchers - spent,
        shopping,
    )
    assert r.platform_loss_fen == spent
    assert await balance_of(acct.consumer_voucher(buyer.id)) == 0
    assert await balance_of(acct.consumer_shopping_points(buyer.id)) == 0
    assert await balance_of(acct.PLATFORM_LOSS) == -spent
    assert await balance_of(acct.pool_available("consumer")) == pool_before + vouchers + shopping
    assert await balance_of(acct.consumer_points(buyer.id, "active")) == points_before - lot.points
    assert {x.status for x in await PointLot.filter(order_id=order.id)} == {"cancelled"}
    # and the next release pays the cancelled lot nothing
    await grow("consumer", policy, 20)
    ev = await release_at("consumer", START + timedelta(days=25), policy)
    assert ev.release is not None, ev.note
    assert not await ReleasePayment.filter(lot_id=lot.id, release_id=ev.release.id).exists()
    report = await verify_ledger()
    assert report.ok, report.problem


async def test_reversal_is_idempotent_by_key_and_once_per_order(db):
    *_, order, _lot, _v, _s = await _released_order()
    first = await reverse_after_window(order.id, reversal_key="d-2", reason="fraud")
    entries = await LedgerEntry.filter(kind="order_reversed").count()
    again = await reverse_after_window(order.id, reversal_key="d-2", reason="fraud")
    assert again.id == first.id
    assert await LedgerEntry.filter(kind="order_reversed").count() == entries == 1
    with pytest.raises(DomainError) as err:
        await reverse_after_window(order.id, reversal_key="d-3", reason="fraud")
    assert (err.value.code, err.value.field) == ("INVALID_STATE", "orderId")
    # the same key for another order is refused
    buyer, shop = await make_user(), await make_merchant()
    other = await paid_order(buyer, shop, 1_000)
    await orders.settle_order(other.id)
    with pytest.raises(DomainError) as err:
        await reverse_after_window(other.id, reversal_key="d-2", reason="fraud")
    assert (err.value.code, err.value.field) == ("IDEMPOTENCY_KEY_REUSED", "reversalKey")


async def test_inside_the_window_it_is_a_refund_not_a_reversal(db):
    buyer, shop = await make_user(), await make_merchant()
    order = await paid_order(buyer, shop, 3_000)
    with pytest.raises(DomainError) as err:
        await reverse_after_window(order.id, reversal_key="d-4", reason="changed mind")
    assert (err.value.code, err.value.field) == ("REFUND_WINDOW_OPEN", "orderId")
    for key, reason, field in (("", "x", "reversalKey"), ("d-5", " ", "reason")):
        with pytest.raises(DomainError) as err:
            await reverse_after_window(order.id, reversal_key=key, reason=reason)
        assert (err.value.code, err.value.field) == ("INVALID", field)
    assert not await LedgerEntry.filter(kind="order_reversed").exists()
