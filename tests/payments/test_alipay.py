"""Alipay adapter against the gateway fake: RSA2 requests and answers, trade.create and
the app order string, notifications, refunds with out_request_no, royalty settle."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest

from app.adapters.payments import crypto
from app.adapters.payments.alipay import sign_content
from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    NotificationRejected,
    PayRequest,
    RefundRequest,
    SplitPlan,
    SplitRequest,
    TradeState,
)
from tests.fakes.alipay import SHANGHAI
from tests.fakes.wechatpay import new_key
from tests.payments.conftest import ALIPAY_APP_ID, ALIPAY_PLATFORM


def pay_request(client=ClientKind.MINIPROGRAM, amount=12_345, discount=1_235) -> PayRequest:
    return PayRequest(
        out_trade_no="MS0000000007",
        amount_fen=amount,
        description="Order 7",
        notify_url="https://points.example/pay/notify/alipay",
        split=SplitPlan.for_order(amount, discount),
        provider_merchant_id="2088000000000777",
        client=client,
        payer_openid="2088000000000555",
    )


async def test_trade_create_for_the_mini_program(alipay):
    start = await alipay.adapter().create_payment(pay_request())
    trade = alipay.fake.trades["MS0000000007"]
    # amounts cross the edge as yuan strings and come back as the same fen
    assert trade["total"] == 12_345 and trade["royalty_freeze"] is True
    assert start.pay_params == {"tradeNO": trade["trade_no"]}


async def test_app_order_string_is_signed(alipay):
    start = await alipay.adapter().create_payment(pay_request(client=ClientKind.APP))
    params = dict(parse_qsl(start.pay_params["orderString"]))
    assert params["method"] == "alipay.trade.app.pay" and params["sign_type"] == "RSA2"
    assert '"total_amount":"123.45"' in params["biz_content"]
    assert crypto.rsa_verify(alipay.app_key.public_key(), sign_content(params), params["sign"])
    assert alipay.fake.methods == []  # no server call for the app order string


async def test_request_signed_with_another_key_is_refused(alipay):
    with pytest.raises(ChannelError) as err:
        await alipay.adapter(private_key=new_key()).create_payment(pay_request())
    assert err.value.provider_code == "isv.invalid-signature"


async def test_answer_with_a_forged_signature_is_refused(alipay):
    adapter = alipay.adapter(alipay_public_key=new_key().public_key())
    with pytest.raises(ChannelError) as err:
        await adapter.create_payment(pay_request())
    assert err.value.code == "CHANNEL_BAD_RESPONSE"


async def test_provider_error_codes(alipay):
    adapter = alipay.adapter()
    alipay.fake.fail_next = [("40004", "ACQ.SYSTEM_ERROR"), ("20000", "isp.unknow-error")]
    with pytest.raises(ChannelError) as first:
        await adapter.create_payment(pay_request())
    assert first.value.transient and "ACQ.SYSTEM_ERROR" in first.value.message
    with pytest.raises(ChannelError) as second:
        await adapter.create_payment(pay_request())
    assert second.value.transient
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000007")
    with pytest.raises(ChannelError) as third:
        await adapter.create_payment(pay_request())
    assert third.value.provider_code == "ACQ.TRADE_HAS_SUCCESS" and not third.value.transient


async def test_notification_verifies(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000007")
    notice = await adapter.parse_notification(*alipay.fake.notification("MS0000000007"))
    assert notice.kind == "payment" and notice.paid and notice.amount_fen == 12_345
    assert notice.channel_txn_id == alipay.fake.trades["MS0000000007"]["trade_no"]
    assert adapter.reply(True).body == b"success"


@pytest.mark.parametrize(
    "over, reason",
    [
        ({"key": new_key()}, "signature does not verify"),
        ({"app_id": "2021000000009999"}, "appid mismatch"),
        (
            {
                "notify_time": (dt.datetime.now(SHANGHAI) - dt.timedelta(hours=27)).strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
            },
            "outside the window",
        ),
    ],
)
async def test_bad_notifications_are_rejected(alipay, over, reason):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000007")
    with pytest.raises(NotificationRejected, match=reason):
        await adapter.parse_notification(*alipay.fake.notification("MS0000000007", **over))


async def test_sign_type_is_excluded_and_tampering_detected(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000007")
    headers, body = alipay.fake.notification("MS0000000007")
    with pytest.raises(NotificationRejected):
        await adapter.parse_notification(headers, body.replace(b"123.45", b"1.00"))


async def test_query_close(alipay):
    adapter = alipay.adapter()
    assert (await adapter.query("MS0000000007")).state == TradeState.NOT_FOUND
    await adapter.create_payment(pay_request())
    assert (await adapter.query("MS0000000007")).state == TradeState.NOT_PAID
    await adapter.close("MS0000000007")
    assert (await adapter.query("MS0000000007")).state == TradeState.CLOSED


def refund(no: str, amount: int, back: int = 0) -> RefundRequest:
    return RefundRequest("MS0000000007", None, no, amount, 12_345, "", split_return_fen=back)


async def test_refunds_with_out_request_no_up_to_the_total(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000007")
    assert (await adapter.refund(refund("R1", 10_000))).status == "success"
    assert (await adapter.refund(refund("R1", 10_000))).status == "success"  # same request
    with pytest.raises(ChannelError, match="REFUND_AMT"):
        await adapter.refund(refund("R2", 2_346))
    await adapter.refund(refund("R2", 2_345, back=235))
    assert alipay.fake.trades["MS0000000007"]["refunded"] == 12_345
    assert alipay.fake.refunds[("MS0000000007", "R2")]["royalty_returned"] == 235
    assert (await adapter.query_refund("R2", "MS0000000007")).status == "success"
    notice = await adapter.parse_notification(
        *alipay.fake.refund_notification("MS0000000007", "R2")
    )
    assert notice.kind == "refund" and notice.out_refund_no == "R2"


async def test_royalty_settle_only_after_success(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    trade_no = alipay.fake.trades["MS0000000007"]["trade_no"]
    req = SplitRequest("MS0000000007", trade_no, "SP0000000007", 1_235, 11_110)
    await adapter.prepare_split("2088000000000777")
    assert ALIPAY_PLATFORM in alipay.fake.bound
    with pytest.raises(ChannelError, match="TRADE_STATUS_ERROR"):
        await adapter.split(req)
    assert alipay.fake.settles == {}
    alipay.fake.pay("MS0000000007")
    assert (await adapter.split(req)).status == "processing"
    assert alipay.fake.settles["SP0000000007"]["amount"] == 1_235
    assert (await adapter.query_split(req)).status == "finished"
    assert adapter.cfg.app_id == ALIPAY_APP_ID
