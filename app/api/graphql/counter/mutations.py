"""Checkout at the counter (SPEC §13): the POS scans a member code and opens an order;
the consumer confirms it (only their own) and pays."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.permissions import (
    IsConsumer,
    IsMerchantOrPosDeviceOrCounterPartner,
    user_of,
)
from app.api.graphql.counter.caller import counter_store
from app.api.graphql.counter.types import (
    ConfirmCounterOrderResult,
    CounterConsumer,
    CounterError,
    CounterOrderOpened,
    CreateCounterOrderInput,
    CreateCounterOrderResult,
    MemberCodeScanned,
    PosOrderType,
    ScanMemberCodeResult,
)
from app.api.graphql.orders.types import CreateOrderSuccess, OrderError
from app.domain.counter import CounterErrorCode
from app.domain.orders import OrderErrorCode
from app.models.users import User
from app.services import counter as counter_service

on_counter_error = handles_errors(CounterError, CounterErrorCode)
on_order_error = handles_errors(OrderError, OrderErrorCode)


@strawberry.type
class CounterMutation:
    @strawberry.mutation(
        permission_classes=[IsMerchantOrPosDeviceOrCounterPartner],
        description=(
            "Scan a consumer's member code at your store: the consumer is bound to it if "
            "bound nowhere yet; returns a scan to open counter orders with. Partner apps: "
            "scope write:counter_orders, a store they were given (merchantId)."
        ),
    )
    @on_counter_error
    async def scan_member_code(
        self, info: Info, code: str, merchant_id: InputID | None = None
    ) -> ScanMemberCodeResult:
        mid, by = await counter_store(info, merchant_id)
        done = await counter_service.scan_member_code(mid, by, code)
        return MemberCodeScanned(
            scan_id=done.scan.scan_id,
            expires_at=done.scan.expires_at,
            consumer=CounterConsumer.of(done.consumer),
            bound_here=done.bound_here,
            newly_bound=done.newly_bound,
        )

    @strawberry.mutation(
        permission_classes=[IsMerchantOrPosDeviceOrCounterPartner],
        description=(
            "Open an order for the scanned consumer for the amount entered at the counter; "
            "it waits for the consumer to confirm it in the app. The same caller and "
            "idempotencyKey answer the same order. Partner apps: scope write:counter_orders, "
            "a store they were given (merchantId)."
        ),
    )
    @on_counter_error
    async def create_counter_order(
        self, info: Info, input: CreateCounterOrderInput
    ) -> CreateCounterOrderResult:
        mid, by = await counter_store(info, input.merchant_id)
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
        return CreateOrderSuccess.from_model(order, pay_params)
