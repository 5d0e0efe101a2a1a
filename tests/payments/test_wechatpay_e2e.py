"""WeChat Pay end to end: createOrder through the WeChat fake, notifications over
`POST /pay/notify/wechatpay`, exactly-once application, split after success, refunds,
out-of-order delivery, provider failures and reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.adapters.payments import registry
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
    SplitStatus,
)
from app.services import refunds
from app.services.reconcile import reconcile_payments
from tests.payments.conftest import SP_MCHID, SUB_MCHID, shop_order

NOTIFY = "/pay/notify/wechatpay"


_order = shop_order


async def _outcomes() -> list[str]:
    return await PaymentNotification.all().order_by("id").values_list("outcome", flat=True)


async def test_paid_once_and_split_only_after_success(app_client, wechat, shop):
    # given an order paying through WeChat (JSAPI for the mini-program)
    order = await _order(shop)
    assert order.channel == "wechatpay" and order.status == OrderStatus.PAYING
    assert order.pay_params["package"].startswith("prepay_id=") and order.pay_params["paySign"]
    payment = await Payment.get(order_id=order.id)
    # no split before the money is there
    assert wechat.fake.splits == {} and payment.split_status == SplitStatus.NONE
    # when the consumer pays and WeChat notifies
    wechat.fake.pay(payment.out_trade_no)
    headers, body = wechat.fake.payment_notification(payment.out_trade_no)
    resp = await app_client.post(NOTIFY, content=body, headers=headers)
    # then WeChat gets its success answer, the order is paid, the split went to the platform
    assert resp.status_code == 204 and resp.content == b""
    order = await Order.get(id=order.id)
    txn = wechat.fake.trades[payment.out_trade_no]["transaction_id"]
    assert order.status == OrderStatus.PAID and order.channel_txn_id == txn
    split = next(iter(wechat.fake.splits.values()))
    assert split["amount"] == 1_000 and split["receivers"][0]["account"] == SP_MCHID
    assert (await Payment.get(id=payment.id)).split_status == SplitStatus.FINISHED
    # when WeChat delivers it again (a fresh nonce), it is acknowledged and nothing moves
    again = await app_client.post(
        NOTIFY, **_req(wechat.fake.payment_notification(payment.out_trade_no))
    )
    assert again.status_code == 204
    assert await _outcomes() == ["applied", "duplicate"]
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    assert len(wechat.fake.splits) == 1


async def test_rejected_notifications_are_stored_and_change_nothing(app_client, wechat, shop):
    from tests.fakes.wechatpay import new_key

    order = await _order(shop)
    payment = await Payment.get(order_id=order.id)
    wechat.fake.pay(payment.out_trade_no)
    no = payment.out_trade_no
    forged = wechat.fake.payment_notification(no, signing_key=new_key())
    stale = wechat.fake.payment_notification(no, timestamp=int(datetime.now(UTC).timestamp()) - 600)
    other_app = wechat.fake.payment_notification(no, resource={"sp_appid": "wx-other"})
    short = wechat.fake.payment_notification(no, resource={"amount": {"total": 1}})
    probe = wechat.fake.payment_notification(no, signature="WECHATPAY/SIGNTEST/x")
    for headers, body in (forged, stale, other_app, short, probe):
        r = await app_client.post(NOTIFY, content=body, headers=headers)
        assert r.status_code in (400, 500) and r.json()["code"] == "FAIL"
    assert (await Order.get(id=order.id)).status == OrderStatus.PAYING
    rows = await PaymentNotification.all().order_by("id")
    assert [r.outcome for r in rows] == ["rejected"] * 5
    assert [r.reason for r in rows] == [
        "signature does not verify",
        "timestamp outside the 5-minute window",
        "appid mismatch",
        "amount mismatch",
        "signature probe (WECHATPAY/SIGNTEST) refused",
    ]
    assert all(r.body for r in rows)  # stored raw
    # the genuine notification still applies; replaying its exact bytes does not
    headers, body = wechat.fake.payment_notification(no)
    assert (await app_client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    replay = await app_client.post(NOTIFY, content=body, headers=headers)
    assert replay.status_code == 400 and "replayed" in replay.json()["message"]
    assert await LedgerEntry.filter(kind="order_paid").count() == 1


async def test_refund_notification_before_its_payment_is_retried_later(app_client, wechat, shop):
    order = await _order(shop)
    payment = await Payment.get(order_id=order.id)
    no = payment.out_trade_no
    wechat.fake.pay(no)
    txn = wechat.fake.trades[no]["transaction_id"]
    # a refund notification arrives for a refund we have not recorded (out of order)
    wechat.fake.refunds["rf-1"] = {
        "out_trade_no": no, "transaction_id": txn, "sub_mchid": SUB_MCHID,
        "refund_id": "5030x", "status": "SUCCESS", "total": 10_000, "refund": 4_000,
    }  # fmt: skip
    early = await app_client.post(NOTIFY, **_req(wechat.fake.refund_notification("rf-1")))
    # then it is refused so that WeChat delivers it again, and nothing changed
    assert early.status_code == 500
    assert await ChannelRefund.all().count() == 0
    del wechat.fake.refunds["rf-1"]
    # the payment notification then applies
    await app_client.post(NOTIFY, **_req(wechat.fake.payment_notification(no)))
    order = await Order.get(id=order.id)
    assert order.status == OrderStatus.PAID
    # the refund is made (split returned first), and its redelivered notification applies
    refund = await orders.refund_order(order.id, 4_000, refund_key="rf-1")
    cr = await refunds.request_channel_refund(order, refund)
    assert cr is not None and cr.status == RefundStatus.PROCESSING
    assert cr.split_return_fen == 400 and wechat.fake.returns["RTrf-1"]["amount"] == 400
    late = await app_client.post(NOTIFY, **_req(wechat.fake.refund_notification("rf-1")))
    assert late.status_code == 204
    assert (await ChannelRefund.get(id=cr.id)).status == RefundStatus.SUCCESS
    dup = await app_client.post(NOTIFY, **_req(wechat.fake.refund_notification("rf-1")))
    assert dup.status_code == 204
    assert await _outcomes() == ["retry", "applied", "applied", "duplicate"]


def _req(pair):
    headers, body = pair
    return {"content": body, "headers": headers}


async def test_channel_errors_keep_the_order_and_count_against_the_channel(wechat, shop):
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")]
    with pytest.raises(DomainError) as err:
        await _order(shop)
    assert err.value.code == "CHANNEL_ERROR" and "SYSTEM_ERROR" in err.value.message
    # the order is not lost: it is there, its payment recorded as refused
    order = await Order.get(idempotency_key="k1")
    assert order.status == OrderStatus.CREATED
    payment = await Payment.get(order_id=order.id)
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "CHANNEL_ERROR")
    # reconciliation closes it once stale
    await Payment.filter(id=payment.id).update(created_at=now_shanghai() - timedelta(hours=1))
    report = await reconcile_payments()
    assert report.closed == 1
    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED


async def test_timeout_leaves_a_pending_payment_that_reconciliation_settles(wechat, shop):
    from tests.fakes.server import serve

    wechat.fake.delay_s = 0.5
    with serve(wechat.fake.app) as url:
        registry.install(wechat.adapter(base_url=url, timeout_s=0.1))
        registry.get_channel("wechatpay").http.transport = None  # real loopback TCP
        with pytest.raises(DomainError) as err:
            await _order(shop)
        assert err.value.code == "CHANNEL_TIMEOUT"
        order = await Order.get(idempotency_key="k1")
        payment = await Payment.get(order_id=order.id)
        # the outcome is unknown: the payment stays pending for reconciliation
        assert payment.status == PaymentStatus.PENDING
        # WeChat did create it, and the consumer paid; no notification ever came
        for _ in range(100):
            if payment.out_trade_no in wechat.fake.trades:
                break
            import asyncio

            await asyncio.sleep(0.02)
        wechat.fake.pay(payment.out_trade_no)
        wechat.fake.delay_s = 0
    registry.install(wechat.adapter())
    await Payment.filter(id=payment.id).update(created_at=now_shanghai() - timedelta(minutes=20))
    report = await reconcile_payments()
    assert report.paid == 1 and report.errors == 0
    order = await Order.get(id=order.id)
    assert order.status == OrderStatus.PAID
    assert (await Payment.get(id=payment.id)).split_status == SplitStatus.FINISHED
    # a second pass changes nothing
    assert (await reconcile_payments()).paid == 0
    assert await LedgerEntry.filter(kind="order_paid").count() == 1


async def test_reconciliation_closes_unpaid_orders_at_the_channel_first(wechat, shop):
    order = await _order(shop)
    payment = await Payment.get(order_id=order.id)
    young = now_shanghai() - timedelta(minutes=20)
    await Payment.filter(id=payment.id).update(created_at=young)
    # stale but not yet expired: left open
    report = await reconcile_payments()
    assert report.still_open == 1 and (await Order.get(id=order.id)).status == OrderStatus.PAYING
    await Payment.filter(id=payment.id).update(created_at=young - timedelta(hours=1))
    report = await reconcile_payments()
    assert report.closed == 1
    assert wechat.fake.trades[payment.out_trade_no]["trade_state"] == "CLOSED"
    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.CLOSED


async def test_refunds_the_channel_missed_are_retried_and_followed(app_client, wechat, shop):
    order = await _order(shop)
    payment = await Payment.get(order_id=order.id)
    wechat.fake.pay(payment.out_trade_no)
    await app_client.post(NOTIFY, **_req(wechat.fake.payment_notification(payment.out_trade_no)))
    order = await Order.get(id=order.id)
    # given WeChat fails (the split return, the first call of a refund)
    refund = await orders.refund_order(order.id, 10_000, refund_key="rf-x")
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")]
    cr = await refunds.request_channel_refund(order, refund)
    # then the refund stays recorded as pending, nothing returned or refunded yet
    assert cr is not None and cr.status == RefundStatus.PENDING and not cr.split_return_done
    assert cr.error_code == "SYSTEM_ERROR" and wechat.fake.refunds == {}
    # when reconciliation runs, the split return and the refund are sent
    report = await reconcile_payments()
    assert report.refunds_sent == 1
    assert (await ChannelRefund.get(id=cr.id)).status == RefundStatus.PROCESSING
    assert list(wechat.fake.returns) == ["RTrf-x"]
    assert wechat.fake.returns["RTrf-x"]["amount"] == 1_000
    assert (await reconcile_payments()).refunds_sent == 0  # nothing twice
    # and once stale, a refund still processing is asked about
    wechat.fake.refunds["rf-x"]["status"] = "SUCCESS"
    await ChannelRefund.filter(id=cr.id).update(created_at=now_shanghai() - timedelta(hours=1))
    report = await reconcile_payments()
    assert report.refunds_done == 1
    assert (await ChannelRefund.get(id=cr.id)).status == RefundStatus.SUCCESS
