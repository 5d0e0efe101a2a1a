"""Admin dispute reversal after the settlement window (SPEC §11).

Inside the window a refund reverses every share exactly (`orders.refund_order`). After
it, what the order gave away has become its owners' and may be spent, so the platform
reverses what it still can and carries the rest itself:

- the order's lots stop releasing (still-active lots are cancelled and their points go
  back to the issuer);
- the vouchers and shopping points the lots released are taken back from their
  holders, but never more than a holder still has: a balance never goes negative;
- the backing of what was taken back returns from the reserves to the pool that paid
  it; the part already spent is paid back to the pool by `platform:loss`, an expense
  account whose (negative) balance is the platform's dispute losses.

One reversal per order, idempotent by its key. The cash itself (whether and how the
buyer is paid back outside the window) is a matter between the parties and the channel
and is not moved here.
"""

from __future__ import annotations

from collections import defaultdict

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from app.domain import audit, ledger
from app.domain.audit import OPERATOR, Actor
from app.domain.ledger import AccountName, Entry, Post, acct
from app.domain.orders import OrderErrorCode, _lock_order
from app.infra.errors import DomainError, NotFound
from app.models.ledger import Asset
from app.models.orders import LotStatus, OrderReversal, OrderStatus, PointLot
from app.models.releases import ReleasePayment

REVERSIBLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


def _holder(kind: str, holder_id: int, purpose: str, asset: Asset) -> AccountName:
    # the release engine's own naming of a holder's accounts (`<kind>:<id>:<purpose>`)
    return AccountName(f"{kind}:{holder_id}:{purpose}", asset)


async def reverse_after_window(
    order_id: int, *, reversal_key: str, reason: str, by_user_id: int | None = None
) -> OrderReversal:
    key = (reversal_key or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "reversalKey is required (1-64 chars)", "reversalKey")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("INVALID", "say why the order is reversed", "reason")
    async with in_transaction() as conn:
        order = await _lock_order(order_id, conn)
        if order is None:
            raise NotFound("order", "orderId")
        done = await OrderReversal.filter(order_id=order.id).using_db(conn).first()
        same_key = await OrderReversal.filter(reversal_key=key).using_db(conn).first()
        if same_key is not None and same_key.order_id != order.id:
            raise DomainError(
                OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
                "this reversal key was used for another order",
                "reversalKey",
            )
        if done is not None:
            if done.reversal_key == key:
                return done  # a repeat
            raise DomainError(OrderErrorCode.INVALID_STATE, "order already reversed", "orderId")
        if order.status not in REVERSIBLE:
            raise DomainError(OrderErrorCode.INVALID_STATE, f"order is {order.status}", "orderId")
        if order.settled_at is None:
            raise DomainError(
                OrderErrorCode.REFUND_WINDOW_OPEN,
                "the order is inside its refund window: refund it instead",
                "orderId",
            )
        # The lots, locked: a release batch that holds them finishes first, and its
        # payments are then counted below.
        lots = (
            await PointLot.filter(order_id=order.id)
            .order_by("id")
            .select_for_update()
            .using_db(conn)
        )
        released = (
            await ReleasePayment.filter(lot_id__in=[lot.id for lot in lots])
            .using_db(conn)
            .group_by("holder_kind", "holder_id")
            .annotate(vu=Sum("voucher_units"), su=Sum("shopping_units"))
            .values("holder_kind", "holder_id", "vu", "su")
            if lots
            else []
        )
        postings: list[Post] = []
        active = [lot for lot in lots if lot.status == LotStatus.ACTIVE]
        for lot in active:
            points = _holder(lot.holder_kind, lot.holder_id, "points_active", Asset.POINTS)
            postings.append(Post(points, acct.issuer(Asset.POINTS), lot.points))
        # what went to each pool from which holder, to return it to the right pool
        pool_of = {(lot.holder_kind, lot.holder_id): lot.pool for lot in lots}
        wanted = [
            (r, _holder(r["holder_kind"], r["holder_id"], purpose, asset), amount)
            for r in released
            for purpose, asset, amount in (
                ("voucher", Asset.VOUCHER, int(r["vu"] or 0)),
                ("shopping_points", Asset.SHOPPING_POINTS, int(r["su"] or 0)),
            )
            if amount
        ]
        balances = await ledger.balances_of([name for _, name, _ in wanted])
        back: dict[Asset, int] = defaultdict(int)
        loss = 0
        for r, name, amount in wanted:
            taken = min(amount, max(balances[name], 0))
            pool = acct.pool_available(pool_of[(r["holder_kind"], r["holder_id"])])
            reserve = (
                acct.VOUCHER_RESERVE
                if name.asset == Asset.VOUCHER
                else acct.SHOPPING_POINTS_RESERVE
            )
            postings += [
                Post(name, acct.issuer(name.asset), taken),
                Post(reserve, pool, taken),
                Post(acct.PLATFORM_LOSS, pool, amount - taken),
            ]
            back[name.asset] += taken
            loss += amount - taken
        if active:
            await (
                PointLot.filter(id__in=[lot.id for lot in active])
                .using_db(conn)
                .update(status=LotStatus.CANCELLED)
            )
        if any(p.amount for p in postings):
            await ledger.post(
                Entry(
                    "order_reversed",
                    f"order:{order.id}",
                    postings,
                    idem_key=f"order:{order.id}:reversed",
                    memo=reason[:255],
                ),
                conn=conn,
            )
        reversal = await OrderReversal.create(
            order_id=order.id,
            reversal_key=key,
            reason=reason[:255],
            by_user_id=by_user_id,
            lots_cancelled=len(active),
            vouchers_clawed_back_fen=back[Asset.VOUCHER],
            shopping_points_clawed_back=back[Asset.SHOPPING_POINTS],
            platform_loss_fen=loss,
            using_db=conn,
        )
        await audit.record(
            conn,
            Actor.admin(by_user_id) if by_user_id is not None else OPERATOR,
            "reverseOrderAfterWindow",
            ("Order", order.id),
            {"status": str(order.status), "lots_active": len(active)},
            {
                "reversal_key": key,
                "lots_cancelled": reversal.lots_cancelled,
                "vouchers_clawed_back_fen": reversal.vouchers_clawed_back_fen,
                "shopping_points_clawed_back": reversal.shopping_points_clawed_back,
                "platform_loss_fen": reversal.platform_loss_fen,
            },
            reason,
        )
        return reversal
