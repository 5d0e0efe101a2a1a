"""Partner webhooks: subscriptions (made by the app itself with `manage:webhooks`, or
by an admin for it), what each event kind needs and carries, and where a receiver may be.

Which events an app is owed: those of a kind it subscribed to, for which it holds the
kind's read scope (`EVENT_SCOPES`), about a merchant within its reach (given by id, or
in a region it was given: the same rule as its reads, `PartnerPrincipal.sees`), while
the app is active and the subscription not disabled.

A receiver's URL is https. Outside prod, http to the loopback (127.0.0.1, ::1,
localhost) is taken too, for local development and tests. In prod a URL naming a
private, loopback, link-local or otherwise reserved address is refused here, and a
host name is checked again when each delivery is sent (it must not resolve to one).
No user or password in the URL (it is shown in the delivery log and the audit trail).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import audit
from app.domain.audit import Actor
from app.domain.partners import get_app, region_prefix
from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError, Invalid, NotFound, error_codes
from app.infra.inputs import private_address
from app.infra.outbox import Event, EventKind
from app.models.partners import PartnerApp
from app.models.webhooks import (
    WEBHOOK_URL_MAX,
    DeliveryStatus,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)

WebhookErrorCode = error_codes(
    "WebhookErrorCode", "SCOPE_MISSING", "SUBSCRIPTION_EXISTS", "TOO_MANY_SUBSCRIPTIONS"
)

MANAGE_SCOPE = "manage:webhooks"
# the kinds an app may subscribe to, and the scope each needs
EVENT_SCOPES: dict[str, str] = {
    EventKind.ORDER_PAID: "read:orders",
    EventKind.ORDER_REFUNDED: "read:orders",
    EventKind.ORDER_SETTLED: "read:orders",
    EventKind.ORDER_CANCELLED: "read:orders",
    EventKind.RELEASE_PAID: "read:releases",
    EventKind.MERCHANT_APPROVED: "read:merchants",
    EventKind.CUSTOMER_BOUND: "read:merchants",
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def actor_of_app(app_id: int) -> Actor:
    return Actor("partner", app_id)


# ------------------------------------------------------------------ checks


def private_targets_allowed(s: Settings) -> bool:
    if s.webhook_allow_private_targets is None:
        return s.app_env != "prod"
    return s.webhook_allow_private_targets and s.app_env != "prod"


def check_url(value: str, field: str = "url") -> str:
    url = (value or "").strip()
    if not url or len(url) > WEBHOOK_URL_MAX or not url.isprintable() or " " in url:
        raise Invalid(f"a receiver URL is 1 to {WEBHOOK_URL_MAX} characters", field)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Invalid("not a URL", field) from None
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid("a receiver URL is https://host/path", field)
    if parts.username is not None or parts.password is not None:
        raise Invalid("a receiver URL carries no user or password", field)
    if parts.fragment:
        raise Invalid("a receiver URL has no fragment", field)
    s = get_settings()
    local = private_targets_allowed(s)
    if parts.scheme == "http" and not (local and host in LOOPBACK_HOSTS):
        raise Invalid("a receiver URL is https://host/path", field)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if not local and (host == "localhost" or host.endswith(".localhost") or
                      (ip is not None and private_address(ip))):  # fmt: skip
        raise Invalid("a receiver may not be at a private address", field)
    return url


def check_events(app: PartnerApp, events: Sequence[str], field: str = "events") -> list[str]:
    wanted: list[str] = []
    for kind in events:
        if kind not in EVENT_SCOPES:
            raise Invalid(f"unknown event {kind}; the events are {', '.join(EVENT_SCOPES)}", field)
        if kind not in wanted:
            wanted.append(kind)
    if not wanted:
        raise Invalid("subscribe to at least one event", field)
    held = set(app.scopes.split())
    for kind in wanted:
        if EVENT_SCOPES[kind] not in held:
            raise DomainError(
                WebhookErrorCode.SCOPE_MISSING,
                f"{kind} needs the scope {EVENT_SCOPES[kind]}",
                field,
            )
    return [k for k in EVENT_SCOPES if k in wanted]


def _audited(sub: WebhookSubscription) -> dict[str, object]:
    return {"url": sub.url, "events": list(sub.events), "status": str(sub.status)}


# ------------------------------------------------------------------ subscriptions


async def create_subscription(
    app_id: int, url: str, events: Sequence[str], *, actor: Actor
) -> WebhookSubscription:
    """A new subscription; the same URL and events again answer the one made (a repeat
    is harmless), the same URL with other events is SUBSCRIPTION_EXISTS."""
    app = await get_app(app_id, "partnerAppId")
    if not app.is_active:
        raise DomainError("INVALID", "this partner app is revoked", "partnerAppId")
    url = check_url(url)
    kinds = check_events(app, events)
    existing = await WebhookSubscription.get_or_none(app_id=app.id, url=url)
    if existing is not None:
        return _same(existing, kinds)
    limit = get_settings().webhook_subscriptions_max
    if await WebhookSubscription.filter(app_id=app.id).count() >= limit:
        raise DomainError(
            WebhookErrorCode.TOO_MANY_SUBSCRIPTIONS,
            f"a partner app has at most {limit} webhook subscriptions",
            "url",
        )
    try:
        async with in_transaction() as conn:
            sub = await WebhookSubscription.create(
                using_db=conn, app_id=app.id, url=url, events=kinds
            )
            await audit.record(
                conn,
                actor,
                "createWebhookSubscription",
                ("WebhookSubscription", sub.id),
                {},
                _audited(sub),
            )
    except IntegrityError:  # the same subscription, made concurrently
        return _same(await WebhookSubscription.get(app_id=app.id, url=url), kinds)
    return sub


def _same(existing: WebhookSubscription, kinds: list[str]) -> WebhookSubscription:
    if list(existing.events) != kinds:
        raise DomainError(
            WebhookErrorCode.SUBSCRIPTION_EXISTS,
            "this app has a subscription for this URL: update it",
            "url",
        )
    return existing


async def subscription_of(
    subscription_id: int, app_id: int | None, field: str = "id"
) -> WebhookSubscription:
    """A subscription; to an app (app_id given), only its own: another's does not exist."""
    sub = await WebhookSubscription.get_or_none(id=subscription_id)
    if sub is None or (app_id is not None and sub.app_id != app_id):  # type: ignore[attr-defined]
        raise NotFound("webhook subscription", field)
    return sub


