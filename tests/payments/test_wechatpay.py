"""WeChat Pay v3 adapter against the provider fake: signing, prepay, notifications,
platform keys, refunds and profit sharing."""

from __future__ import annotations

import time

import pytest

from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    NotificationRejected,
    PayRequest,
    RefundRequest,
    SplitPlan,
    SplitRequest,
    SplitReturnRequest,
    TradeState,
)
from tests.fakes.server import serve
from tests.fakes.wechatpay import new_key
from tests.payments.conftest import APP_APPID, SP_APPID, SUB_MCHID, verify_with


def pay_request(
    no: str = "MS0000000001",
    amount: int = 10_000,
    discount: int = 1_000,
    client: ClientKind = ClientKind.MINIPROGRAM,
) -> PayRequest:
    return PayRequest(
        out_trade_no=no,
        amount_fen=amount,
        description="Order 1",
        notify_url="https://points.example/pay/notify/wechatpay",
        split=SplitPlan.for_order(amount, discount),
        provider_merchant_id=SUB_MCHID,
        client=client,
        payer_openid="openid-consumer-1",
    )


async def test_jsapi_prepay_returns_signed_request_payment_params(wechat):
    adapter = wechat.adapter()
    # when a mini-program payment is created
    start = await adapter.create_payment(pay_request())
    # then the fake saw a signed partner JSAPI order with the split flag and the amount in fen
    trade = wechat.fake.trades["MS0000000001"]
    assert trade["total"] == 10_000 and trade["sub_mchid"] == SUB_MCHID
    assert trade["profit_sharing"] is True and trade["trade_type"] == "JSAPI"
    # and the client gets exactly wx.requestPayment's parameters, paySign verifiable
    p = start.pay_params
    assert set(p) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert p["appId"] == SP_APPID and p["package"] == f"prepay_id={trade['prepay_id']}"
    message = f"{p['appId']}\n{p['timeStamp']}\n{p['nonceStr']}\n{p['package']}\n"
    assert verify_with(wechat.merchant_key, message, p["paySign"])


async def test_app_prepay_returns_app_params(wechat):
    adapter = wechat.adapter()
    start = await adapter.create_payment(pay_request(client=ClientKind.APP))
    p = start.pay_params
    assert p["appid"] == APP_APPID and p["package"] == "Sign=WXPay"
    assert wechat.fake.trades["MS0000000001"]["trade_type"] == "APP"
    message = f"{p['appid']}\n{p['timestamp']}\n{p['noncestr']}\n{p['prepayid']}\n"
    assert verify_with(wechat.merchant_key, message, p["sign"])


async def test_requests_signed_with_another_key_are_refused(wechat):
    adapter = wechat.adapter(private_key=new_key())
    with pytest.raises(ChannelError) as err:
        await adapter.create_payment(pay_request())
    assert err.value.provider_code == "SIGN_ERROR" and not err.value.transient
    assert wechat.fake.trades == {}


async def test_no_split_flag_when_platform_share_is_zero(wechat):
    await wechat.adapter().create_payment(pay_request(discount=0))
    assert wechat.fake.trades["MS0000000001"]["profit_sharing"] is False


async def test_provider_error_codes_become_clear_errors(wechat):
    adapter = wechat.adapter()
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR"), (400, "PARAM_ERROR")]
    with pytest.raises(ChannelError) as first:
        await adapter.create_payment(pay_request())
    assert first.value.code == "CHANNEL_ERROR" and first.value.transient
    assert "SYSTEM_ERROR" in first.value.message
    with pytest.raises(ChannelError) as second:
        await adapter.create_payment(pay_request())
    assert second.value.provider_code == "PARAM_ERROR" and not second.value.transient


async def test_timeout_is_a_transient_channel_timeout(wechat):
    wechat.fake.delay_s = 1.0
    with serve(wechat.fake.app) as url:
        adapter = wechat.adapter(base_url=url, transport=None, timeout_s=0.2)
        # The default transport, over loopback TCP.
        adapter.http.transport = None
        with pytest.raises(ChannelError) as err:
            await adapter.create_payment(pay_request())
    assert err.value.code == "CHANNEL_TIMEOUT" and err.value.transient


