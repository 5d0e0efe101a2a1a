"""Checkout at the counter (SPEC §13): the consumer's member code, the POS's scan of it,
counter orders, the store's payments of the day.

A POS device serves the one store that registered it; a person serves a store they own
or staff, named by `merchantId`. The consumer confirms only their own counter orders.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsConsumer, IsMerchantOrPosDevice, device_of, user_of
from app.api.graphql.counter.types import (
    ConfirmCounterOrderResult,
    CounterConsumer,
    CounterError,
    CounterOrderOpened,
    CreateCounterOrderInput,
    CreateCounterOrderResult,
    MemberCode,
    MemberCodeScanned,
    PosOrderType,
    ScanMemberCodeResult,
)
from app.api.graphql.orders.types import CreateOrderSuccess, OrderError, OrderType
from app.domain import member_codes, orders
from app.domain.counter import CounterErrorCode
from app.domain.merchants import owned_merchant
from app.domain.orders import OrderErrorCode
from app.infra.config import get_settings
from app.infra.errors import Invalid, PermissionDenied
from app.models.orders import Order, OrderOrigin, OrderStatus
from app.models.users import User
from app.services import counter as counter_service

on_counter_error = handles_errors(CounterError, CounterErrorCode)
on_order_error = handles_errors(OrderError, OrderErrorCode)

# unconfirmed counter orders a consumer is shown at most (newest first)
TO_CONFIRM_MAX = 20


async def _store(info: Info, merchant_id: InputID | None) -> tuple[int, str]:
    """The store the caller serves at the counter, and the caller's key."""
    device = device_of(info)
    if device is not None:
        if merchant_id is not None and decode_id(merchant_id, "Merchant", "merchantId") != (
            device.merchant_id
        ):
            raise PermissionDenied("not this store's device", "merchantId")
        return device.merchant_id, device.key
    person = user_of(info)
    if merchant_id is None:
        raise Invalid("merchantId is required", "merchantId")
    mid = decode_id(merchant_id, "Merchant", "merchantId")
    await owned_merchant(person.user_id, mid, staff_ok=True)
    return mid, person.key


@strawberry.type
class CounterQuery:
    @strawberry.field(
        permission_classes=[IsConsumer],
        description=(
            "A fresh member code (会员码) for the store's POS to scan; single use, valid "
            "about a minute."
        ),
    )
    async def member_code(self, info: Info) -> MemberCode:
        made = member_codes.issue(user_of(info).user_id)
        return MemberCode(
            code=made.code,
            expires_at=made.expires_at,
            valid_seconds=get_settings().member_code_ttl_s,
        )

    @strawberry.field(
        permission_classes=[IsConsumer],
        description="Counter orders opened for you that wait for your confirmation.",
    )
    async def my_counter_orders_to_confirm(self, info: Info) -> list[OrderType]:
        rows = (
            await Order.filter(
                consumer_id=user_of(info).user_id,
                origin=OrderOrigin.COUNTER,
                status=OrderStatus.UNCONFIRMED,
            )
            .order_by("-id")
            .limit(TO_CONFIRM_MAX)
        )
        return [OrderType.from_model(o) for o in rows]

    @strawberry.field(
        permission_classes=[IsMerchantOrPosDevice],
        description="An order of your store, as the counter sees it.",
    )
    async def counter_order(
        self, info: Info, id: InputID, merchant_id: InputID | None = None
    ) -> PosOrderType | None:
        mid, _ = await _store(info, merchant_id)
        o = await Order.get_or_none(id=decode_id(id, "Order", "id"), merchant_id=mid)
        if o is None:
            return None
        return PosOrderType.from_model(o, await User.get_or_none(id=o.consumer_id))

    @strawberry.field(
        permission_classes=[IsMerchantOrPosDevice],
        description="Your store's orders paid today (Asia/Shanghai), newest first.",
    )
    async def pos_today_payments(
        self,
        info: Info,
        merchant_id: InputID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[PosOrderType]:
        mid, _ = await _store(info, merchant_id)
        qs = orders.paid_on(mid, orders.today_shanghai())
        return await paginate(qs, first, after, PosOrderType.many, batch=True)


@strawberry.type
class CounterMutation:
    @strawberry.mutation(
        permission_classes=[IsMerchantOrPosDevice],
        description=(
            "Scan a consumer's member code at your store: the consumer is bound to it if "
            "bound nowhere yet; returns a scan to open counter orders with."
        ),
    )
    @on_counter_error
    async def scan_member_code(
        self, info: Info, code: str, merchant_id: InputID | None = None
    ) -> ScanMemberCodeResult:
        mid, by = await _store(info, merchant_id)
        done = await counter_service.scan_member_code(mid, by, code)
        return MemberCodeScanned(
            scan_id=done.scan.scan_id,
            expires_at=done.scan.expires_at,
            consumer=CounterConsumer.of(done.consumer),
            bound_here=done.bound_here,
            newly_bound=done.newly_bound,
        )

    @strawberry.mutation(
        permission_classes=[IsMerchantOrPosDevice],
        description=(
            "Open an order for the scanned consumer for the amount entered at the counter; "
            "it waits for the consumer to confirm it in the app."
        ),
    )
    @on_counter_error
    async def create_counter_order(
        self, info: Info, input: CreateCounterOrderInput
    ) -> CreateCounterOrderResult:
        mid, by = await _store(info, input.merchant_id)
        order = await counter_service.create_counter_order(
            mid, by, input.scan_id, input.amount_fen, input.idempotency_key
        )
        consumer = await User.get_or_none(id=order.consumer_id)
        return CounterOrderOpened(order=PosOrderType.from_model(order, consumer))

    @strawberry.mutation(
        permission_classes=[IsConsumer],
        description=(
            "Confirm a counter order opened for you: the vouchers to apply and the channel "
            "to pay the rest through; returns what the client needs to pay."
        ),
    )
    @on_order_error
    async def confirm_counter_order(
        self,
        info: Info,
        order_id: InputID,
        voucher_fen: int = 0,
        channel: str | None = None,
    ) -> ConfirmCounterOrderResult:
        order, pay_params = await counter_service.confirm_counter_order(
            decode_id(order_id, "Order", "orderId"), user_of(info).user_id, voucher_fen, channel
        )
        return CreateOrderSuccess(order=OrderType.from_model(order), pay_params=pay_params)  # type: ignore[arg-type]
