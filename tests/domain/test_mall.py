"""The mall (SPEC §14.1): coins held then spent or given back; stock never oversold."""

from __future__ import annotations

import asyncio

import pytest

from app.domain import mall
from app.domain.ledger import Entry, Post, acct, balance_of, post
from app.domain.ledger.verify import verify_ledger
from app.domain.policy import clear_policy_cache, get_policy
from app.infra.errors import DomainError
from app.models.ledger import Asset, LedgerEntry
from app.models.mall import MallItem, MallRedemption, RedemptionStatus
from app.services.mall import fulfil_redemption, redeem_item, void_redemption
from tests.factories import make_user

PRICE = 1_500  # 15.00 coins


@pytest.fixture
async def wodian(db, settings, monkeypatch):
    monkeypatch.setattr(settings, "policy", "wodian")
    clear_policy_cache()
    yield get_policy()
    clear_policy_cache()


@pytest.fixture
async def pingchuan(db, settings, monkeypatch):
    monkeypatch.setattr(settings, "policy", "pingchuan")
    clear_policy_cache()
    yield get_policy()
    clear_policy_cache()


async def give_coins(user_id: int, amount: int) -> None:
    """Gold coins as a paid order credits them."""
    await post(
        Entry(
            "test_coins",
            f"user:{user_id}",
            [Post(acct.issuer(Asset.GOLD_COINS), acct.consumer_gold_coins(user_id), amount)],
        )
    )


async def give_shopping_points(user_id: int, amount: int) -> None:
    """Shopping points as a release pays them: the CNY behind them in the reserve."""
    await post(
        Entry(
            "test_shopping_points",
            f"user:{user_id}",
            [
                Post(acct.WORLD_CNY, acct.SHOPPING_POINTS_RESERVE, amount),
                Post(
                    acct.issuer(Asset.SHOPPING_POINTS),
                    acct.consumer_shopping_points(user_id),
                    amount,
                ),
            ],
        )
    )


async def coins(user_id: int) -> tuple[int, int]:
    own = acct.consumer_gold_coins(user_id)
    return await balance_of(own), await balance_of(acct.held(own))


async def test_redeem_holds_coins_and_takes_stock_then_fulfil_spends_them(wodian):
    item = await mall.create_item(wodian, name="Mug", description="", price=PRICE, stock=3)
    assert item.asset == Asset.GOLD_COINS
    c = await make_user()
    await give_coins(c.id, 5_000)
    # when the consumer redeems two mugs
    r = await redeem_item(consumer_id=c.id, item_id=item.id, quantity=2, idempotency_key="k1")
    # then twice the price is held and the stock is down by two
    assert (r.status, r.total, r.unit_price) == (RedemptionStatus.HELD, 2 * PRICE, PRICE)
    assert await coins(c.id) == (5_000 - 2 * PRICE, 2 * PRICE)
    assert (await MallItem.get(id=item.id)).stock == 1
    # when an admin fulfils it (twice: the repeat changes nothing)
    admin = await make_user()
    await fulfil_redemption(r.id, by_user_id=admin.id)
    again = await fulfil_redemption(r.id, by_user_id=admin.id)
    # then the held coins are spent: back at their issuer, not with anyone
    assert again.status == RedemptionStatus.FULFILLED
    assert await coins(c.id) == (5_000 - 2 * PRICE, 0)
    assert await balance_of(acct.issuer(Asset.GOLD_COINS)) == -(5_000 - 2 * PRICE)
    assert await LedgerEntry.filter(kind="mall_fulfil").count() == 1
    # and a fulfilled redemption cannot be voided
    with pytest.raises(DomainError) as e:
        await void_redemption(r.id, by_user_id=admin.id)
    assert e.value.code == "INVALID_STATE"
    assert (await verify_ledger()).ok


async def test_void_gives_coins_and_stock_back(wodian):
    item = await mall.create_item(wodian, name="Pen", description=None, price=PRICE, stock=1)
    c = await make_user()
    await give_coins(c.id, PRICE)
    r = await redeem_item(consumer_id=c.id, item_id=item.id, quantity=1, idempotency_key="k")
    assert (await MallItem.get(id=item.id)).stock == 0
    # when an admin voids it, twice
    await void_redemption(r.id, by_user_id=c.id)
    voided = await void_redemption(r.id, by_user_id=c.id)
    # then the coins are the consumer's again and the stock is restored, once
    assert voided.status == RedemptionStatus.VOIDED
    assert await coins(c.id) == (PRICE, 0)
    assert (await MallItem.get(id=item.id)).stock == 1
    with pytest.raises(DomainError) as e:
        await fulfil_redemption(r.id, by_user_id=c.id)
    assert e.value.code == "INVALID_STATE"
    assert (await verify_ledger()).ok


async def test_a_redemption_is_idempotent_per_key(wodian):
    item = await mall.create_item(wodian, name="Cap", description="", price=PRICE, stock=5)
    c = await make_user()
    await give_coins(c.id, 10 * PRICE)
    first = await redeem_item(consumer_id=c.id, item_id=item.id, quantity=1, idempotency_key="x")
    again = await redeem_item(consumer_id=c.id, item_id=item.id, quantity=1, idempotency_key="x")
    # and concurrent repeats of a new key make one redemption too
    raced = await asyncio.gather(
        *[
            redeem_item(consumer_id=c.id, item_id=item.id, quantity=2, idempotency_key="y")
            for _ in range(5)
        ]
    )
    assert again.id == first.id
    assert len({r.id for r in raced}) == 1
    assert await MallRedemption.filter(consumer_id=c.id).count() == 2
    assert (await MallItem.get(id=item.id)).stock == 5 - 1 - 2
    assert await coins(c.id) == (7 * PRICE, 3 * PRICE)
    # the key with other terms is refused
    with pytest.raises(DomainError) as e:
        await redeem_item(consumer_id=c.id, item_id=item.id, quantity=3, idempotency_key="x")
    assert (e.value.code, e.value.field) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")


