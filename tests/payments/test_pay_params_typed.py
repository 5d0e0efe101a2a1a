"""`payment` on createOrder: each channel's pay parameters as their own GraphQL type,
from what the adapters really answer (against the providers' fakes)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from strawberry.relay import GlobalID

from app.adapters.payments import registry
from app.adapters.payments.base import ClientKind
from app.api.graphql.payments.pay_params import (
    AggregatorInfoPayParams,
    AggregatorUrlPayParams,
    AlipayAppPayParams,
    AlipayTradePayParams,
    WechatAppPayParams,
    WechatJsapiPayParams,
    pay_params_of,
)
from app.models.orders import Order, OrderStatus
from app.models.payments import MerchantChannel
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for
from tests.payments import test_aggregators, test_alipay, test_wechatpay
from tests.payments.conftest import APP_APPID, SP_APPID, SUB_MCHID, verify_with

CREATE = """mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename
  ... on CreateOrderSuccess { order { id status } payment { __typename
    ... on WechatJsapiPayParams { channel appId timeStamp nonceStr package signType paySign }
    ... on WechatAppPayParams { appId partnerId prepayId package nonceStr timeStamp sign }
    ... on AlipayTradePayParams { tradeNo }
    ... on AlipayAppPayParams { orderString }
    ... on AggregatorUrlPayParams { payUrl }
    ... on AggregatorInfoPayParams { payInfo }
    ... on SandboxPayParams { channel payUrl outTradeNo } } }
  ... on OrderError { code field message } } }"""


async def create(client, merchant, key: str):
    consumer = await make_user(wechat_openid=f"o-{key}")
    token = await token_for(consumer.id, "consumer")
    m = str(GlobalID("Merchant", str(merchant.id)))
    i = {"merchantId": m, "amountFen": 1_000, "idempotencyKey": key}
    return (await gql(client, CREATE, {"i": i}, token))["data"]["createOrder"]


async def test_wechat_jsapi_fields_are_what_wx_request_payment_takes(client, db, wechat):
    registry.install(wechat.adapter())
    merchant = await make_merchant()
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="wechatpay", priority=1, provider_merchant_id=SUB_MCHID
    )
    p = (await create(client, merchant, "w"))["payment"]
    assert p["__typename"] == "WechatJsapiPayParams"
    assert (p["channel"], p["appId"], p["signType"]) == ("wechatpay", SP_APPID, "RSA")
    assert p["package"].startswith("prepay_id=")
    message = f"{p['appId']}\n{p['timeStamp']}\n{p['nonceStr']}\n{p['package']}\n"
    assert verify_with(wechat.merchant_key, message, p["paySign"])


async def test_sandbox_pay_url_pays_the_order(app_client):
    merchant = await make_merchant()
    created = await create(app_client, merchant, "s")
    p = created["payment"]
    assert p["__typename"] == "SandboxPayParams" and p["channel"] == "sandbox"
    path = p["payUrl"][p["payUrl"].index("/sandbox/pay/") :]
    assert (await app_client.post(path)).status_code == 200
    assert (await Order.get(merchant_id=merchant.id)).status == OrderStatus.PAID


async def test_wechat_app_fields(wechat):
    start = await wechat.adapter().create_payment(test_wechatpay.pay_request(client=ClientKind.APP))
    p = pay_params_of("wechatpay", start.pay_params)
    assert isinstance(p, WechatAppPayParams)
    assert (p.app_id, p.package) == (APP_APPID, "Sign=WXPay")
    message = f"{p.app_id}\n{p.time_stamp}\n{p.nonce_str}\n{p.prepay_id}\n"
    assert verify_with(wechat.merchant_key, message, p.sign)


async def test_alipay_trade_number_and_order_string(alipay):
    mini = await alipay.adapter().create_payment(test_alipay.pay_request())
    trade = pay_params_of("alipay", mini.pay_params)
    assert isinstance(trade, AlipayTradePayParams)
    assert trade.trade_no == alipay.fake.trades["MS0000000007"]["trade_no"]
    app = await alipay.adapter().create_payment(test_alipay.pay_request(client=ClientKind.APP))
    order_string = pay_params_of("alipay", app.pay_params)
    assert isinstance(order_string, AlipayAppPayParams)
    assert dict(parse_qsl(order_string.order_string))["method"] == "alipay.trade.app.pay"


async def test_aggregators_pay_info_as_they_sent_it(allinpay, joinpay):
    # (the fakes answer a part of WeChat's fields: not enough for wx.requestPayment, so
    # the client gets the aggregator's pay info as sent)
    for name, kit in (("allinpay", allinpay), ("joinpay", joinpay)):
        start = await kit.adapter().create_payment(test_aggregators.pay_request())
        p = pay_params_of(name, start.pay_params)
        assert isinstance(p, AggregatorInfoPayParams), name
        assert p.channel == name and json.loads(p.pay_info or "") == start.pay_params


def test_aggregators_handing_out_all_of_wechats_fields_are_jsapi():
    fields = {
        "appId": "wx-agg",
        "timeStamp": "1700000000",
        "nonceStr": "n",
        "package": "prepay_id=AP1",
        "signType": "RSA",
        "paySign": "s",
    }
    p = pay_params_of("allinpay", fields)
    assert p == WechatJsapiPayParams(
        channel="allinpay",
        app_id="wx-agg",
        time_stamp="1700000000",
        nonce_str="n",
        package="prepay_id=AP1",
        sign_type="RSA",
        pay_sign="s",
    )


def test_aggregators_own_pay_info():
    assert pay_params_of("joinpay", {"payUrl": "https://pay.example/x"}) == (
        AggregatorUrlPayParams(channel="joinpay", pay_url="https://pay.example/x")
    )
    assert pay_params_of("allinpay", {"payinfo": "weixin://wxpay/abc"}) == (
        AggregatorInfoPayParams(channel="allinpay", pay_info="weixin://wxpay/abc")
    )
    odd = pay_params_of("allinpay", {"qr": "x", "n": 1})
    assert odd == AggregatorInfoPayParams(channel="allinpay", pay_info='{"qr": "x", "n": 1}')
    assert pay_params_of("sandbox", None) is None
