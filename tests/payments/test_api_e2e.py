"""Through the public API: createOrder → sandbox pay page → notification → refundOrder
→ the provider's refund notification."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.adapters.payments import registry
from app.models.orders import Order, OrderStatus
from app.models.payments import ChannelRefund, MerchantChannel, Payment, RefundStatus
from app.models.users import Role
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for
from tests.payments.conftest import SUB_MCHID, verify_with

CREATE = """mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename
  ... on CreateOrderSuccess { order { id status } payParams }
  ... on OrderError { code field message } } }"""
REFUND = """mutation($o: ID!, $a: Int!, $k: String!) {
  refundOrder(orderId: $o, amountFen: $a, refundKey: $k) { __typename
    ... on RefundOrderSuccess { amountFen order { status refundedFen } }
    ... on OrderError { code message } } }"""


async def test_order_paid_and_refunded_through_the_api(app_client):
    consumer, merchant = await make_user(), await make_merchant(discount_bps=1000)
    token = await token_for(consumer.id, "consumer")
    m = str(GlobalID("Merchant", str(merchant.id)))
    res = await gql(
        app_client, CREATE, {"i": {"merchantId": m, "amountFen": 8_800, "idempotencyKey": "x"}},
        token,
    )  # fmt: skip
    created = res["data"]["createOrder"]
    assert created["order"]["status"] == "PAYING"
    pay_url = created["payParams"]["payUrl"]
    path = pay_url[pay_url.index("/sandbox/pay/") :]
    # the payer opens the page and pays
    assert "88.00" in (await app_client.get(path)).text
    assert (await app_client.post(path)).status_code == 200
    order = await Order.get(merchant_id=merchant.id)
    assert order.status == OrderStatus.PAID
    # the merchant's owner refunds part of it
    owner = await token_for(merchant.owner_id, Role.MERCHANT_OWNER.value)
    o = str(GlobalID("Order", str(order.id)))
    res = await gql(app_client, REFUND, {"o": o, "a": 800, "k": "api-rf-1"}, owner)
    assert res["data"]["refundOrder"]["order"] == {
        "status": "PARTIALLY_REFUNDED",
        "refundedFen": 800,
    }
    cr = await ChannelRefund.get(refund_key="api-rf-1")
    assert (cr.amount_fen, cr.status) == (800, RefundStatus.SUCCESS)


async def test_wechat_pay_params_through_the_api(client, db, wechat):
    registry.install(wechat.adapter())
    merchant = await make_merchant()
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="wechatpay", priority=1, provider_merchant_id=SUB_MCHID
    )
    consumer = await make_user(wechat_openid="o-api")
    token = await token_for(consumer.id, "consumer")
    m = str(GlobalID("Merchant", str(merchant.id)))
    res = await gql(
        client, CREATE, {"i": {"merchantId": m, "amountFen": 1_000, "idempotencyKey": "w"}}, token
    )
    p = res["data"]["createOrder"]["payParams"]
    message = f"{p['appId']}\n{p['timeStamp']}\n{p['nonceStr']}\n{p['package']}\n"
    assert verify_with(wechat.merchant_key, message, p["paySign"])
    payment = await Payment.get(order__merchant_id=merchant.id)
    assert wechat.fake.trades[payment.out_trade_no]["openid"] == "o-api"
