"""Webhook subscriptions and their delivery log, as partner apps and admins read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import InputID, encode_id
from app.domain.webhooks import WebhookErrorCode
from app.models.webhooks import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

WebhookError = error_type("WebhookError", WebhookErrorCode)
SubscriptionStatusEnum = strawberry.enum(SubscriptionStatus, name="WebhookSubscriptionStatus")
DeliveryStatusEnum = strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type(name="WebhookSubscription")
class WebhookSubscriptionType:
    id: relay.GlobalID
    partner_app_id: relay.GlobalID
    url: str
    events: list[str]
    status: SubscriptionStatusEnum = strawberry.field(  # type: ignore[valid-type]
        description=(
            "ACTIVE; FAILING: a delivery ran out of retries since the last delivered one; "
            "DISABLED: paused, or failing for too long (nothing new is delivered)."
        )
    )
    consecutive_failures: int = strawberry.field(
        description="Deliveries that failed since the last delivered one."
    )
    failing_since: datetime | None
    last_delivered_at: datetime | None = strawberry.field(
        description="When a delivery last succeeded (kept to the minute)."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, s: WebhookSubscription) -> WebhookSubscriptionType:
        return cls(
            id=encode_id("WebhookSubscription", s.id),
            partner_app_id=encode_id("PartnerApp", s.app_id),  # type: ignore[attr-defined]
            url=s.url,
            events=list(s.events),
            status=s.status,
            consecutive_failures=s.consecutive_failures,
            failing_since=s.failing_since,
            last_delivered_at=s.last_delivered_at,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


@strawberry.type(name="WebhookAttempt")
class WebhookAttemptType:
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None = strawberry.field(description="The receiver's HTTP status.")
    error: str | None = strawberry.field(
        description="Without a status: the class of the failure (Timeout, ConnectError, ...)."
    )
    response_excerpt: str | None = strawberry.field(
        description="The start of the receiver's answer (at most 200 characters)."
    )
    kid: str = strawberry.field(description="The signing key's id.")

    @classmethod
    def from_model(cls, a: WebhookAttempt) -> WebhookAttemptType:
        return cls(
            number=a.number,
            started_at=a.started_at,
            duration_ms=a.duration_ms,
            status_code=a.status_code,
            error=a.error,
            response_excerpt=a.response_excerpt,
            kid=a.kid,
        )


@strawberry.type(name="WebhookDelivery")
class WebhookDeliveryType:
    id: relay.GlobalID
    webhook_id: str = strawberry.field(
        description="The `Webhook-Id` header: the same on every attempt and redelivery."
    )
    subscription_id: relay.GlobalID
    event_id: str
    event_kind: str
    status: DeliveryStatusEnum  # type: ignore[valid-type]
    attempts: int = strawberry.field(description="Attempts since it was (re)started.")
    next_attempt_at: datetime | None = strawberry.field(description="While PENDING.")
    last_status_code: int | None
    last_error: str | None
    event_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    latency_ms: int | None = strawberry.field(
        description="From the event to the receiver's 2xx, in milliseconds."
    )
    attempt_log: list[WebhookAttemptType] = strawberry.field(description="Oldest first.")

    @classmethod
    def from_model(cls, d: WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDeliveryType:
        latency = None
        if d.delivered_at is not None:
            latency = int((d.delivered_at - d.event_at).total_seconds() * 1000)
        pending = d.status == DeliveryStatus.PENDING
        return cls(
            id=encode_id("WebhookDelivery", d.id),
            webhook_id=str(d.webhook_id),
            subscription_id=encode_id("WebhookSubscription", d.subscription_id),  # type: ignore[attr-defined]
            event_id=str(d.event_id),
            event_kind=d.event_kind,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if pending else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            event_at=d.event_at,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            latency_ms=latency,
            attempt_log=[WebhookAttemptType.from_model(a) for a in attempts],
        )


@strawberry.input
class CreateWebhookSubscriptionInput:
    url: str = strawberry.field(description="https://… (http://127.0.0.1 outside prod).")
    events: list[str] = strawberry.field(
        description=(
            "order.paid, order.refunded, order.settled, order.cancelled, release.paid, "
            "merchant.approved, customer.bound"
        )
    )
    partner_app_id: InputID | None = strawberry.field(
        default=None, description="Admins: the app it is for. A partner app: itself."
    )


@strawberry.input
class UpdateWebhookSubscriptionInput:
    id: InputID
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = strawberry.field(
        default=None, description="false pauses it; true resumes it and forgets its failures."
    )


@strawberry.type
class WebhookSubscriptionPayload:
    subscription: WebhookSubscriptionType


@strawberry.type
class WebhookSubscriptionDeleted:
    id: relay.GlobalID
    deleted: bool = strawberry.field(description="false: it was gone already.")


@strawberry.type
class WebhookRedelivery:
    delivery: WebhookDeliveryType


WebhookSubscriptionResult = Annotated[
    WebhookSubscriptionPayload | WebhookError,  # type: ignore[valid-type]
    strawberry.union("WebhookSubscriptionResult"),
]
DeleteWebhookSubscriptionResult = Annotated[
    WebhookSubscriptionDeleted | WebhookError,  # type: ignore[valid-type]
    strawberry.union("DeleteWebhookSubscriptionResult"),
]
RedeliverWebhookResult = Annotated[
    WebhookRedelivery | WebhookError,  # type: ignore[valid-type]
    strawberry.union("RedeliverWebhookResult"),
]