@pytest.mark.postgres
async def test_fifty_concurrent_redemptions_of_ten_in_stock(wodian):
    item = await mall.create_item(wodian, name="Tea", description="", price=PRICE, stock=10)
    buyers = [await make_user() for _ in range(50)]
    for b in buyers:
        await give_coins(b.id, PRICE)

    async def attempt(user_id: int) -> str:
        try:
            await redeem_item(consumer_id=user_id, item_id=item.id, quantity=1, idempotency_key="t")
        except DomainError as exc:
            return exc.code
        return "OK"

    # when fifty consumers redeem the last ten at once
    results = await asyncio.gather(*[attempt(b.id) for b in buyers])
    # then exactly ten succeed and the forty others are told it is out of stock
    assert results.count("OK") == 10
    assert results.count("OUT_OF_STOCK") == 40
    assert (await MallItem.get(id=item.id)).stock == 0
    winners = {r.consumer_id for r in await MallRedemption.filter(item_id=item.id)}
    assert len(winners) == 10
    # and every balance is exact: winners' coins held, losers' untouched
    for b in buyers:
        assert await coins(b.id) == ((0, PRICE) if b.id in winners else (PRICE, 0))
    assert await LedgerEntry.filter(kind="mall_hold").count() == 10
    assert (await verify_ledger()).ok


async def test_refusals_are_typed(wodian):
    item = await mall.create_item(wodian, name="Bag", description="", price=PRICE, stock=2)
    c = await make_user()
    await give_coins(c.id, PRICE)

    async def code(**kw) -> tuple[str, str | None]:
        args = dict(consumer_id=c.id, item_id=item.id, quantity=1, idempotency_key="k") | kw
        with pytest.raises(DomainError) as e:
            await redeem_item(**args)
        return e.value.code, e.value.field

    # short of coins: nothing held, no stock taken
    assert await code(quantity=2) == ("INSUFFICIENT_BALANCE", "quantity")
    assert (await MallItem.get(id=item.id)).stock == 2
    assert await coins(c.id) == (PRICE, 0)
    assert await code(quantity=3) == ("OUT_OF_STOCK", "quantity")
    assert await code(quantity=0) == ("INVALID", "quantity")
    assert await code(quantity=wodian.mall.max_quantity + 1) == ("INVALID", "quantity")
    assert await code(idempotency_key=" ") == ("INVALID", "idempotencyKey")
    assert await code(item_id=item.id + 100) == ("NOT_FOUND", "itemId")
    await mall.update_item(item.id, active=False)
    assert await code() == ("ITEM_UNAVAILABLE", "itemId")
    assert await MallRedemption.all().count() == 0


async def test_catalogue_rules(wodian, settings, monkeypatch):
    item = await mall.create_item(
        wodian, name="Ｔｅａ\u3000set", description="green", price=PRICE, stock=1
    )
    assert item.name == "Tea set"  # NFKC, as every name
    for kw, field in (
        (dict(price=0), "price"),
        (dict(stock=-1), "stock"),
        (dict(name="a\u202eb"), "name"),
        (dict(name=""), "name"),
    ):
        args = dict(name="x", description="", price=1, stock=1) | kw
        with pytest.raises(DomainError) as e:
            await mall.create_item(wodian, **args)
        assert (e.value.code, e.value.field) == ("INVALID", field)
    # stock moves by a change and never below zero
    assert (await mall.update_item(item.id, stock_change=4)).stock == 5
    with pytest.raises(DomainError) as e:
        await mall.update_item(item.id, stock_change=-6)
    assert e.value.field == "stockChange"
    assert (await mall.update_item(item.id, price=99, name="Tea")).price == 99
    # a policy without a mall has no catalogue
    monkeypatch.setattr(settings, "policy", "zhongdian")
    clear_policy_cache()
    with pytest.raises(DomainError) as e:
        await mall.create_item(get_policy(), name="x", description="", price=1, stock=1)
    assert e.value.code == "MALL_CLOSED"


async def test_shopping_points_mall_moves_the_reserve_to_the_goods(pingchuan):
    item = await mall.create_item(pingchuan, name="Rice", description="", price=2_000, stock=5)
    assert item.asset == Asset.SHOPPING_POINTS
    c = await make_user()
    await give_shopping_points(c.id, 2_000)
    r = await redeem_item(consumer_id=c.id, item_id=item.id, quantity=1, idempotency_key="k")
    own = acct.consumer_shopping_points(c.id)
    assert (await balance_of(own), await balance_of(acct.held(own))) == (0, 2_000)
    await fulfil_redemption(r.id, by_user_id=c.id)
    # spent: the points are gone and the CNY that backed them now pays for the goods,
    # never anyone's cash
    assert await balance_of(acct.held(own)) == 0
    assert await balance_of(acct.SHOPPING_POINTS_RESERVE) == 0
    assert await balance_of(acct.MALL_PAYABLE) == 2_000
    assert (await verify_ledger()).ok
