"""Webhook subscriptions: a partner app manages its own (scope `manage:webhooks`), an
admin any app's; each change is in the audit trail under whoever made it."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id, encode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsAdmin, PartnerScope, partner_of, user_of
from app.api.graphql.webhooks.types import (
    CreateWebhookSubscriptionInput,
    DeleteWebhookSubscriptionResult,
    DeliveryStatusEnum,
    RedeliverWebhookResult,
    UpdateWebhookSubscriptionInput,
    WebhookDeliveryType,
    WebhookError,
    WebhookRedelivery,
    WebhookSubscriptionDeleted,
    WebhookSubscriptionPayload,
    WebhookSubscriptionResult,
    WebhookSubscriptionType,
)
from app.domain import webhooks
from app.domain.audit import Actor
from app.domain.webhooks import MANAGE_SCOPE, WebhookErrorCode
from app.infra.errors import Invalid, NotFound
from app.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.services import webhooks as delivering

on_error = handles_errors(WebhookError, WebhookErrorCode)
Manages = IsAdmin | PartnerScope(MANAGE_SCOPE)


def _caller(info: Info) -> tuple[int | None, Actor]:
    """The app whose subscriptions the caller may touch (None: an admin, any app's) and
    who the audit trail names."""
    partner = partner_of(info)
    if partner is not None:
        return partner.app_id, webhooks.actor_of_app(partner.app_id)
    return None, Actor.admin(user_of(info).user_id)


def _sub(s: WebhookSubscription) -> WebhookSubscriptionPayload:
    return WebhookSubscriptionPayload(subscription=WebhookSubscriptionType.from_model(s))


async def _deliveries(rows: Sequence[WebhookDelivery]) -> list[WebhookDeliveryType]:
    ids = [d.id for d in rows]
    log: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    for a in await WebhookAttempt.filter(delivery_id__in=ids).order_by("delivery_id", "number"):
        log[a.delivery_id].append(a)  # type: ignore[attr-defined]
    return [WebhookDeliveryType.from_model(d, log[d.id]) for d in rows]


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        permission_classes=[Manages],
        description=(
            "Webhook subscriptions, newest first: a partner app's own; an admin's, of "
            "every app or of partnerAppId."
        ),
    )
    async def webhook_subscriptions(
        self,
        info: Info,
        partner_app_id: InputID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[WebhookSubscriptionType]:
        own, _ = _caller(info)
        qs = WebhookSubscription.all()
        if own is not None:
            qs = qs.filter(app_id=own)
        elif partner_app_id is not None:
            qs = qs.filter(app_id=decode_id(partner_app_id, "PartnerApp", "partnerAppId"))
        return await paginate(qs, first, after, WebhookSubscriptionType.from_model)

    @strawberry.field(
        permission_classes=[Manages],
        description="A subscription's delivery log, newest first, each with its attempts.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        subscription_id: InputID,
        status: DeliveryStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[WebhookDeliveryType]:
        own, _ = _caller(info)
        sid = decode_id(subscription_id, "WebhookSubscription", "subscriptionId")
        sub = await webhooks.subscription_of(sid, own, "subscriptionId")
        qs = WebhookDelivery.filter(subscription_id=sub.id)
        if status is not None:
            qs = qs.filter(status=status)
        return await paginate(qs, first, after, _deliveries, batch=True)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        permission_classes=[Manages],
        description=(
            "Subscribe a receiver URL to event kinds (each needs its read scope). The "
            "same URL and events again answer the subscription made."
        ),
    )
    @on_error
    async def create_webhook_subscription(
        self, info: Info, input: CreateWebhookSubscriptionInput
    ) -> WebhookSubscriptionResult:
        own, actor = _caller(info)
        if own is None:
            if input.partner_app_id is None:
                raise Invalid("partnerAppId is required", "partnerAppId")
            app_id = decode_id(input.partner_app_id, "PartnerApp", "partnerAppId")
        else:
            app_id = own
            given = input.partner_app_id
            if given is not None and decode_id(given, "PartnerApp", "partnerAppId") != own:
                raise NotFound("partner app", "partnerAppId")
        return _sub(
            await webhooks.create_subscription(app_id, input.url, input.events, actor=actor)
        )

    @strawberry.mutation(
        permission_classes=[Manages],
        description="Change a subscription's URL or events, or pause (active: false) or resume it.",
    )
    @on_error
    async def update_webhook_subscription(
        self, info: Info, input: UpdateWebhookSubscriptionInput
    ) -> WebhookSubscriptionResult:
        own, actor = _caller(info)
        sid = decode_id(input.id, "WebhookSubscription", "id")
        sub = await webhooks.update_subscription(
            sid, own, url=input.url, events=input.events, active=input.active, actor=actor
        )
        return _sub(sub)

    @strawberry.mutation(
        permission_classes=[Manages],
        description="Delete a subscription and its delivery log (again: deleted false).",
    )
    @on_error
    async def delete_webhook_subscription(
        self, info: Info, id: InputID
    ) -> DeleteWebhookSubscriptionResult:
        own, actor = _caller(info)
        sid = decode_id(id, "WebhookSubscription", "id")
        deleted = await webhooks.delete_subscription(sid, own, actor=actor)
        return WebhookSubscriptionDeleted(id=encode_id("WebhookSubscription", sid), deleted=deleted)

    @strawberry.mutation(
        permission_classes=[Manages],
        description=(
            "Send a delivered or failed delivery again, with the same Webhook-Id, on a "
            "fresh retry schedule (one still pending is left as it is)."
        ),
    )
    @on_error
    async def redeliver_webhook(self, info: Info, delivery_id: InputID) -> RedeliverWebhookResult:
        own, actor = _caller(info)
        did = decode_id(delivery_id, "WebhookDelivery", "deliveryId")
        d = await webhooks.redeliver(did, own, actor=actor)
        await delivering.dispatch([d.id])
        return WebhookRedelivery(delivery=(await _deliveries([d]))[0])
