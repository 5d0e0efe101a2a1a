"""Splits within the channel's cap (SPEC §9): the platform never asks a channel for more
than the merchant's cap of the cash; what of D does not fit is a receivable from the
merchant, netted from what the platform owes it when its later orders settle.

WeChat Pay runs as a real HTTP server on 127.0.0.1 with keys made here; the app's
adapter reaches it through its own HTTP client."""

from __future__ import annotations

import asyncio

import pytest

from app.adapters.payments import registry
from app.adapters.payments.base import ChannelError, SplitRequest
from app.domain import orders
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.models.ledger import Account, Asset, LedgerEntry
from app.models.payments import MerchantChannel, Payment, SplitStatus
from app.services import checkout
from app.services.payments import run_split
from tests.factories import give_vouchers, make_merchant, make_user
from tests.fakes.server import serve
from tests.payments.conftest import SUB_MCHID

NOTIFY = "/pay/notify/wechatpay"


@pytest.fixture
def wechat_http(wechat):
    """The WeChat Pay fake on a loopback port, the adapter talking HTTP to it."""
    with serve(wechat.fake.app) as url:
        registry.install(wechat.adapter(base_url=url, transport=None))
        yield wechat.fake


@pytest.fixture
async def capped_shop(db, wechat_http):
    """A merchant giving 20% (D = A / 5) whose WeChat Pay cap is 30%, and a consumer
    holding vouchers."""
    wechat_http.max_ratios[SUB_MCHID] = 3_000
    merchant = await make_merchant(discount_bps=2_000)
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="wechatpay", priority=10, provider_merchant_id=SUB_MCHID
    )
    consumer = await make_user(wechat_openid="o-capped-1")
    await give_vouchers(consumer.id, 50_000)
    return consumer, merchant


