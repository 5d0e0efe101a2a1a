"""Routing and failover: per-merchant channels in priority order, admin mark-down,
automatic mark-down after repeated failures, a clear error when nothing is live."""

from __future__ import annotations

import pytest
from strawberry.relay import GlobalID

from app.adapters.payments import registry
from app.infra.errors import DomainError
from app.models.orders import Order, OrderStatus
from app.models.payments import ChannelState, MerchantChannel, Payment
from app.models.users import Role
from app.services import checkout
from app.services.routing import choose_channel
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for
from tests.payments.conftest import SUB_MCHID

SET_STATUS = """mutation($c: String!, $live: Boolean!, $r: String!) {
  setChannelStatus(channel: $c, live: $live, reason: $r) { __typename
    ... on PaymentChannelStatus { channel live adminLive autoDown reason }
    ... on PaymentError { code field message } } }"""
SET_CHANNELS = """mutation($m: ID!, $ch: [MerchantChannelInput!]!) {
  setMerchantChannels(merchantId: $m, channels: $ch) { __typename
    ... on MerchantChannelsPayload { channels { channel priority enabled providerMerchantId } }
    ... on PaymentError { code field message } } }"""
STATUSES = "{ paymentChannels { channel live configured } }"


@pytest.fixture
async def two_channel_shop(db, wechat, allinpay):
    registry.install(wechat.adapter())
    registry.install(allinpay.adapter())
    merchant = await make_merchant()
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="wechatpay", priority=10, provider_merchant_id=SUB_MCHID
    )
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="allinpay", priority=20, provider_merchant_id="C42"
    )
    consumer = await make_user(wechat_openid="o-routing")
    return consumer, merchant


async def _order(shop, key: str) -> Order:
    consumer, merchant = shop
    return await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=5_000, idempotency_key=key
    )


async def test_orders_route_by_priority_and_around_an_admin_mark_down(
    client, two_channel_shop, allinpay
):
    admin = await token_for((await make_user(role=Role.ADMIN)).id, "admin")
    assert (await _order(two_channel_shop, "a")).channel == "wechatpay"
    # when an admin marks WeChat Pay down
    res = await gql(client, SET_STATUS, {"c": "wechatpay", "live": False, "r": "shut off"}, admin)
    assert res["data"]["setChannelStatus"] == {
        "__typename": "PaymentChannelStatus", "channel": "wechatpay", "live": False,
        "adminLive": False, "autoDown": False, "reason": "shut off",
    }  # fmt: skip
    # then the next order goes through the aggregator, and is created there
    order = await _order(two_channel_shop, "b")
    assert order.channel == "allinpay" and order.status == OrderStatus.PAYING
    assert (await Payment.get(order_id=order.id)).out_trade_no in allinpay.fake.trades
    # a client asking for WeChat gets the live one
    assert await choose_channel(order.merchant_id, "wechatpay") == "allinpay"
    # when every channel is down: a clear error, and no order
    await gql(client, SET_STATUS, {"c": "allinpay", "live": False, "r": "maintenance"}, admin)
    with pytest.raises(DomainError) as err:
        await _order(two_channel_shop, "c")
    assert (err.value.code, err.value.field) == ("CHANNEL_UNAVAILABLE", "channel")
    assert not await Order.exists(idempotency_key="c")
    # back up
    await gql(client, SET_STATUS, {"c": "wechatpay", "live": True, "r": ""}, admin)
    assert (await _order(two_channel_shop, "d")).channel == "wechatpay"
    assert (await ChannelState.get(channel="wechatpay")).live


async def test_repeated_failures_mark_a_channel_down_automatically(
    db, two_channel_shop, wechat, settings, monkeypatch
):
    monkeypatch.setattr(settings, "payment_failure_threshold", 3)
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")] * 3
    for key in ("f1", "f2", "f3"):
        with pytest.raises(DomainError):
            await _order(two_channel_shop, key)
    # the third failure marked WeChat down: orders now go to the aggregator
    order = await _order(two_channel_shop, "f4")
    assert order.channel == "allinpay"
    # a refusal that is not the channel's fault (bad request) does not count
    assert await choose_channel(order.merchant_id, None) == "allinpay"


