"""The events the services write: a noun and what happened to it. Consumers (the heat
map, live subscriptions, partner webhooks) subscribe to these names, so they stay."""

from enum import StrEnum


class EventKind(StrEnum):
    ORDER_CREATED = "order.created"
    ORDER_PAID = "order.paid"
    ORDER_REFUNDED = "order.refunded"
    ORDER_SETTLED = "order.settled"
    ORDER_CANCELLED = "order.cancelled"  # an unpaid order closed (a counter order expired)
    RELEASE_PAID = "release.paid"
    MERCHANT_APPROVED = "merchant.approved"
    MERCHANT_CHANGED = "merchant.changed"
    CUSTOMER_BOUND = "customer.bound"