async def test_paid_notification_verifies_and_decrypts(wechat):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    wechat.fake.pay("MS0000000001")
    headers, body = wechat.fake.payment_notification("MS0000000001")
    notice = await adapter.parse_notification(headers, body)
    assert notice.kind == "payment" and notice.paid
    assert notice.amount_fen == 10_000 and notice.out_trade_no == "MS0000000001"
    assert notice.channel_txn_id == wechat.fake.trades["MS0000000001"]["transaction_id"]
    # the certificate was fetched once, for the unknown serial
    assert wechat.fake.certificate_downloads == 1


async def _paid(wechat):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    wechat.fake.pay("MS0000000001")
    return adapter


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda f: {"signing_key": new_key()}, "signature does not verify"),
        (lambda f: {"signature": "WECHATPAY/SIGNTEST/abc"}, "SIGNTEST"),
        (lambda f: {"timestamp": int(time.time()) - 301}, "5-minute window"),
        (lambda f: {"timestamp": int(time.time()) + 400}, "5-minute window"),
        (lambda f: {"resource": {"sp_appid": "wx-someone-else"}}, "appid mismatch"),
        (lambda f: {"resource": {"sp_mchid": "1900000999"}}, "sp_mchid mismatch"),
        (lambda f: {"apiv3_key": b"k" * 32}, "does not decrypt"),
        (lambda f: {"serial": "5157F09EFDC096DE15EBE81A47057A72"}, "unknown platform serial"),
    ],
)
async def test_bad_notifications_are_rejected(wechat, tamper, reason):
    adapter = await _paid(wechat)
    headers, body = wechat.fake.payment_notification("MS0000000001", **tamper(wechat.fake))
    with pytest.raises(NotificationRejected) as rej:
        await adapter.parse_notification(headers, body)
    assert reason in rej.value.reason


async def test_tampered_body_is_rejected(wechat):
    adapter = await _paid(wechat)
    headers, body = wechat.fake.payment_notification("MS0000000001")
    with pytest.raises(NotificationRejected, match="signature"):
        await adapter.parse_notification(headers, body.replace(b"encrypt", b"Encrypt"))


async def test_replayed_nonce_is_rejected(wechat):
    adapter = await _paid(wechat)
    headers, body = wechat.fake.payment_notification("MS0000000001")
    await adapter.parse_notification(headers, body)
    with pytest.raises(NotificationRejected, match="replayed nonce"):
        await adapter.parse_notification(headers, body)


async def test_unknown_serial_triggers_one_certificate_refresh(wechat):
    adapter = await _paid(wechat)
    await adapter.parse_notification(*wechat.fake.payment_notification("MS0000000001"))
    assert wechat.fake.certificate_downloads == 1
    # given WeChat rotates its platform certificate
    adapter.cfg.refresh_interval_s = 0
    new_serial = wechat.fake.rotate_certificate()
    # when a notification signed with the new certificate arrives
    headers, body = wechat.fake.payment_notification("MS0000000001")
    assert headers["Wechatpay-Serial"] == new_serial
    notice = await adapter.parse_notification(headers, body)
    # then the adapter downloaded the certificates again and accepted it
    assert notice.paid and wechat.fake.certificate_downloads == 2
    assert new_serial in adapter._platform_keys


async def test_forged_serials_do_not_buy_a_download_each(wechat):
    adapter = await _paid(wechat)
    for _ in range(3):
        headers, body = wechat.fake.payment_notification(
            "MS0000000001", serial="DEADBEEF", signing_key=new_key()
        )
        with pytest.raises(NotificationRejected):
            await adapter.parse_notification(headers, body)
    assert wechat.fake.certificate_downloads == 1  # throttled


async def test_public_key_mode(wechat_pubkey):
    kit = wechat_pubkey
    adapter = kit.adapter()
    await adapter.create_payment(pay_request())
    kit.fake.pay("MS0000000001")
    headers, body = kit.fake.payment_notification("MS0000000001")
    assert headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_")
    assert (await adapter.parse_notification(headers, body)).paid
    # an unknown public key id is never "refreshed": public keys are configured
    headers, body = kit.fake.payment_notification(
        "MS0000000001", serial="PUB_KEY_ID_0000", signing_key=new_key()
    )
    with pytest.raises(NotificationRejected, match="unknown platform serial"):
        await adapter.parse_notification(headers, body)
    assert kit.fake.certificate_downloads == 0