async def _paid(app_client, fake, shop, amount: int, vouchers: int, key: str, fail=None):
    """An order paid through the fake: WeChat notifies, the app splits after success
    (`fail`: what WeChat answers the first call after the notification)."""
    consumer, merchant = shop
    order = await checkout.create_order(
        consumer_id=consumer.id,
        merchant_id=merchant.id,
        amount_fen=amount,
        voucher_fen=vouchers,
        idempotency_key=key,
    )
    payment = await Payment.get(order_id=order.id)
    fake.pay(payment.out_trade_no)
    headers, body = fake.payment_notification(payment.out_trade_no)
    fake.fail_next.extend([fail] if fail else [])
    assert (await app_client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    return await orders.Order.get(id=order.id), await Payment.get(id=payment.id)


async def _settle(order) -> None:
    assert await orders.settle_order(order.id, order.settle_on) == 1


async def _receivable(merchant_id: int) -> int:
    """What the merchant owes (its claim account holds it as a negative balance)."""
    return -await balance_of(acct.merchant_receivable(merchant_id))


async def _cny_sums_to_zero() -> None:
    balances = await Account.filter(asset=Asset.CNY).values_list("balance", flat=True)
    assert sum(balances) == 0  # type: ignore[arg-type]


async def test_voucher_heavy_order_splits_at_the_cap_and_the_rest_is_netted_later(
    app_client, wechat_http, capped_shop
):
    fake = wechat_http
    _, merchant = capped_shop
    # given an order of 100.00 paid 90% with vouchers: C = 10.00, D = 20.00
    order, payment = await _paid(app_client, fake, capped_shop, 10_000, 9_000, "k1")
    assert (order.cash_fen, order.discount_fen) == (1_000, 2_000)
    # then the split asked is the cap, 30% of the cash, and the channel accepts it
    split = fake.splits[payment.split_out_no]
    assert split["amount"] == 300 and split["state"] == "FINISHED"
    assert fake.config_queries == 1
    assert payment.split_status == SplitStatus.FINISHED
    assert (payment.platform_fen, payment.merchant_fen) == (300, 700)
    # when the order settles, what the cap left with the merchant is owed by it:
    # min(D, C) - 300 = 700 fen, the platform's planned share it could not take
    await _settle(order)
    assert await _receivable(merchant.id) == 700
    entry = await LedgerEntry.get(kind="split_receivable", ref=f"order:{order.id}")
    assert entry.posting_count == 1
    payable = await balance_of(acct.merchant_payable(merchant.id))
    assert payable == 10_000 - 2_000  # the merchant's share stays recorded in full

    # when a later order there redeems 5.00 of vouchers (within the cap: no new debt)
    later, later_payment = await _paid(app_client, fake, capped_shop, 10_000, 500, "k2")
    assert later_payment.platform_fen == later.discount_fen == 2_000
    await _settle(later)
    # then the platform owes the merchant those 5.00 and keeps them against the debt
    assert await _receivable(merchant.id) == 700 - 500
    assert await balance_of(acct.merchant_payable(merchant.id)) == payable + 8_000 - 500
    # and the next one nets what is left, no more
    third, _ = await _paid(app_client, fake, capped_shop, 10_000, 1_000, "k3")
    await _settle(third)
    assert await _receivable(merchant.id) == 0
    assert await balance_of(acct.merchant_payable(merchant.id)) == payable + 2 * 8_000 - 700
    # every entry balances and the ledger verifies
    await _cny_sums_to_zero()
    report = await verify_ledger()
    assert report.ok, report.problem
    assert all(s["state"] == "FINISHED" for s in fake.splits.values())


async def test_the_fake_refuses_a_split_above_the_merchants_ratio(wechat_http, capped_shop):
    fake = wechat_http
    adapter = registry.get_channel("wechatpay")
    assert await adapter.split_cap_bps(SUB_MCHID) == 3_000  # type: ignore[attr-defined]
    fake.trades["MS1"] = {"total": 1_000, "trade_state": "SUCCESS", "transaction_id": "T1",
                          "profit_sharing": True}  # fmt: skip
    await adapter.prepare_split(SUB_MCHID)
    req = SplitRequest("MS1", "T1", "SP1", platform_fen=301, merchant_fen=699,
                       provider_merchant_id=SUB_MCHID)  # fmt: skip
    with pytest.raises(ChannelError) as refused:
        await adapter.split(req)
    assert refused.value.provider_code == "INVALID_REQUEST"
    assert "最大分账比例" in refused.value.message
    ok = SplitRequest("MS1", "T1", "SP2", platform_fen=300, merchant_fen=700,
                      provider_merchant_id=SUB_MCHID)  # fmt: skip
    assert (await adapter.split(ok)).status == "finished"


async def test_the_cap_is_read_again_from_the_channel_after_its_ttl(
    app_client, settings, monkeypatch, wechat_http, capped_shop
):
    fake = wechat_http
    monkeypatch.setattr(settings, "split_cap_ttl_s", 1)
    fake.max_ratios[SUB_MCHID] = 1_000  # the merchant authorised 10%
    _, first = await _paid(app_client, fake, capped_shop, 10_000, 0, "t1")
    assert first.platform_fen == 1_000 and fake.config_queries == 1
    # the merchant raises its authorisation to 30%: within the TTL the kept cap holds
    fake.max_ratios[SUB_MCHID] = 3_000
    _, second = await _paid(app_client, fake, capped_shop, 10_000, 0, "t2")
    assert second.platform_fen == 1_000 and fake.config_queries == 1
    # after it the channel is asked again and the platform takes its whole D
    await asyncio.sleep(1.2)
    _, third = await _paid(app_client, fake, capped_shop, 10_000, 0, "t3")
    assert third.platform_fen == 2_000 and fake.config_queries == 2
    assert [fake.splits[p.split_out_no]["amount"] for p in (first, second, third)] == [
        1_000,
        1_000,
        2_000,
    ]


async def test_a_split_that_finishes_after_settlement_records_the_debt_then(
    app_client, wechat_http, capped_shop
):
    fake = wechat_http
    _, merchant = capped_shop
    # WeChat cannot say the merchant's cap right after the payment: the split waits
    order, payment = await _paid(
        app_client, fake, capped_shop, 10_000, 9_000, "late", fail=(500, "SYSTEM_ERROR")
    )
    assert payment.split_status == SplitStatus.PENDING and fake.splits == {}
    await _settle(order)  # the split may still change: no debt recorded yet
    assert await _receivable(merchant.id) == 0
    assert await run_split(payment.id) == SplitStatus.FINISHED
    assert fake.splits[payment.split_out_no]["amount"] == 300
    assert await _receivable(merchant.id) == 700
    assert await run_split(payment.id) == SplitStatus.FINISHED  # once
    assert await _receivable(merchant.id) == 700
    assert (await verify_ledger()).ok


async def test_aggregator_split_is_declared_within_the_policy_cap(db, allinpay):
    registry.install(allinpay.adapter())
    merchant = await make_merchant(discount_bps=2_000)
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="allinpay", priority=10, provider_merchant_id="C1"
    )
    consumer = await make_user(wechat_openid="o-agg-1")
    await give_vouchers(consumer.id, 9_000)
    order = await checkout.create_order(
        consumer_id=consumer.id,
        merchant_id=merchant.id,
        amount_fen=10_000,
        voucher_fen=9_000,
        idempotency_key="agg",
    )
    trade = allinpay.fake.trades[(await Payment.get(order_id=order.id)).out_trade_no]
    assert [s["amount"] for s in trade["split"]] == [300]  # 30% of the 10.00 cash