async def update_subscription(
    subscription_id: int,
    app_id: int | None,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    active: bool | None = None,
    actor: Actor,
) -> WebhookSubscription:
    """Another URL or events; `active` false pauses it (disabled: nothing new is owed to
    it), true resumes it and forgets its failures."""
    sub = await subscription_of(subscription_id, app_id)
    app = await get_app(sub.app_id, "id")  # type: ignore[attr-defined]
    before = _audited(sub)
    if url is not None:
        sub.url = check_url(url)
    if events is not None:
        sub.events = check_events(app, events)
    if active is True and sub.status != SubscriptionStatus.ACTIVE:
        sub.status = SubscriptionStatus.ACTIVE
        sub.consecutive_failures = 0
        sub.failing_since = None
    elif active is False:
        sub.status = SubscriptionStatus.DISABLED
    after = _audited(sub)
    if after == before:
        return sub  # nothing changes: nothing to record
    try:
        async with in_transaction() as conn:
            await sub.save(using_db=conn)
            await audit.record(
                conn,
                actor,
                "updateWebhookSubscription",
                ("WebhookSubscription", sub.id),
                before,
                after,
            )
    except IntegrityError:
        raise DomainError(
            WebhookErrorCode.SUBSCRIPTION_EXISTS,
            "this app has a subscription for this URL: update it",
            "url",
        ) from None
    return sub


async def delete_subscription(subscription_id: int, app_id: int | None, *, actor: Actor) -> bool:
    """Delete it and its delivery log; one already gone answers the same (a repeat is
    harmless). Whether this call deleted it."""
    sub = await WebhookSubscription.get_or_none(id=subscription_id)
    if sub is None:
        return False
    if app_id is not None and sub.app_id != app_id:  # type: ignore[attr-defined]
        raise NotFound("webhook subscription", "id")
    async with in_transaction() as conn:
        deleted = await WebhookSubscription.filter(id=sub.id).using_db(conn).delete()
        if deleted:
            await audit.record(
                conn,
                actor,
                "deleteWebhookSubscription",
                ("WebhookSubscription", sub.id),
                _audited(sub),
                {"deleted": True},
            )
    return bool(deleted)


