"""Every identifier the platform sends to a channel, against that channel's alphabet and
length: a number outside it is a typed INVALID error before the request leaves (the
fake never hears of it), and a client's refund key of any shape becomes a number the
channel takes."""

from __future__ import annotations

import pytest

from app.adapters.payments import identifiers
from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    PayRequest,
    RefundRequest,
    SplitPlan,
    SplitRequest,
    SplitReturnRequest,
)
from app.domain import orders
from app.models.ledger import LedgerEntry
from app.models.orders import Order
from app.models.payments import ChannelRefund, Payment, RefundStatus, SplitStatus
from app.services import refunds
from tests.payments.conftest import SUB_MCHID, shop_order

BAD = ["退款1", "R 1", "R#1", "R/1", "R%7C1", ""]


def pay(no: str, client: ClientKind = ClientKind.MINIPROGRAM) -> PayRequest:
    return PayRequest(
        out_trade_no=no, amount_fen=100, description="o", notify_url="https://p.example/n",
        split=SplitPlan.for_order(100, 10), provider_merchant_id=SUB_MCHID, client=client,
        payer_openid="2088000000000002",
    )  # fmt: skip


def refund(no: str) -> RefundRequest:
    return RefundRequest("MS0000000001", "4200x", no, 10, 100, "https://p.example/n", SUB_MCHID)


async def _refused(call, field: str, requests: list) -> None:
    before = len(requests)
    with pytest.raises(ChannelError) as err:
        await call
    assert (err.value.code, err.value.field, err.value.transient) == ("INVALID", field, False)
    assert len(requests) == before  # nothing reached the channel


@pytest.mark.parametrize("bad", [*BAD, "MS1", "M" * 33, "MS@0000001"])
async def test_wechat_out_trade_no(wechat, bad):
    await _refused(wechat.adapter().create_payment(pay(bad)), "out_trade_no", wechat.fake.requests)


@pytest.mark.parametrize("bad", [*BAD, "R" * 65])
async def test_wechat_refund_split_and_return_numbers(wechat, bad):
    adapter, seen = wechat.adapter(), wechat.fake.requests
    await _refused(adapter.refund(refund(bad)), "out_refund_no", seen)
    split = SplitRequest("MS0000000001", "4200x", bad, 10, 90, SUB_MCHID)
    await _refused(adapter.split(split), "out_order_no", seen)
    ret = SplitReturnRequest("MS0000000001", "4200x", "SP1", None, bad, 10, SUB_MCHID)
    await _refused(adapter.return_split(ret), "out_return_no", seen)


@pytest.mark.parametrize("bad", [*BAD, "MS-0000000001", "M" * 65])
async def test_alipay_out_trade_no(alipay, bad):
    call = alipay.adapter().create_payment(pay(bad, ClientKind.APP))
    await _refused(call, "out_trade_no", alipay.fake.methods)


@pytest.mark.parametrize("bad", [*BAD, "R" * 65])
async def test_alipay_refund_and_settle_numbers(alipay, bad):
    adapter = alipay.adapter()
    await _refused(adapter.refund(refund(bad)), "out_request_no", alipay.fake.methods)
    split = SplitRequest("MS0000000001", "2026x", bad or "S-1", 10, 90)
    await _refused(adapter.split(split), "settle_request_no", alipay.fake.methods)
    long = SplitRequest("MS0000000001", "2026x", "S" * 33, 10, 90)
    await _refused(adapter.split(long), "settle_request_no", alipay.fake.methods)


@pytest.mark.parametrize(("kit", "limit"), [("allinpay", 32), ("joinpay", 30)])
async def test_aggregator_numbers(request, kit, limit):
    k = request.getfixturevalue(kit)
    adapter = k.adapter()
    for bad in [*BAD, "M" * (limit + 1)]:
        await _refused(adapter.create_payment(pay(bad)), "out_trade_no", [])
        await _refused(adapter.refund(refund(bad)), "out_refund_no", [])
    assert k.fake.trades == {} and k.fake.refunds == {}


