"""Orders: create, pay once, refund exactly, settle (SPEC §3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import orders
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.domain.policy import get_policy
from app.infra.errors import DomainError
from app.models.ledger import Account, LedgerEntry
from app.models.orders import LotStatus, Order, OrderStatus, PointLot
from app.services import checkout
from tests.factories import give_vouchers, make_merchant, make_user, paid_order


async def _pending_total() -> int:
    """CNY and VOUCHER still inside refund windows (every :pending account)."""
    rows = await Account.filter(name__endswith=":pending").values_list("balance", flat=True)
    return sum(int(b) for b in rows)


async def test_paid_order_settles_shares_and_lots(db):
    # given a merchant giving 10% and a consumer
    consumer, merchant = await make_user(), await make_merchant(discount_bps=1000)
    # when the consumer pays 100.00 yuan
    order = await paid_order(consumer, merchant, 10_000)
    # then the merchant is owed A - D and D sits pending, split by the policy
    assert order.status == OrderStatus.PAID and order.discount_fen == 1_000
    assert await balance_of(acct.merchant_payable(merchant.id)) == 9_000
    assert await _pending_total() == 1_000
    lots = await PointLot.filter(order_id=order.id).order_by("id")
    # basis = D in zhongdian: 1,000 fen of D -> 1,000 centi-points = 10 points each
    assert [(lot.holder_kind, lot.points, lot.status) for lot in lots] == [
        ("consumer", 1_000, LotStatus.PENDING),
        ("merchant", 1_000, LotStatus.PENDING),
    ]
    assert (await verify_ledger()).ok


async def test_repeated_confirmation_credits_once(db):
    consumer, merchant = await make_user(), await make_merchant()
    order = await paid_order(consumer, merchant, 5_000)
    again = await orders.mark_paid(
        order.id, channel=order.channel, channel_txn_id=order.channel_txn_id, amount_fen=5_000
    )
    assert again.id == order.id
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    assert await PointLot.filter(order_id=order.id).count() == 2
    with pytest.raises(DomainError) as e:
        await orders.mark_paid(
            order.id, channel=order.channel, channel_txn_id="other", amount_fen=5_000
        )
    assert e.value.code == "DUPLICATE_PAYMENT"


async def test_amount_mismatch_changes_nothing(db):
    consumer, merchant = await make_user(), await make_merchant()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=5_000, idempotency_key="a"
    )
    with pytest.raises(DomainError) as e:
        await orders.mark_paid(
            order.id, channel=order.channel, channel_txn_id="t", amount_fen=4_999
        )
    assert e.value.code == "AMOUNT_MISMATCH"
    assert (await Order.get(id=order.id)).status == OrderStatus.PAYING
    assert await LedgerEntry.filter(kind="order_paid").count() == 0


@pytest.mark.parametrize(
    ("amount", "voucher", "code", "field"),
    [
        (0, 0, "AMOUNT_INVALID", "amountFen"),
        (-5, 0, "AMOUNT_INVALID", "amountFen"),
        (10**12, 0, "AMOUNT_TOO_LARGE", "amountFen"),
        (1_000, 1_001, "VOUCHER_INVALID", "voucherFen"),
        (1_000, -1, "VOUCHER_INVALID", "voucherFen"),
        (1_000, 900, "VOUCHER_INSUFFICIENT", "voucherFen"),
    ],
)
async def test_bad_input_is_typed_and_changes_nothing(db, amount, voucher, code, field):
    consumer, merchant = await make_user(), await make_merchant()
    await give_vouchers(consumer.id, 500)
    before = await LedgerEntry.all().count()
    with pytest.raises(DomainError) as e:
        await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=merchant.id,
            amount_fen=amount,
            voucher_fen=voucher,
            idempotency_key="x",
        )
    assert (e.value.code, e.value.field) == (code, field)
    assert await Order.all().count() == 0
    assert await LedgerEntry.all().count() == before
    assert await balance_of(acct.consumer_voucher(consumer.id)) == 500


async def test_unknown_suspended_and_own_merchant_refused(db):
    from app.domain.merchants import suspend_merchant

    consumer, merchant = await make_user(), await make_merchant()
    for merchant_id in (999_999, (await suspend_merchant(merchant.id)).id):
        with pytest.raises(DomainError) as e:
            await checkout.create_order(
                consumer_id=consumer.id,
                merchant_id=merchant_id,
                amount_fen=100,
                idempotency_key=f"m{merchant_id}",
            )
        assert e.value.code == "MERCHANT_UNAVAILABLE"
    own = await make_merchant(owner=consumer)
    with pytest.raises(DomainError) as e:
        await checkout.create_order(
            consumer_id=consumer.id, merchant_id=own.id, amount_fen=100, idempotency_key="own"
        )
    assert e.value.code == "SELF_PURCHASE"
    assert await Order.all().count() == 0


async def test_idempotency_key(db):
    consumer, merchant = await make_user(), await make_merchant()
    first = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=1_000, idempotency_key="same"
    )
    second = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=1_000, idempotency_key="same"
    )
    assert first.id == second.id and await Order.all().count() == 1
    with pytest.raises(DomainError) as e:
        await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=merchant.id,
            amount_fen=1_001,
            idempotency_key="same",
        )
    assert e.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_voucher_part_moves_to_merchant_and_earns_no_points(db):
    consumer, merchant = await make_user(), await make_merchant(discount_bps=2000)
    await give_vouchers(consumer.id, 3_000)
    order = await paid_order(consumer, merchant, 10_000, voucher_fen=3_000)
    assert order.cash_fen == 7_000
    assert await balance_of(acct.consumer_voucher(consumer.id)) == 0
    assert await balance_of(acct.VOUCHER_RESERVE) == 0  # the backing went to the order
    assert await balance_of(acct.merchant_payable(merchant.id)) == 8_000
    lot = await PointLot.get(order_id=order.id, holder_kind="consumer")
    assert lot.points == 2_000 * 7_000 // 10_000  # points on the cash part only


async def test_wholly_voucher_paid_order_is_paid_at_once(db):
    consumer, merchant = await make_user(), await make_merchant()
    await give_vouchers(consumer.id, 1_000)
    order = await checkout.create_order(
        consumer_id=consumer.id,
        merchant_id=merchant.id,
        amount_fen=1_000,
        voucher_fen=1_000,
        idempotency_key="v",
    )
    assert order.status == OrderStatus.PAID and order.cash_fen == 0
    assert await balance_of(acct.merchant_payable(merchant.id)) == 900


async def test_partial_then_full_refund_reverses_exactly(db):
    inviter = await make_user()
    consumer = await make_user(inviter=inviter)
    merchant = await make_merchant(discount_bps=1333)
    await give_vouchers(consumer.id, 1_111)
    order = await paid_order(consumer, merchant, 9_999, voucher_fen=1_111)
    clearing = acct.channel_clearing(order.channel)
    await orders.refund_order(order.id, 3_333, refund_key="r1")
    await orders.refund_order(order.id, 3_333, refund_key="r1")  # a repeat: once
    lots = await PointLot.filter(order_id=order.id)
    assert all(lot.points < 1_333 for lot in lots)
    with pytest.raises(DomainError) as e:
        await orders.refund_order(order.id, 6_667, refund_key="r2")
    assert e.value.code == "REFUND_EXCEEDS_PAID"
    await orders.refund_order(order.id, 6_666, refund_key="r3")
    order = await Order.get(id=order.id)
    assert order.status == OrderStatus.REFUNDED and order.refunded_fen == 9_999
    # every share came back, to the fen
    assert await balance_of(acct.merchant_payable(merchant.id)) == 0
    assert await _pending_total() == 0
    assert await balance_of(clearing) == 0
    assert await balance_of(acct.consumer_voucher(consumer.id)) == 1_111
    assert await balance_of(acct.consumer_points(consumer.id, "pending")) == 0
    assert {lot.status for lot in await PointLot.filter(order_id=order.id)} == {LotStatus.CANCELLED}
    assert (await verify_ledger()).ok


async def test_refund_after_window_refused_and_settle_activates(db):
    consumer, merchant = await make_user(), await make_merchant()
    order = await paid_order(consumer, merchant, 10_000)
    days = get_policy().order.settle_days
    with pytest.raises(DomainError) as e:
        await orders.refund_order(
            order.id, 100, refund_key="late", now=order.paid_at + timedelta(days=days)
        )
    assert e.value.code == "REFUND_WINDOW_CLOSED"
    assert await orders.settle_due(order.settle_on - timedelta(days=1)) == 0
    assert await orders.settle_due(order.settle_on) == 1
    assert await orders.settle_due(order.settle_on) == 0  # once
    assert {lot.status for lot in await PointLot.filter(order_id=order.id)} == {LotStatus.ACTIVE}
    assert await _pending_total() == 0
    assert await balance_of(acct.consumer_points(consumer.id, "active")) == 1_000
    assert await balance_of(acct.PLATFORM_REVENUE) > 0
    with pytest.raises(DomainError) as e:
        await orders.refund_order(order.id, 100, refund_key="after-settle")
    assert e.value.code == "REFUND_WINDOW_CLOSED"
    assert (await verify_ledger()).ok


async def test_settling_as_of_a_past_day_activates_lots_that_day(db):
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    consumer, merchant = await make_user(), await make_merchant()
    order = await paid_order(consumer, merchant, 10_000)
    await Order.filter(id=order.id).update(settle_on=date(2026, 1, 10))
    assert await orders.settle_due(date(2026, 1, 12)) == 1
    lot = await PointLot.filter(order_id=order.id).first()
    assert lot.activated_at == datetime(2026, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