async def test_answers_signed_by_an_unknown_key_are_refused(wechat):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    wechat.fake.platform_key = new_key()  # answers now signed with a key WeChat never issued
    adapter._platform_keys.clear()
    adapter.cfg.refresh_interval_s = 0
    with pytest.raises(ChannelError) as err:
        await adapter.query("MS0000000001", SUB_MCHID)
    assert err.value.code == "CHANNEL_BAD_RESPONSE"


async def test_query_and_close(wechat):
    adapter = wechat.adapter()
    assert (await adapter.query("MS0000000404", SUB_MCHID)).state == TradeState.NOT_FOUND
    await adapter.create_payment(pay_request())
    assert (await adapter.query("MS0000000001", SUB_MCHID)).state == TradeState.NOT_PAID
    await adapter.close("MS0000000001", SUB_MCHID)
    assert (await adapter.query("MS0000000001", SUB_MCHID)).state == TradeState.CLOSED
    await adapter.create_payment(pay_request("MS0000000002"))
    wechat.fake.pay("MS0000000002")
    q = await adapter.query("MS0000000002", SUB_MCHID)
    assert q.state == TradeState.PAID and q.amount_fen == 10_000 and q.channel_txn_id


def refund(no: str, amount: int, txn: str) -> RefundRequest:
    return RefundRequest(
        out_trade_no="MS0000000001",
        channel_txn_id=txn,
        out_refund_no=no,
        amount_fen=amount,
        total_fen=10_000,
        notify_url="https://points.example/pay/notify/wechatpay",
        provider_merchant_id=SUB_MCHID,
    )


async def test_partial_refunds_up_to_the_total_and_refund_notification(wechat):
    adapter = await _paid(wechat)
    txn = wechat.fake.trades["MS0000000001"]["transaction_id"]
    assert (await adapter.refund(refund("R1", 4_000, txn))).status == "processing"
    assert (await adapter.refund(refund("R2", 6_000, txn))).status == "processing"
    with pytest.raises(ChannelError, match="INVALID_REQUEST"):
        await adapter.refund(refund("R3", 1, txn))
    # the same out_refund_no is the same refund
    assert (await adapter.refund(refund("R1", 4_000, txn))).channel_refund_id
    notice = await adapter.parse_notification(*wechat.fake.refund_notification("R1"))
    assert notice.kind == "refund" and notice.refund_status == "success"
    assert notice.out_refund_no == "R1" and notice.refund_fen == 4_000
    assert (await adapter.query_refund("R1", "MS0000000001", SUB_MCHID)).status == "success"


async def test_profit_sharing_only_after_success_then_return(wechat):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    split = SplitRequest("MS0000000001", "4200-not-paid", "SP0000000001", 1_000, 9_000, SUB_MCHID)
    await adapter.prepare_split(SUB_MCHID)
    with pytest.raises(ChannelError, match="ORDER_NOT_PAID"):
        await adapter.split(split)
    assert wechat.fake.splits == {}
    wechat.fake.pay("MS0000000001")
    txn = wechat.fake.trades["MS0000000001"]["transaction_id"]
    split = SplitRequest("MS0000000001", txn, "SP0000000001", 1_000, 9_000, SUB_MCHID)
    result = await adapter.split(split)
    assert result.status == "finished"
    s = wechat.fake.splits["SP0000000001"]
    assert s["amount"] == 1_000 and s["receivers"][0]["type"] == "MERCHANT_ID"
    assert (await adapter.query_split(split)).status == "finished"
    ret = SplitReturnRequest(
        "MS0000000001", txn, "SP0000000001", result.channel_split_id, "RTR1", 400, SUB_MCHID
    )
    await adapter.return_split(ret)
    await adapter.return_split(ret)  # same out_return_no: once
    assert s["returned"] == 400
    with pytest.raises(ChannelError, match="NOT_ENOUGH"):
        await adapter.return_split(
            SplitReturnRequest("MS0000000001", txn, "SP0000000001", None, "RTR2", 601, SUB_MCHID)
        )


async def test_split_without_platform_share_unfreezes(wechat):
    adapter = await _paid(wechat)
    txn = wechat.fake.trades["MS0000000001"]["transaction_id"]
    res = await adapter.split(SplitRequest("MS0000000001", txn, "SP1", 0, 10_000, SUB_MCHID))
    assert res.status == "finished"
    assert ("POST", "/v3/profitsharing/orders/unfreeze") in wechat.fake.requests