@pytest.mark.parametrize(("kit", "limit"), [("allinpay", 32), ("joinpay", 30)])
async def test_aggregator_fakes_refuse_what_their_providers_refuse(
    request, monkeypatch, kit, limit
):
    """Were the adapter's table to drift (here: widened on purpose), the fake would refuse
    the number as the provider does, and no trade would be made."""
    k = request.getfixturevalue(kit)
    wide = identifiers.IdRule(r"0-9A-Za-z_\-#/ ", 1, 200)
    monkeypatch.setitem(identifiers.RULES[kit], "out_trade_no", wide)
    for bad in ["R#1", "R 1", "M" * (limit + 1)]:
        with pytest.raises(ChannelError):
            await k.adapter().create_payment(pay(bad))
    assert k.fake.trades == {}
    await k.adapter().create_payment(pay("M" * limit))  # at the limit: taken
    assert list(k.fake.trades) == ["M" * limit]


@pytest.mark.parametrize("channel", ["wechatpay", "alipay", "allinpay", "joinpay", "sandbox"])
def test_any_refund_key_derives_a_number_the_channel_takes(channel):
    field = identifiers.refund_field(channel)
    for key in ["rf-1", "退款/1 #x", "R|1", "H" + "a" * 10, "k" * 64, "x"]:
        no = identifiers.refund_no(channel, key)
        assert identifiers.rule(channel, field).allows(no)
        assert no == identifiers.refund_no(channel, key)  # the same key, the same number
        ret = identifiers.derive(channel, "out_return_no", no, "RT")
        assert identifiers.rule(channel, "out_return_no").allows(ret)
    assert identifiers.refund_no(channel, "rf-1") == "rf-1"  # a plain key is kept
    # two keys never share a number, even one that looks like the other's digest
    digest = identifiers.refund_no(channel, "退款/1")
    assert identifiers.refund_no(channel, digest) != digest


async def test_refund_key_outside_the_alphabet_refunds_at_the_channel(app_client, wechat, shop):
    order = await shop_order(shop)
    payment = await Payment.get(order_id=order.id)
    wechat.fake.pay(payment.out_trade_no)
    headers, body = wechat.fake.payment_notification(payment.out_trade_no)
    await app_client.post("/pay/notify/wechatpay", content=body, headers=headers)
    order = await Order.get(id=order.id)
    refund = await orders.refund_order(order.id, 4_000, refund_key="退款 #1/一")
    cr = await refunds.request_channel_refund(order, refund)
    # the channel got a number in its alphabet, derived from the key, and took it
    assert cr is not None and cr.status == RefundStatus.PROCESSING
    assert cr.refund_key == identifiers.refund_no("wechatpay", "退款 #1/一")
    assert cr.refund_key in wechat.fake.refunds
    assert identifiers.derive("wechatpay", "out_return_no", cr.refund_key, "RT") in (
        wechat.fake.returns
    )
    # the same refund again is the same channel refund
    assert (await refunds.request_channel_refund(order, refund)).id == cr.id


async def test_a_number_the_channel_refuses_is_a_typed_state_and_nothing_half_moves(
    app_client, wechat, shop
):
    order = await shop_order(shop)
    payment = await Payment.get(order_id=order.id)
    wechat.fake.pay(payment.out_trade_no)
    headers, body = wechat.fake.payment_notification(payment.out_trade_no)
    await app_client.post("/pay/notify/wechatpay", content=body, headers=headers)
    assert (await Payment.get(id=payment.id)).split_status == SplitStatus.FINISHED
    # a channel refund recorded under a number WeChat does not take (as before numbers
    # were derived), with the platform's split share to return first
    cr = await ChannelRefund.create(
        payment_id=payment.id, refund_key="退款#1", amount_fen=1_000, split_return_fen=100
    )
    entries = await LedgerEntry.all().count()
    with pytest.raises(ChannelError):
        await refunds.submit(cr)
    cr = await ChannelRefund.get(id=cr.id)
    # refused for good, visibly, before any call: no split returned, no refund, no entry
    assert (cr.status, cr.error_code) == (RefundStatus.FAILED, "INVALID")
    assert not cr.split_return_done and wechat.fake.returns == {} and wechat.fake.refunds == {}
    assert await LedgerEntry.all().count() == entries