async def test_a_success_between_failures_starts_the_count_again(
    db, two_channel_shop, wechat, settings, monkeypatch
):
    monkeypatch.setattr(settings, "payment_failure_threshold", 3)
    # two transient failures, then a success, then two more failures
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")] * 2
    for key in ("s1", "s2"):
        with pytest.raises(DomainError):
            await _order(two_channel_shop, key)
    assert (await _order(two_channel_shop, "s3")).channel == "wechatpay"
    wechat.fake.fail_next = [(500, "SYSTEM_ERROR")] * 2
    for key in ("s4", "s5"):
        with pytest.raises(DomainError):
            await _order(two_channel_shop, key)
    # then WeChat is still live: the success reset the count (4 failures, never 3 in a row)
    assert (await _order(two_channel_shop, "s6")).channel == "wechatpay"


async def test_business_refusals_do_not_mark_down(db, two_channel_shop, wechat, settings,
                                                   monkeypatch):  # fmt: skip
    monkeypatch.setattr(settings, "payment_failure_threshold", 2)
    wechat.fake.fail_next = [(400, "PARAM_ERROR")] * 3
    for key in ("p1", "p2", "p3"):
        with pytest.raises(DomainError):
            await _order(two_channel_shop, key)
    assert (await _order(two_channel_shop, "p4")).channel == "wechatpay"


async def test_unconfigured_channels_are_skipped(db, settings, monkeypatch):
    merchant = await make_merchant()
    await MerchantChannel.create(merchant_id=merchant.id, channel="joinpay", priority=1)
    await MerchantChannel.create(merchant_id=merchant.id, channel="sandbox", priority=2)
    assert await choose_channel(merchant.id, None) == "sandbox"
    # prod never offers the sandbox: nothing left
    monkeypatch.setattr(settings, "app_env", "prod")
    with pytest.raises(DomainError) as err:
        await choose_channel(merchant.id, None)
    assert err.value.code == "CHANNEL_UNAVAILABLE"


async def test_channel_admin_api_is_admin_only_and_validates(client, db):
    merchant = await make_merchant()
    owner = await token_for(merchant.owner_id, "merchant_owner")
    admin = await token_for((await make_user(role=Role.ADMIN)).id, "admin")
    denied = await gql(
        client, SET_STATUS, {"c": "wechatpay", "live": False, "r": "x"}, owner, expect_errors=True
    )
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    assert not await ChannelState.exists()
    bad = await gql(client, SET_STATUS, {"c": "paypal", "live": False, "r": "x"}, admin)
    assert bad["data"]["setChannelStatus"]["code"] == "INVALID"
    no_reason = await gql(client, SET_STATUS, {"c": "alipay", "live": False, "r": ""}, admin)
    assert no_reason["data"]["setChannelStatus"]["field"] == "reason"
    m = str(GlobalID("Merchant", str(merchant.id)))
    chans = [
        {"channel": "alipay", "priority": 20, "providerMerchantId": "2088"},
        {"channel": "wechatpay", "priority": 10, "providerMerchantId": SUB_MCHID},
    ]
    res = await gql(client, SET_CHANNELS, {"m": m, "ch": chans}, admin)
    got = res["data"]["setMerchantChannels"]["channels"]
    assert [c["channel"] for c in got] == ["wechatpay", "alipay"]
    dup = await gql(client, SET_CHANNELS, {"m": m, "ch": chans + chans[:1]}, admin)
    assert dup["data"]["setMerchantChannels"]["code"] == "INVALID"
    statuses = (await gql(client, STATUSES, token=admin))["data"]["paymentChannels"]
    assert {s["channel"]: s["configured"] for s in statuses}["sandbox"] is True
    denied = await gql(client, STATUSES, token=owner, expect_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
