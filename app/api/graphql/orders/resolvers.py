"""Orders, refunds, wallet and ledger queries. Owner-only reads."""

from collections import defaultdict
from collections.abc import Sequence

import strawberry
from strawberry.types import Info
from tortoise.expressions import Q, Subquery

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import (
    IsAdmin,
    IsConsumer,
    IsMerchant,
    IsUser,
    PartnerScope,
    partner_of,
    user_of,
)
from app.api.graphql.core.visibility import partner_merchant
from app.api.graphql.orders.access import can_read_order
from app.api.graphql.orders.types import (
    AccountType,
    CreateOrderInput,
    CreateOrderResult,
    CreateOrderSuccess,
    LedgerEntryType,
    OrderError,
    OrderType,
    PointLotType,
    PostingType,
    RefundOrderResult,
    RefundOrderSuccess,
    ReverseOrderResult,
    ReverseOrderSuccess,
    Wallet,
)
from app.domain import disputes, orders
from app.domain.audit import Actor
from app.domain.ledger import acct, balances_named
from app.domain.merchants import owned_merchant
from app.domain.orders import OrderErrorCode
from app.infra.errors import DomainError, NotFound
from app.models.ledger import ACCOUNT_NAME_MAX, Account, LedgerEntry, Posting
from app.models.orders import Order, OrderRefund, PointLot
from app.services import checkout, refunds

on_error = handles_errors(OrderError, OrderErrorCode)


async def _entries_with_postings(rows: Sequence[LedgerEntry]) -> list[LedgerEntryType]:
    by_entry: dict[int, list[PostingType]] = defaultdict(list)
    for p in (
        await Posting.filter(entry_id__in=[e.id for e in rows])
        .order_by("id")
        .values("entry_id", "source__name", "destination__name", "asset", "amount")
    ):
        by_entry[p["entry_id"]].append(
            PostingType(
                source=p["source__name"],
                destination=p["destination__name"],
                asset=p["asset"],
                amount=p["amount"],
            )
        )
    return [LedgerEntryType.from_model(e, by_entry[e.id]) for e in rows]


