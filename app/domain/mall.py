"""The mall's rules and tables (SPEC §14.1): the catalogue and its redemptions.

An admin manages the catalogue: items priced in the policy's mall asset (gold coins in
我店, shopping points in 平川), in centi-units, with a stock. The stock is taken by
one conditional UPDATE of the item's row (`take_stock`): it takes only what is left,
so concurrent redemptions queue on the row and can never take more than there is. A
redemption's asset moves through the ledger (app/services/mall.py); this module owns
only the rows of `mall_items` and `mall_redemptions`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.domain import audit
from app.domain.audit import OPERATOR, Actor
from app.domain.policy import Policy
from app.infra.errors import DomainError, NotFound, error_codes
from app.infra.inputs import display_text
from app.infra.sql import fetch, run
from app.models.ledger import Asset
from app.models.mall import MallItem, MallRedemption, RedemptionStatus

MallErrorCode = error_codes(
    "MallErrorCode",
    "MALL_CLOSED",
    "ITEM_UNAVAILABLE",
    "OUT_OF_STOCK",
    "INSUFFICIENT_BALANCE",
    "IDEMPOTENCY_KEY_REUSED",
    "INVALID_STATE",
)

NAME_MAX = 100
DESCRIPTION_MAX = 500
PRICE_MAX = 10**12  # centi-units: ten billion coins, far above any item
STOCK_MAX = 10**8


def mall_asset(policy: Policy) -> Asset:
    """The asset the mall sells for; a policy without a mall has none."""
    if policy.mall.asset is None:
        raise DomainError(MallErrorCode.MALL_CLOSED, "this platform has no mall")
    return Asset(policy.mall.asset)


# ---------------------------------------------------------------- the catalogue


def _price(price: int) -> int:
    if not 1 <= price <= PRICE_MAX:
        raise DomainError("INVALID", f"price must be between 1 and {PRICE_MAX}", "price")
    return price


def _stock(stock: int, field: str = "stock") -> int:
    if not 0 <= stock <= STOCK_MAX:
        raise DomainError("INVALID", f"stock must be between 0 and {STOCK_MAX}", field)
    return stock


def _item(item: MallItem) -> dict[str, Any]:
    """An item as the audit trail keeps it."""
    return {
        "name": item.name,
        "description": item.description,
        "asset": str(item.asset),
        "price": item.price,
        "stock": item.stock,
        "active": item.active,
    }


async def create_item(
    policy: Policy,
    *,
    name: str,
    description: str | None,
    price: int,
    stock: int,
    actor: Actor = OPERATOR,
) -> MallItem:
    asset = mall_asset(policy)
    values = {
        "name": display_text(name, "name", NAME_MAX),
        "description": display_text(description, "description", DESCRIPTION_MAX, required=False),
        "asset": asset,
        "price": _price(price),
        "stock": _stock(stock),
    }
    async with in_transaction() as conn:
        item = await MallItem.create(**values, using_db=conn)
        await audit.record(conn, actor, "createMallItem", ("MallItem", item.id), {}, _item(item))
    return item


async def update_item(
    item_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    price: int | None = None,
    stock_change: int | None = None,
    active: bool | None = None,
    actor: Actor = OPERATOR,
    action: str = "updateMallItem",
) -> MallItem:
    """Change what is given. The stock moves by `stock_change` (not to a figure) so an
    admin's restock and concurrent redemptions add up instead of overwriting each other;
    a price applies to redemptions made after it (each keeps the price it was made at)."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = display_text(name, "name", NAME_MAX)
    if description is not None:
        values["description"] = display_text(
            description, "description", DESCRIPTION_MAX, required=False
        )
    if price is not None:
        values["price"] = _price(price)
    if active is not None:
        values["active"] = active
    if stock_change is not None and abs(stock_change) > STOCK_MAX:
        raise DomainError("INVALID", f"stockChange must be within ±{STOCK_MAX}", "stockChange")
    sets = [f"{column} = ?" for column in values]
    args: list[Any] = list(values.values())
    if stock_change:
        sets.append("stock = stock + ?")
        args.append(stock_change)
    sets.append("updated_at = ?")
    args.append(datetime.now(UTC))
    cond = " AND stock + ? BETWEEN 0 AND ?" if stock_change else ""
    extra = [stock_change, STOCK_MAX] if stock_change else []
    async with in_transaction() as conn:
        before = await MallItem.filter(id=item_id).select_for_update().using_db(conn).first()
        if before is None:
            raise NotFound("mall item", "itemId")
        changed = await run(
            conn,
            f"UPDATE mall_items SET {', '.join(sets)} WHERE id = ?{cond}",
            [*args, item_id, *extra],
        )
        if not changed:
            raise DomainError(
                "INVALID",
                f"the stock would leave 0..{STOCK_MAX}: it changed meanwhile",
                "stockChange",
            )
        after = await MallItem.get(id=item_id, using_db=conn)
        if _item(after) != _item(before):
            await audit.record(
                conn, actor, action, ("MallItem", item_id), _item(before), _item(after)
            )
    return after