async def delivery_of(delivery_id: int, app_id: int | None) -> WebhookDelivery:
    d = await WebhookDelivery.get_or_none(id=delivery_id).select_related("subscription")
    if d is None or (app_id is not None and d.subscription.app_id != app_id):
        raise NotFound("webhook delivery", "deliveryId")
    return d


async def redeliver(delivery_id: int, app_id: int | None, *, actor: Actor) -> WebhookDelivery:
    """Send a delivery again, with the same `Webhook-Id` and body, on a fresh schedule.
    One still pending is left as it is (asking twice queues it once)."""
    d = await delivery_of(delivery_id, app_id)
    if d.status == DeliveryStatus.PENDING:
        return d
    before = {"status": str(d.status), "attempts": d.attempts}
    async with in_transaction() as conn:
        changed = await (
            WebhookDelivery.filter(id=d.id, status=d.status)
            .using_db(conn)
            .update(
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=datetime.now(UTC),
                lease_until=None,
            )
        )
        if changed:
            await audit.record(
                conn,
                actor,
                "redeliverWebhook",
                ("WebhookDelivery", d.id),
                before,
                {"status": str(DeliveryStatus.PENDING), "attempts": 0},
            )
    return await WebhookDelivery.get(id=d.id).select_related("subscription")


# ------------------------------------------------------------------ events and reach


def global_id(type_name: str, pk: Any) -> str:
    """The API's Global ID of a row (what a partner reads elsewhere)."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def _data(event: Event) -> dict[str, Any]:
    p = event.payload
    if event.kind == EventKind.RELEASE_PAID:
        # that a run finished, not the platform's totals: what it paid the app's stores
        # is read with merchantReleaseSummary(merchantId)
        return {
            "releaseId": global_id("Release", p["release_id"]),
            "pool": p.get("pool"),
            "releaseNo": p.get("release_no"),
            "runOn": p.get("run_on"),
        }
    merchant = global_id("Merchant", p["merchant_id"])
    if event.kind in (EventKind.MERCHANT_APPROVED,):
        return {"merchantId": merchant, "status": p.get("status")}
    if event.kind == EventKind.CUSTOMER_BOUND:
        return {"merchantId": merchant, "customerId": global_id("User", p["consumer_id"])}
    data: dict[str, Any] = {"orderId": global_id("Order", p["order_id"]), "merchantId": merchant}
    if event.kind == EventKind.ORDER_PAID:
        data.update(
            amountFen=p["amount_fen"],
            cashFen=p.get("cash_fen"),
            voucherFen=p.get("voucher_fen"),
            channel=p.get("channel"),
            paidAt=p.get("paid_at"),
        )
    elif event.kind == EventKind.ORDER_REFUNDED:
        data.update(
            amountFen=p["amount_fen"], refundedFen=p.get("refunded_fen"), status=p.get("status")
        )
    elif event.kind == EventKind.ORDER_SETTLED:
        data.update(settledAt=p.get("settled_at"))
    elif event.kind == EventKind.ORDER_CANCELLED:
        data.update(amountFen=p.get("amount_fen"), reason=p.get("reason"), status=p.get("status"))
    return data


def body_of(event: Event, webhook_id: uuid.UUID) -> str:
    """What a receiver is sent: the delivery's id, the event's id, kind and time, and its
    data with the API's Global IDs (integers are fen)."""
    return json.dumps(
        {
            "id": str(webhook_id),
            "eventId": str(event.id),
            "type": event.kind,
            "createdAt": event.created_at.isoformat(),
            "data": _data(event),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class Reach:
    merchant_ids: frozenset[int]
    region_prefixes: tuple[str, ...]
    scopes: frozenset[str]

    @classmethod
    def of(cls, merchant_ids: Sequence[int], region_codes: Sequence[str], scopes: str) -> Reach:
        return cls(
            frozenset(int(m) for m in merchant_ids or ()),
            tuple(region_prefix(str(r)) for r in region_codes or ()),
            frozenset(scopes.split()),
        )

    def owed(self, kind: str, merchant_id: int | None, region_code: str) -> bool:
        """Whether an app with this reach is owed an event of `kind` about this merchant
        (None: a platform-wide event, a release run: owed to an app given any store)."""
        scope = EVENT_SCOPES.get(kind)
        if scope is None or scope not in self.scopes:
            return False
        if merchant_id is None:
            return bool(self.merchant_ids or self.region_prefixes)
        return merchant_id in self.merchant_ids or region_code.startswith(self.region_prefixes)
