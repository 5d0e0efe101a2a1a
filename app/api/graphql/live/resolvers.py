"""Live subscriptions (over graphql-transport-ws only: app/api/http.py).

The connection's caller was authenticated at `connection_init`; each subscription
checks again that their session still stands, then who may hear what:

- `orderEvents(merchantId)`: the store's POS devices (a device its own store only),
  its owner and staff, and admins;
- `orderStatus(orderId)`: the order's consumer only.

A refusal is the subscription's `error` message (code, field, message), raised before
its stream starts. A held subscription looks at the caller's session again every
`LIVE_RECHECK_S`: one signed out, frozen or disabled meanwhile hears nothing more.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from app.api.graphql.core.context import Context
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.live.types import OrderEvent, OrderStatusUpdate
from app.domain import tokens
from app.domain.merchants import owned_merchant
from app.domain.principals import DevicePrincipal, Principal, UserPrincipal
from app.infra import live
from app.infra.config import get_settings
from app.infra.errors import DomainError, NotFound, PermissionDenied
from app.models.merchants import Merchant
from app.models.orders import Order

T = TypeVar("T")


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description=(
            "A store's orders as they are created, paid and refunded: for the store's POS "
            "devices, its owner and staff. Over graphql-transport-ws; without a socket, "
            "`posTodayPayments` and `counterOrder` (or `merchantOrders`) give the same state."
        )
    )
    async def order_events(self, info: Info, merchant_id: InputID) -> AsyncIterator[OrderEvent]:
        ctx = _context(info)
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        await _may_hear_store(await _caller(ctx), mid)
        return _Held(ctx, _notices(ctx, [live.merchant_channel(mid)], OrderEvent.of))

    @strawberry.subscription(
        description=(
            "One of your orders' status: first as it stands, then at each change. Over "
            "graphql-transport-ws; without a socket, `order(id)` gives the same."
        )
    )
    async def order_status(self, info: Info, order_id: InputID) -> AsyncIterator[OrderStatusUpdate]:
        ctx = _context(info)
        oid = decode_id(order_id, "Order", "orderId")
        await _own_order(await _caller(ctx), oid)

        async def now() -> OrderStatusUpdate:
            # read once the channel is heard: no change falls between the two
            return OrderStatusUpdate.now(await Order.get(id=oid))

        return _Held(ctx, _notices(ctx, [live.order_channel(oid)], OrderStatusUpdate.of, now))


def _context(info: Info) -> Context:
    ctx = info.context
    if ctx.live_subscriptions >= get_settings().live_max_subscriptions:
        raise DomainError(
            "TOO_MANY_SUBSCRIPTIONS",
            "this connection holds as many subscriptions as it may; complete one first",
            None,
        )
    return ctx


async def _caller(ctx: Context) -> Principal:
    """The connection's caller as their session stands now."""
    if ctx.principal is None:  # (a socket without a caller is closed at connection_init)
        raise DomainError("UNAUTHENTICATED", "sign in first")
    ctx.principal = await tokens.still_valid(ctx.principal)
    return ctx.principal


async def _may_hear_store(principal: Principal, merchant_id: int) -> None:
    if isinstance(principal, DevicePrincipal):
        if principal.merchant_id != merchant_id:
            raise PermissionDenied("not this store's device", "merchantId")
    elif isinstance(principal, UserPrincipal):
        if principal.is_admin:
            if not await Merchant.exists(id=merchant_id):
                raise NotFound("merchant", "merchantId")
        else:
            await owned_merchant(principal.user_id, merchant_id, staff_ok=True)
    else:
        raise PermissionDenied("a store's events are for its POS devices, owner and staff")


async def _own_order(principal: Principal, order_id: int) -> None:
    if not isinstance(principal, UserPrincipal):
        raise PermissionDenied("this field serves signed-in users only")
    # another's order is not found, as `order(id)` does not show it
    if not await Order.exists(id=order_id, consumer_id=principal.user_id):
        raise NotFound("order", "orderId")


async def _notices(
    ctx: Context,
    channels: Sequence[str],
    convert: Callable[[dict[str, Any]], T],
    first: Callable[[], Awaitable[T]] | None = None,
) -> AsyncGenerator[T, None]:
    recheck = get_settings().live_recheck_s
    try:
        async with live.hub().listen(channels) as listener:
            if first is not None:
                yield await first()
            due = time.monotonic() + recheck
            while True:
                notice = await listener.next(max(0.0, due - time.monotonic()))
                if time.monotonic() >= due:
                    await _caller(ctx)  # raises: the subscription ends with the refusal
                    due = time.monotonic() + recheck
                if notice is not None:
                    yield convert(notice)
    except live.Lagging:
        raise DomainError(
            "LIVE_LAGGING",
            "events came faster than they were read; subscribe again and query the state",
        ) from None
    except TimeoutError:  # Redis did not confirm the channel
        raise DomainError(
            "UPSTREAM_UNAVAILABLE", "live events are unavailable; query the state instead"
        ) from None


class _Held(Generic[T]):
    """A subscription's stream holding one of its connection's places until it ends,
    however it ends (run out, failed, cancelled, or closed before it began)."""

    def __init__(self, ctx: Context, source: AsyncGenerator[T, None]) -> None:
        self._ctx, self._source, self._held = ctx, source, True
        ctx.live_subscriptions += 1

    def __aiter__(self) -> _Held[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._source.__anext__()
        except BaseException:
            self._release()
            raise

    async def aclose(self) -> None:
        self._release()
        await self._source.aclose()

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._ctx.live_subscriptions -= 1
