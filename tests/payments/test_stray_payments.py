"""Money that arrives for an order that no longer takes it goes back whole, once.

Through the WeChat Pay fake (real signatures, keys made in the test): a payment landing on
a closed order, by notification and by reconciliation; refusals at creation that the
channel nevertheless turned into a trade; the refund key the platform reserves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.adapters.payments.money import now_shanghai
from app.domain import orders
from app.infra.errors import DomainError
from app.models.ledger import LedgerEntry
from app.models.orders import Order, OrderStatus
from app.models.payments import (
    ChannelRefund,
    Payment,
    PaymentNotification,
    PaymentStatus,
    RefundStatus,
)
from app.services.reconcile import reconcile_payments
from tests.payments.conftest import shop_order

NOTIFY = "/pay/notify/wechatpay"


async def _order(shop, amount=10_000, key="k1") -> tuple[Order, Payment]:
    order = await shop_order(shop, amount, key)
    return order, await Payment.get(order_id=order.id)


async def _notify(app_client, wechat, out_trade_no: str):
    headers, body = wechat.fake.payment_notification(out_trade_no)
    return await app_client.post(NOTIFY, content=body, headers=headers)


async def test_a_payment_landing_on_a_closed_order_is_refunded_whole_once(app_client, wechat, shop):
    # given an order closed while its trade was still open at WeChat
    order, payment = await _order(shop, amount=12_345)
    await orders.close_order(order.id)
    entries_before = await LedgerEntry.all().count()
    # when the consumer pays anyway and WeChat notifies
    wechat.fake.pay(payment.out_trade_no)
    redelivery = wechat.fake.payment_notification(payment.out_trade_no)  # (its own nonce)
    resp = await _notify(app_client, wechat, payment.out_trade_no)
    # then WeChat is answered success (redelivery cannot help), the order stays closed,
    # the ledger does not move, and the whole amount is on its way back
    assert resp.status_code == 204
    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED
    assert await LedgerEntry.all().count() == entries_before
    paid = await Payment.get(id=payment.id)
    txn = wechat.fake.trades[payment.out_trade_no]["transaction_id"]
    assert paid.status == PaymentStatus.STRAY and paid.channel_txn_id == txn
    assert paid.error_code == "ORDER_REFUSED:INVALID_STATE"
    key = f"stray-{payment.out_trade_no}"
    assert list(wechat.fake.refunds) == [key]
    assert wechat.fake.refunds[key]["refund"] == 12_345
    cr = await ChannelRefund.get(refund_key=key)
    assert (cr.payment_id, cr.amount_fen, cr.status) == (
        payment.id,
        12_345,
        RefundStatus.PROCESSING,
    )
    # when WeChat delivers the same notification again: acknowledged, nothing twice
    headers, body = redelivery
    again = await app_client.post(NOTIFY, content=body, headers=headers)
    assert again.status_code == 204
    assert len(wechat.fake.refunds) == 1 and await ChannelRefund.all().count() == 1
    outcomes = await PaymentNotification.all().order_by("id").values_list("outcome", flat=True)
    assert outcomes == ["stray", "duplicate"]
    # and the refund's own notification completes it
    wechat.fake.refunds[key]["status"] = "SUCCESS"
    headers, body = wechat.fake.refund_notification(key)
    done = await app_client.post(NOTIFY, content=body, headers=headers)
    assert done.status_code == 204
    assert (await ChannelRefund.get(id=cr.id)).status == RefundStatus.SUCCESS
    # a stray payment cannot be started again
    with pytest.raises(DomainError) as err:
        from app.services.payments import start_payment

        await start_payment(await Order.get(id=order.id))
    assert err.value.code == "INVALID_STATE"


async def test_a_refund_the_channel_refuses_at_first_is_sent_by_reconciliation(
    app_client, wechat, shop
):
    order, payment = await _order(shop)
    await orders.close_order(order.id)
    wechat.fake.pay(payment.out_trade_no)
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")]  # the refund call fails
    resp = await _notify(app_client, wechat, payment.out_trade_no)
    assert resp.status_code == 204
    cr = await ChannelRefund.get(refund_key=f"stray-{payment.out_trade_no}")
    assert cr.status == RefundStatus.PENDING and wechat.fake.refunds == {}
    report = await reconcile_payments()
    assert report.refunds_sent == 1
    assert (await ChannelRefund.get(id=cr.id)).status == RefundStatus.PROCESSING
    assert wechat.fake.refunds[cr.refund_key]["refund"] == payment.amount_fen


async def test_reconciliation_refunds_a_pending_payment_paid_after_its_order_closed(wechat, shop):
    # given the order closed, and the consumer paid; no notification ever came
    order, payment = await _order(shop)
    await orders.close_order(order.id)
    wechat.fake.pay(payment.out_trade_no)
    await Payment.filter(id=payment.id).update(created_at=now_shanghai() - timedelta(hours=1))
    # when reconciliation asks WeChat
    report = await reconcile_payments()
    # then the payment is refunded whole, once
    assert report.strays_refunded == 1 and report.paid == 0 and report.errors == 0
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.STRAY
    assert list(wechat.fake.refunds) == [f"stray-{payment.out_trade_no}"]
    again = await reconcile_payments()
    assert again.strays_refunded == 0 and len(wechat.fake.refunds) == 1


async def _refused_but_made(shop) -> tuple[Order, Payment]:
    """WeChat made the trade but our call saw an error (a 5xx after the fact)."""
    order, payment = await _order(shop)
    await Payment.filter(id=payment.id).update(
        status=PaymentStatus.FAILED,
        error_code="CHANNEL_ERROR",
        created_at=now_shanghai() - timedelta(hours=1),
    )
    await Order.filter(id=order.id).update(status=OrderStatus.CREATED)
    return order, payment


async def test_a_refused_creation_that_the_consumer_paid_is_applied_not_closed(wechat, shop):
    order, payment = await _refused_but_made(shop)
    wechat.fake.pay(payment.out_trade_no)
    report = await reconcile_payments()
    assert report.paid == 1 and report.closed == 0
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID
    assert wechat.fake.refunds == {}


async def test_a_refused_creation_left_unpaid_is_closed_at_the_channel_first(wechat, shop):
    order, payment = await _refused_but_made(shop)
    report = await reconcile_payments()
    assert report.closed == 1
    # the trade can no longer be paid: no payment can land on the closed order
    assert wechat.fake.trades[payment.out_trade_no]["trade_state"] == "CLOSED"
    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.CLOSED


async def test_refund_keys_the_platform_reserves_are_refused(app_client, wechat, shop):
    order, payment = await _order(shop)
    wechat.fake.pay(payment.out_trade_no)
    await _notify(app_client, wechat, payment.out_trade_no)
    with pytest.raises(DomainError) as err:
        await orders.refund_order(order.id, 1_000, refund_key="stray-mine")
    assert (err.value.code, err.value.field) == ("INVALID", "refundKey")
    assert await ChannelRefund.all().count() == 0