def on_sale(asset: Asset) -> QuerySet[MallItem]:
    """Active items in the mall's asset."""
    return MallItem.filter(asset=asset, active=True)


# ---------------------------------------------------------------- redemptions


async def take_stock(conn: Any, item_id: int, quantity: int, asset: Asset) -> int | None:
    """Take `quantity` from an active item's stock in `asset`; its price, or None when
    the item cannot give that many (see `why_not`). The row stays locked to the end of
    the caller's transaction, so a rollback puts the stock back."""
    rows = await fetch(
        conn,
        "UPDATE mall_items SET stock = stock - ? "
        "WHERE id = ? AND active AND asset = ? AND stock >= ? RETURNING price",
        [quantity, item_id, asset.value, quantity],
    )
    return int(rows[0]["price"]) if rows else None


async def why_not(conn: Any, item_id: int, asset: Asset) -> DomainError:
    """Why `take_stock` took nothing: the item is gone, off sale, or short."""
    rows = await fetch(conn, "SELECT active, asset FROM mall_items WHERE id = ?", [item_id])
    if not rows:
        return NotFound("mall item", "itemId")
    if not rows[0]["active"] or str(rows[0]["asset"]) != asset.value:
        return DomainError(MallErrorCode.ITEM_UNAVAILABLE, "this item is not on sale", "itemId")
    return DomainError(MallErrorCode.OUT_OF_STOCK, "not enough of this item left", "quantity")


async def return_stock(conn: Any, item_id: int, quantity: int) -> None:
    await run(conn, "UPDATE mall_items SET stock = stock + ? WHERE id = ?", [quantity, item_id])


def check_quantity(quantity: int, policy: Policy) -> int:
    most = policy.mall.max_quantity
    if not 1 <= quantity <= most:
        raise DomainError("INVALID", f"quantity must be between 1 and {most}", "quantity")
    return quantity


def check_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "idempotencyKey is required (1-64 chars)", "idempotencyKey")
    return key


def same_request(done: MallRedemption, item_id: int, quantity: int) -> MallRedemption:
    """A repeat of a redemption gets it back; the key with other terms is refused."""
    if (done.item_id, done.quantity) != (item_id, quantity):
        raise DomainError(
            MallErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for another redemption",
            "idempotencyKey",
        )
    return done


async def redemption_by_key(consumer_id: int, key: str, conn: Any = None) -> MallRedemption | None:
    return (
        await MallRedemption.filter(consumer_id=consumer_id, idempotency_key=key)
        .using_db(conn)
        .first()
    )


async def insert_redemption(
    conn: Any,
    *,
    consumer_id: int,
    item_id: int,
    key: str,
    quantity: int,
    asset: Asset,
    unit_price: int,
) -> MallRedemption:
    return await MallRedemption.create(
        consumer_id=consumer_id,
        item_id=item_id,
        idempotency_key=key,
        quantity=quantity,
        asset=asset,
        unit_price=unit_price,
        total=unit_price * quantity,
        using_db=conn,
    )


async def lock_redemption(conn: Any, redemption_id: int) -> MallRedemption:
    found = await MallRedemption.filter(id=redemption_id).select_for_update().using_db(conn).first()
    if found is None:
        raise NotFound("redemption", "redemptionId")
    return found


def closing(r: MallRedemption, to: RedemptionStatus) -> bool:
    """Whether `r` is to be closed as `to` now; False when it is already (a repeat).
    A redemption closed the other way cannot be."""
    if r.status == to:
        return False
    if r.status == RedemptionStatus.FULFILLED:
        raise DomainError(
            MallErrorCode.INVALID_STATE, "this redemption was fulfilled already", "redemptionId"
        )
    if r.status == RedemptionStatus.VOIDED:
        raise DomainError(
            MallErrorCode.INVALID_STATE, "this redemption was voided already", "redemptionId"
        )
    return True


async def close_redemption(
    conn: Any, r: MallRedemption, to: RedemptionStatus, by_user_id: int | None
) -> None:
    r.status = to
    r.closed_at = datetime.now(UTC)
    r.closed_by_id = by_user_id
    await r.save(using_db=conn, update_fields=["status", "closed_at", "closed_by_id"])


def redemptions(
    consumer_id: int | None, status: RedemptionStatus | None
) -> QuerySet[MallRedemption]:
    """One consumer's redemptions, or everyone's; in one state, or all."""
    q = MallRedemption.all()
    if consumer_id is not None:
        q = q.filter(consumer_id=consumer_id)
    if status is not None:
        q = q.filter(status=status)
    return q
