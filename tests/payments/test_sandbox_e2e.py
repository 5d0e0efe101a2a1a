"""End to end through the sandbox channel: createOrder → the payer pays on the sandbox
page → the provider's signed notification → the order is paid once, split after the
success; refunds come back through the provider's refund notification."""

from __future__ import annotations

import pytest

from app.dev.sandbox_provider import signed_notification
from app.domain import orders
from app.models.ledger import LedgerEntry
from app.models.orders import Order, OrderStatus
from app.models.payments import (
    ChannelRefund,
    Payment,
    PaymentNotification,
    PaymentStatus,
    RefundStatus,
    SplitStatus,
)
from app.services import checkout, refunds
from tests.factories import make_merchant, make_user
from tests.fakes.sandbox import pay


async def _order(amount=10_000, discount_bps=1000, key="k1"):
    consumer, merchant = await make_user(), await make_merchant(discount_bps=discount_bps)
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=amount, idempotency_key=key
    )
    return order


async def test_demo_order_paid_through_the_sandbox(app_client):
    # given an order at a merchant without channel configuration (embedded default)
    order = await _order()
    assert order.channel == "sandbox" and order.status == OrderStatus.PAYING
    payment = await Payment.get(order_id=order.id)
    assert order.pay_params["payUrl"].endswith(f"/sandbox/pay/{payment.out_trade_no}")
    assert (payment.merchant_fen, payment.platform_fen) == (9_000, 1_000)
    page = await app_client.get(f"/sandbox/pay/{payment.out_trade_no}")
    assert page.status_code == 200 and "100.00" in page.text
    # when the payer pays on the sandbox page
    resp = await pay(app_client, payment.out_trade_no)
    assert resp.status_code == 200 and resp.json()["state"] == "paid"
    # then the signed notification paid the order, once, and the split followed
    order = await Order.get(id=order.id)
    assert order.status == OrderStatus.PAID and order.channel_txn_id == resp.json()["txn_id"]
    note = await PaymentNotification.get(channel="sandbox")
    assert (note.verified, note.outcome, note.order_id) == (True, "applied", order.id)
    payment = await Payment.get(id=payment.id)
    assert payment.status == PaymentStatus.PAID and payment.split_status == SplitStatus.FINISHED
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    # and paying again changes nothing
    again = await pay(app_client, payment.out_trade_no)
    assert again.json()["txn_id"] == order.channel_txn_id
    assert await PaymentNotification.filter(outcome="applied").count() == 1


async def test_duplicate_and_forged_sandbox_notifications(app_client):
    order = await _order()
    payment = await Payment.get(order_id=order.id)
    event = {"event": "payment.succeeded", "out_trade_no": payment.out_trade_no,
             "txn_id": "SB-forged", "amount_fen": 10_000}  # fmt: skip
    headers, body = signed_notification(event)
    # a notification signed with the right key but the wrong amount: rejected, stored
    bad_headers, bad_body = signed_notification({**event, "amount_fen": 1})
    r = await app_client.post("/pay/notify/sandbox", content=bad_body, headers=bad_headers)
    assert r.status_code == 400
    assert (await Order.get(id=order.id)).status == OrderStatus.PAYING
    # a forged one (body changed after signing): rejected, stored with the reason
    r = await app_client.post(
        "/pay/notify/sandbox", content=body.replace(b"SB-forged", b"SB-other"), headers=headers
    )
    assert r.status_code == 400
    reasons = await PaymentNotification.filter(outcome="rejected").values_list("reason", flat=True)
    assert sorted(reasons) == ["amount mismatch", "signature does not verify"]
    # the genuine one applies; the same bytes again are a replay; a fresh copy is a duplicate
    assert (await app_client.post("/pay/notify/sandbox", content=body, headers=headers)).is_success
    replay = await app_client.post("/pay/notify/sandbox", content=body, headers=headers)
    assert replay.status_code == 400
    h2, b2 = signed_notification(event)
    dup = await app_client.post("/pay/notify/sandbox", content=b2, headers=h2)
    assert dup.status_code == 200
    outcomes = await PaymentNotification.all().order_by("id").values_list("outcome", flat=True)
    assert outcomes == ["rejected", "rejected", "applied", "rejected", "duplicate"]
    assert await LedgerEntry.filter(kind="order_paid").count() == 1


async def test_partial_refunds_through_the_sandbox_up_to_the_total(app_client):
    order = await _order()
    payment = await Payment.get(order_id=order.id)
    await pay(app_client, payment.out_trade_no)
    order = await Order.get(id=order.id)
    # a partial refund: the ledger side, then the channel side
    r1 = await orders.refund_order(order.id, 4_000, refund_key="rf-1")
    cr1 = await refunds.request_channel_refund(order, r1)
    # the provider's refund notification marked it done; the platform gave back its share
    cr1 = await ChannelRefund.get(refund_key="rf-1")
    assert cr1.status == RefundStatus.SUCCESS and cr1.amount_fen == 4_000
    assert cr1.split_return_fen == 400 and cr1.split_return_done
    r2 = await orders.refund_order(order.id, 6_000, refund_key="rf-2")
    await refunds.request_channel_refund(order, r2)
    cr2 = await ChannelRefund.get(refund_key="rf-2")
    assert (cr2.status, cr2.split_return_fen) == (RefundStatus.SUCCESS, 600)
    # the same key again is the same refund
    assert (await refunds.request_channel_refund(order, r2)).id == cr2.id
    # beyond the total: refused, at the channel side too
    with pytest.raises(Exception) as exc:
        await refunds._record(order, "rf-3", 1)
    assert getattr(exc.value, "code", "") == "REFUND_EXCEEDS_PAYMENT"
    assert await ChannelRefund.filter(payment_id=payment.id).count() == 2
    assert (await Order.get(id=order.id)).status == OrderStatus.REFUNDED


@pytest.mark.postgres
async def test_concurrent_deliveries_apply_once(app_client):
    import asyncio

    from app.dev import sandbox_provider

    # given a sandbox order, paid at the provider (its notification not yet out)
    order = await _order()
    payment = await Payment.get(order_id=order.id)
    at_provider = await sandbox_provider._load("order", payment.out_trade_no)
    assert at_provider is not None
    at_provider.update(state="paid", txn_id="SB-concurrent")
    await sandbox_provider._save("order", payment.out_trade_no, at_provider)
    event = {
        "event": "payment.succeeded",
        "out_trade_no": payment.out_trade_no,
        "txn_id": "SB-concurrent",
        "amount_fen": 10_000,
    }
    # when the provider delivers the same event eight times at once (fresh nonces)
    pairs = [signed_notification(event) for _ in range(8)]
    answers = await asyncio.gather(
        *(app_client.post("/pay/notify/sandbox", content=b, headers=h) for h, b in pairs)
    )
    # then every delivery is acknowledged, and the order is paid exactly once
    assert all(a.status_code == 200 for a in answers)
    outcomes = await PaymentNotification.all().values_list("outcome", flat=True)
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 7
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    assert (await Payment.get(id=payment.id)).split_status == SplitStatus.FINISHED
