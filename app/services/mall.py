"""Redeeming in the mall (SPEC §14.1): the asset held, then spent or given back.

`redeem_item` takes the stock and holds the price in one transaction:
`consumer:N:gold_coins → consumer:N:gold_coins:held` (or shopping points), as an order
holds its vouchers. An admin then fulfils it (the held asset goes back to its issuer:
spent; for shopping points, the CNY that backed them leaves the reserve for the goods)
or voids it (the asset back to the consumer, the stock back to the item). Neither asset
is ever paid out as cash. Each step is idempotent: a redemption per (consumer, key), and
its hold, fulfilment and void each one ledger entry under its own key.
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import audit, ledger
from app.domain import mall as rules
from app.domain.audit import Actor
from app.domain.ledger import AccountName, Entry, Post, acct
from app.domain.mall import MallErrorCode
from app.domain.policy import Policy, get_policy
from app.infra.errors import DomainError
from app.models.ledger import Asset
from app.models.mall import MallRedemption, RedemptionStatus


def wallet(consumer_id: int, asset: Asset) -> AccountName:
    if asset == Asset.GOLD_COINS:
        return acct.consumer_gold_coins(consumer_id)
    if asset == Asset.SHOPPING_POINTS:
        return acct.consumer_shopping_points(consumer_id)
    raise ValueError(f"no mall spends {asset}")


async def redeem_item(
    *,
    consumer_id: int,
    item_id: int,
    quantity: int,
    idempotency_key: str,
    policy: Policy | None = None,
) -> MallRedemption:
    policy = policy or get_policy()
    key = rules.check_key(idempotency_key)
    rules.check_quantity(quantity, policy)
    done = await rules.redemption_by_key(consumer_id, key)
    if done is not None:
        return rules.same_request(done, item_id, quantity)
    asset = rules.mall_asset(policy)
    try:
        async with in_transaction() as conn:
            # The item's row is locked by taking its stock: concurrent redemptions of it
            # queue here, each seeing what the one before it left.
            price = await rules.take_stock(conn, item_id, quantity, asset)
            if price is None:
                raise await rules.why_not(conn, item_id, asset)
            r = await rules.insert_redemption(
                conn,
                consumer_id=consumer_id,
                item_id=item_id,
                key=key,
                quantity=quantity,
                asset=asset,
                unit_price=price,
            )
            own = wallet(consumer_id, asset)
            await ledger.post(
                Entry(
                    "mall_hold",
                    f"redemption:{r.id}",
                    [Post(own, acct.held(own), r.total)],
                    idem_key=f"redemption:{r.id}:hold",
                ),
                conn=conn,
            )
    except ledger.Overdraft:
        raise DomainError(
            MallErrorCode.INSUFFICIENT_BALANCE,
            "not enough gold coins" if asset == Asset.GOLD_COINS else "not enough shopping points",
            "quantity",
        ) from None
    except IntegrityError:
        # The same key raced us: the first redemption wins (this one's stock went back
        # with the rollback), and this call returns it.
        raced = await rules.redemption_by_key(consumer_id, key)
        if raced is None:
            raise
        return rules.same_request(raced, item_id, quantity)
    return r


async def fulfil_redemption(redemption_id: int, *, by_user_id: int) -> MallRedemption:
    """The item was handed over: the held asset is spent."""
    async with in_transaction() as conn:
        r = await rules.lock_redemption(conn, redemption_id)
        if not rules.closing(r, RedemptionStatus.FULFILLED):
            return r
        held = acct.held(wallet(r.consumer_id, r.asset))
        postings = [Post(held, acct.issuer(r.asset), r.total)]
        if r.asset == Asset.SHOPPING_POINTS:
            # shopping points are backed by CNY in the reserve (1 centi-point = 1 fen):
            # spent, they no longer need it; it now pays for the goods
            postings.append(Post(acct.SHOPPING_POINTS_RESERVE, acct.MALL_PAYABLE, r.total))
        await ledger.post(
            Entry(
                "mall_fulfil",
                f"redemption:{r.id}",
                postings,
                idem_key=f"redemption:{r.id}:fulfilled",
            ),
            conn=conn,
        )
        await rules.close_redemption(conn, r, RedemptionStatus.FULFILLED, by_user_id)
        await audit.record(
            conn,
            Actor.admin(by_user_id),
            "fulfilRedemption",
            ("MallRedemption", r.id),
            {"status": RedemptionStatus.HELD.value},
            {"status": RedemptionStatus.FULFILLED.value},
        )
    return r


async def void_redemption(redemption_id: int, *, by_user_id: int) -> MallRedemption:
    """The redemption is called off: the asset goes back to the consumer, the stock to
    the item."""
    async with in_transaction() as conn:
        r = await rules.lock_redemption(conn, redemption_id)
        if not rules.closing(r, RedemptionStatus.VOIDED):
            return r
        own = wallet(r.consumer_id, r.asset)
        await rules.return_stock(conn, r.item_id, r.quantity)
        await ledger.post(
            Entry(
                "mall_void",
                f"redemption:{r.id}",
                [Post(acct.held(own), own, r.total)],
                idem_key=f"redemption:{r.id}:voided",
            ),
            conn=conn,
        )
        await rules.close_redemption(conn, r, RedemptionStatus.VOIDED, by_user_id)
        await audit.record(
            conn,
            Actor.admin(by_user_id),
            "voidRedemption",
            ("MallRedemption", r.id),
            {"status": RedemptionStatus.HELD.value},
            {"status": RedemptionStatus.VOIDED.value, "stock_returned": r.quantity},
        )
    return r
