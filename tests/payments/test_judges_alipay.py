"""The Alipay adapter and its fake, judged by an independent SDK (`python-alipay-sdk`).

The SDK signs and verifies RSA2 as Alipay's merchants do: the adapter's request and
app-order signatures must be its own, notifications it signs (playing Alipay, with
Alipay's key) are accepted and every one-byte change to a signed value refused, and the
fake's answers and notifications are ones the SDK accepts. Everything runs against
127.0.0.1 only.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import pytest
from alipay import AliPay

from app.adapters.payments.base import ClientKind, NotificationRejected, PayRequest, SplitPlan
from tests.fakes.server import serve
from tests.fakes.wechatpay import pem_private, pem_public
from tests.payments.conftest import ALIPAY_APP_ID, AlipayKit

pytestmark = pytest.mark.usefixtures("loopback_only")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def pay_request(no: str = "MS0000000001", client: ClientKind = ClientKind.MINIPROGRAM):
    return PayRequest(
        out_trade_no=no,
        amount_fen=10_000,
        description="积分订单：咖啡两杯",
        notify_url="https://points.example/pay/notify/alipay",
        split=SplitPlan.for_order(10_000, 1_000),
        client=client,
        payer_openid="2088000000000002",
    )


def merchant_sdk(kit: AlipayKit, gateway: str = "") -> AliPay:
    """The SDK as the merchant: the app key, and Alipay's public key."""
    judge = AliPay(
        appid=ALIPAY_APP_ID,
        app_private_key_string=pem_private(kit.app_key),
        alipay_public_key_string=pem_public(kit.fake.key),
    )
    if gateway:
        # The SDK has no public setting for its host; this is where it keeps it.
        judge._gateway = gateway
    return judge


def alipay_sdk(kit: AlipayKit) -> AliPay:
    """The SDK playing Alipay: signing with Alipay's key (for notifications)."""
    return AliPay(
        appid=ALIPAY_APP_ID,
        app_private_key_string=pem_private(kit.fake.key),
        alipay_public_key_string=pem_public(kit.app_key),
    )


def sdk_sign(judge: AliPay, params: dict[str, str]) -> str:
    return dict(parse_qsl(judge.sign_data(dict(params))))["sign"]


async def test_request_and_order_string_signatures_are_the_sdks(alipay):
    adapter, judge = alipay.adapter(), merchant_sdk(alipay)
    params = adapter.signed_params(
        "alipay.trade.refund",
        {"out_trade_no": "MS0000000001", "refund_amount": "10.00", "refund_reason": "顾客退货"},
    )
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    assert params["sign"] == sdk_sign(judge, unsigned)
    start = await adapter.create_payment(pay_request(client=ClientKind.APP))
    order = dict(parse_qsl(start.pay_params["orderString"]))
    assert order["sign"] == sdk_sign(judge, {k: v for k, v in order.items() if k != "sign"})


async def test_common_parameters_travel_in_the_url_with_the_charset(alipay):
    adapter = alipay.adapter()
    # a request with Chinese text verifies at the gateway, which reads the charset from
    # the URL (GBK when it is not there, as Alipay does for POST)
    start = await adapter.create_payment(pay_request())
    assert start.provider_ref and alipay.fake.charsets == ["utf-8"]
    await adapter.create_payment(pay_request("MS0000000002"))
    assert alipay.fake.methods == ["alipay.trade.create", "alipay.trade.create"]


async def test_the_fake_refuses_a_body_signed_in_another_encoding(alipay):
    adapter = alipay.adapter()
    params = adapter.signed_params(
        "alipay.trade.create",
        {"out_trade_no": "MS0000000001", "total_amount": "1.00", "subject": "积分订单：咖啡两杯",
         "buyer_id": "2088000000000002", "product_code": "JSAPI_PAY"},
    )  # fmt: skip
    # everything in a UTF-8 body, no charset in the URL: read as GBK, the signature fails
    resp = await adapter.http.send("POST", "", data=params)
    assert "isv.invalid-signature" in resp.text and alipay.fake.charsets == ["GBK"]


async def test_sdk_signed_notifications_accepted_and_every_one_byte_change_refused(alipay):
    adapter, judge = alipay.adapter(), alipay_sdk(alipay)
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000001")
    trade = alipay.fake.trades["MS0000000001"]
    now = dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    signed = {
        "notify_time": now, "notify_type": "trade_status_sync", "notify_id": "ac05099524730693a",
        "app_id": ALIPAY_APP_ID, "charset": "utf-8", "version": "1.0",
        "trade_no": trade["trade_no"], "out_trade_no": "MS0000000001",
        "trade_status": "TRADE_SUCCESS", "total_amount": "100.00", "subject": "积分订单",
        "gmt_payment": now,
    }  # fmt: skip
    sign = sdk_sign(judge, signed)

    def form(values: dict[str, str]) -> bytes:
        return urlencode({**values, "sign_type": "RSA2", "sign": sign}).encode()

    notice = await adapter.parse_notification({}, form(signed))
    assert notice.paid and notice.amount_fen == 10_000 and notice.channel_txn_id
    variants = refused = 0
    for name, value in signed.items():
        raw = value.encode()
        for i in range(len(raw)):
            changed = bytearray(raw)
            changed[i] ^= 0x01
            try:
                text = changed.decode()
            except UnicodeDecodeError:
                continue  # not a value a form can carry
            variants += 1
            try:
                await adapter.parse_notification({}, form({**signed, name: text}))
            except NotificationRejected:
                refused += 1
    assert variants > 150 and refused == variants


async def test_sign_type_is_required_on_notifications(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000001")
    _, body = alipay.fake.notification("MS0000000001", sign_type="")
    with pytest.raises(NotificationRejected, match="signature"):
        await adapter.parse_notification({}, body)


async def test_fake_notifications_and_answers_verify_with_the_sdk(alipay):
    adapter = alipay.adapter()
    await adapter.create_payment(pay_request())
    alipay.fake.pay("MS0000000001")
    _, body = alipay.fake.notification("MS0000000001")
    data = dict(parse_qsl(body.decode()))
    assert merchant_sdk(alipay).verify(data, data.pop("sign"))
    with serve(alipay.fake.app) as url:
        judge = merchant_sdk(alipay, gateway=f"{url}/gateway.do")
        # the SDK's own request (everything in the URL) verifies at the fake, and the
        # fake's signed answer verifies with the SDK
        answer = judge.api_alipay_trade_query(out_trade_no="MS0000000001")
    assert answer["code"] == "10000" and answer["trade_status"] == "TRADE_SUCCESS"