@strawberry.type
class OrderQuery:
    @strawberry.field(permission_classes=[IsUser], description="One of your orders.")
    async def order(self, info: Info, id: InputID) -> OrderType | None:
        o = await Order.get_or_none(id=decode_id(id, "Order", "id"))
        return OrderType.from_model(o) if o and await can_read_order(info, o) else None

    @strawberry.field(permission_classes=[IsConsumer], description="Your orders, newest first.")
    async def my_orders(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[OrderType]:
        qs = Order.filter(consumer_id=user_of(info).user_id)
        return await paginate(qs, first, after, OrderType.from_model)

    @strawberry.field(
        permission_classes=[IsMerchant | PartnerScope("read:orders")],
        description="A store's orders (to a partner app: a store it was given), newest first.",
    )
    async def merchant_orders(
        self,
        info: Info,
        merchant_id: InputID,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[OrderType]:
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        partner = partner_of(info)
        if partner is not None:
            await partner_merchant(partner, mid, "merchantId")
        else:
            p = user_of(info)
            if not p.is_admin:
                await owned_merchant(p.user_id, mid, staff_ok=True)
        return await paginate(Order.filter(merchant_id=mid), first, after, OrderType.from_model)

    @strawberry.field(permission_classes=[IsConsumer], description="What you hold.")
    async def wallet(self, info: Info) -> Wallet:
        uid = user_of(info).user_id
        return Wallet(
            **await balances_named(
                vouchers_fen=acct.consumer_voucher(uid),
                vouchers_held_fen=acct.consumer_voucher_held(uid),
                vouchers_pending_fen=acct.pending(acct.consumer_voucher(uid)),
                shopping_points=acct.consumer_shopping_points(uid),
                gold_coins=acct.consumer_gold_coins(uid),
                points_pending=acct.consumer_points(uid, "pending"),
                points_active=acct.consumer_points(uid, "active"),
            )
        )

    @strawberry.field(permission_classes=[IsConsumer], description="Your point lots.")
    async def point_lots(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[PointLotType]:
        qs = PointLot.filter(holder_kind="consumer", holder_id=user_of(info).user_id)
        return await paginate(qs, first, after, PointLotType.from_model)

    @strawberry.field(
        permission_classes=[IsUser],
        description="Ledger entries that touch your accounts (or a store of yours).",
    )
    async def ledger_entries(
        self,
        info: Info,
        merchant_id: InputID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[LedgerEntryType]:
        p = user_of(info)
        if merchant_id is not None:
            mid = decode_id(merchant_id, "Merchant", "merchantId")
            if not p.is_admin:
                await owned_merchant(p.user_id, mid, staff_ok=True)
            prefix = f"merchant:{mid}:"
        else:
            prefix = f"consumer:{p.user_id}:"
        touched = Posting.filter(
            Q(source__name__startswith=prefix) | Q(destination__name__startswith=prefix)
        ).values("entry_id")
        qs = LedgerEntry.filter(id__in=Subquery(touched))
        return await paginate(qs, first, after, _entries_with_postings, batch=True)

    @strawberry.field(permission_classes=[IsAdmin], description="Any account by name (ops).")
    async def account(self, info: Info, name: str) -> list[AccountType]:
        if len(name) > ACCOUNT_NAME_MAX:
            return []  # no account has such a name (and the ORM refuses to look it up)
        return [
            AccountType(
                name=a.name, asset=a.asset, balance=a.balance, allow_negative=a.allow_negative
            )
            for a in await Account.filter(name=name).order_by("asset")
        ]


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        permission_classes=[IsConsumer],
        description="Open an order at a merchant; returns what the client needs to pay.",
    )
    @on_error
    async def create_order(self, info: Info, input: CreateOrderInput) -> CreateOrderResult:
        order = await checkout.create_order(
            consumer_id=user_of(info).user_id,
            merchant_id=decode_id(input.merchant_id, "Merchant", "merchantId"),
            amount_fen=input.amount_fen,
            voucher_fen=input.voucher_fen,
            channel=input.channel,
            idempotency_key=input.idempotency_key,
        )
        return CreateOrderSuccess.from_model(order, order.pay_params)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Admin dispute reversal after the refund window (SPEC §11): the order's lots "
            "stop releasing, unspent released vouchers are taken back, the spent part is "
            "a platform loss. Idempotent by reversalKey."
        ),
    )
    @on_error
    async def reverse_order_after_window(
        self, info: Info, order_id: InputID, reason: str, reversal_key: str
    ) -> ReverseOrderResult:
        return await _reverse(info, order_id, reason, reversal_key)

    @strawberry.mutation(
        permission_classes=[IsMerchant],
        description="Refund part or all of a paid order inside its refund window.",
    )
    @on_error
    async def refund_order(
        self, info: Info, order_id: InputID, amount_fen: int, refund_key: str
    ) -> RefundOrderResult:
        p = user_of(info)
        oid = decode_id(order_id, "Order", "orderId")
        order = await Order.get_or_none(id=oid)
        if order is None:
            raise NotFound("order", "orderId")
        if not p.is_admin:
            try:
                await owned_merchant(p.user_id, order.merchant_id, staff_ok=True)
            except DomainError:  # someone else's order: as if it did not exist
                raise NotFound("order", "orderId") from None
        refund = await orders.refund_order(
            oid,
            amount_fen,
            refund_key=refund_key,
            by_user_id=p.user_id,
            # an admin refunding a store's order is an admin change: audited
            actor=Actor.admin(p.user_id) if p.is_admin else None,
        )
        await _request_channel_refund(oid, refund)
        order = await Order.get(id=oid)
        return RefundOrderSuccess(
            order=OrderType.from_model(order),
            refund_id=strawberry.ID(str(refund.id)),
            amount_fen=refund.amount_fen,
        )


async def _reverse(
    info: Info, order_id: InputID, reason: str, reversal_key: str
) -> ReverseOrderSuccess:
    oid = decode_id(order_id, "Order", "orderId")
    r = await disputes.reverse_after_window(
        oid, reversal_key=reversal_key, reason=reason, by_user_id=user_of(info).user_id
    )
    return ReverseOrderSuccess(
        order=OrderType.from_model(await Order.get(id=oid)),
        lots_cancelled=r.lots_cancelled,
        vouchers_clawed_back_fen=r.vouchers_clawed_back_fen,
        shopping_points_clawed_back=r.shopping_points_clawed_back,
        platform_loss_fen=r.platform_loss_fen,
    )


async def _request_channel_refund(order_id: int, refund: OrderRefund) -> None:
    """Ask the channel to send the money back (after the ledger committed)."""
    order = await Order.get(id=order_id)
    await refunds.request_channel_refund(order, refund)
