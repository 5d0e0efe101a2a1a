"""Allinpay-style and Joinpay-style adapters against their fakes: signing both ways,
unified order with the split plan, status codes, refunds, notifications."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from app.adapters.payments.base import (
    ChannelError,
    NotificationRejected,
    PayRequest,
    RefundRequest,
    SplitPlan,
    TradeState,
)
from tests.fakes.allinpay import SHANGHAI
from tests.fakes.wechatpay import new_key
from tests.payments.conftest import ALLIN_PLATFORM, JOIN_PLATFORM_ALT


def pay_request(amount=10_050, discount=1_005) -> PayRequest:
    return PayRequest(
        out_trade_no="MS0000000042",
        amount_fen=amount,
        description="Order 42",
        notify_url="https://points.example/pay/notify/x",
        split=SplitPlan.for_order(amount, discount),
        provider_merchant_id="SUBMCH42",
        payer_openid="openid-42",
    )


# ------------------------------------------------------------------ Allinpay-style


async def test_allinpay_unified_order_carries_the_split(allinpay):
    adapter = allinpay.adapter()
    start = await adapter.create_payment(pay_request())
    t = allinpay.fake.trades["MS0000000042"]
    assert t["trxamt"] == 10_050 and t["cusid"] == "SUBMCH42"
    assert t["split"] == [{"cusid": ALLIN_PLATFORM, "amount": 1_005}]
    assert start.pay_params["package"].startswith("prepay_id=")
    assert (await adapter.query("MS0000000042")).state == TradeState.NOT_PAID  # 2000
    allinpay.fake.pay("MS0000000042")
    q = await adapter.query("MS0000000042")
    assert q.state == TradeState.PAID and q.amount_fen == 10_050  # 0000


async def test_allinpay_signatures_both_ways(allinpay):
    with pytest.raises(ChannelError, match="sign error"):
        await allinpay.adapter(private_key=new_key()).create_payment(pay_request())
    forged = allinpay.adapter(provider_public_key=new_key().public_key())
    with pytest.raises(ChannelError) as err:
        await forged.create_payment(pay_request())
    assert err.value.code == "CHANNEL_BAD_RESPONSE"


async def test_allinpay_error_statuses(allinpay):
    allinpay.fake.fail_next = ["3045", "FAIL"]
    with pytest.raises(ChannelError, match="3045"):
        await allinpay.adapter().create_payment(pay_request())
    with pytest.raises(ChannelError, match="system busy"):
        await allinpay.adapter().create_payment(pay_request())


async def test_allinpay_notifications(allinpay):
    adapter = allinpay.adapter()
    await adapter.create_payment(pay_request())
    allinpay.fake.pay("MS0000000042")
    notice = await adapter.parse_notification(*allinpay.fake.notification("MS0000000042"))
    assert notice.paid and notice.amount_fen == 10_050 and notice.channel_txn_id
    stale = (dt.datetime.now(SHANGHAI) - dt.timedelta(hours=30)).strftime("%Y%m%d%H%M%S")
    for over, reason in [
        ({"key": new_key()}, "signature"),
        ({"appid": "00000099"}, "appid mismatch"),
        ({"paytime": stale}, "outside the window"),
    ]:
        with pytest.raises(NotificationRejected, match=reason):
            await adapter.parse_notification(*allinpay.fake.notification("MS0000000042", **over))
    assert adapter.reply(True).body == b"success"


async def test_allinpay_refunds_return_split_inline(allinpay):
    adapter = allinpay.adapter()
    await adapter.create_payment(pay_request())
    allinpay.fake.pay("MS0000000042")

    def req(no, amount, back=0):
        return RefundRequest(
            "MS0000000042", None, no, amount, 10_050, "", "SUBMCH42", split_return_fen=back
        )

    assert (await adapter.refund(req("R1", 5_000, 500))).status == "success"
    with pytest.raises(ChannelError, match="refund exceeds"):
        await adapter.refund(req("R2", 5_051))
    await adapter.refund(req("R2", 5_050, 505))
    t = allinpay.fake.trades["MS0000000042"]
    assert t["refunded"] == 10_050 and t["split_returned"] == 1_005
    assert (await adapter.query_refund("R1", "MS0000000042", "SUBMCH42")).status == "success"


# ------------------------------------------------------------------ Joinpay-style


async def test_joinpay_uni_pay_with_alt_info(joinpay):
    adapter = joinpay.adapter()
    start = await adapter.create_payment(pay_request())
    t = joinpay.fake.trades["MS0000000042"]
    assert t["amount"] == 10_050 and t["sub_merchant"] == "SUBMCH42"
    assert t["alt"] == [{"altMchNo": JOIN_PLATFORM_ALT, "altAmount": "10.05"}]
    assert "package" in start.pay_params
    assert (await adapter.query("MS0000000042")).state == TradeState.NOT_PAID  # 102
    joinpay.fake.pay("MS0000000042")
    q = await adapter.query("MS0000000042")
    assert q.state == TradeState.PAID and q.amount_fen == 10_050  # 100
    assert (await adapter.query("MS0000000999")).state == TradeState.NOT_FOUND


async def test_joinpay_no_alt_info_without_platform_share(joinpay):
    await joinpay.adapter().create_payment(pay_request(discount=0))
    assert joinpay.fake.trades["MS0000000042"]["alt"] == []


async def test_joinpay_hmac_both_ways(joinpay):
    with pytest.raises(ChannelError) as err:
        await joinpay.adapter(key=secrets.token_hex(16)).create_payment(pay_request())
    # the fake's answer is keyed with the real key: refused before its code is read
    assert err.value.code == "CHANNEL_BAD_RESPONSE"
    joinpay.fake.fail_next = ["10080025"]
    with pytest.raises(ChannelError, match="10080025"):
        await joinpay.adapter().create_payment(pay_request())


async def test_joinpay_notifications_and_refunds(joinpay):
    adapter = joinpay.adapter()
    await adapter.create_payment(pay_request())
    joinpay.fake.pay("MS0000000042")
    notice = await adapter.parse_notification(*joinpay.fake.notification("MS0000000042"))
    assert notice.paid and notice.amount_fen == 10_050
    with pytest.raises(NotificationRejected, match="hmac"):
        await adapter.parse_notification(
            *joinpay.fake.notification("MS0000000042", key="not-the-key")
        )
    with pytest.raises(NotificationRejected, match="hmac"):
        h, body = joinpay.fake.notification("MS0000000042")
        await adapter.parse_notification(h, body.replace(b"100.50", b"1.00"))

    def req(no, amount, back=0):
        return RefundRequest(
            "MS0000000042", None, no, amount, 10_050, "https://x/n", split_return_fen=back
        )

    assert (await adapter.refund(req("R1", 4_000, 400))).status == "processing"
    with pytest.raises(ChannelError, match="10080031"):
        await adapter.refund(req("R2", 6_051))
    assert joinpay.fake.trades["MS0000000042"]["alt_returned"] == 400
    refund_notice = await adapter.parse_notification(*joinpay.fake.refund_notification("R1"))
    assert refund_notice.kind == "refund" and refund_notice.refund_fen == 4_000
    assert (await adapter.query_refund("R1", "MS0000000042")).status == "processing"
