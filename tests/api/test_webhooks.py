"""Partner webhooks end to end: events from the outbox, delivered to a real receiver on
127.0.0.1 that verifies each signature against the JWKS the app publishes (the docs'
helper), acts on each Webhook-Id once, fails on purpose, goes down and comes back.
Time is moved by moving the deliveries' scheduled times, never by sleeping."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import RedisSettings, create_pool
from arq.constants import default_queue_name
from arq.worker import Worker, func
from strawberry.relay import GlobalID
from tortoise.transactions import in_transaction

from app.domain import partners, webhook_keys
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from app.infra import outbox
from app.infra.outbox import EventKind
from app.models.events import OutboxEvent
from app.models.partners import PartnerApp
from app.models.users import Role
from app.models.webhooks import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSigningKey,
    WebhookSubscription,
)
from app.services import webhooks as delivering
from app.worker import deliver_webhook
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
SCOPES = ("read:orders", "read:merchants", "manage:webhooks")

CREATE = """mutation($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) {
    __typename
    ... on WebhookSubscriptionPayload { subscription { id url events status partnerAppId } }
    ... on WebhookError { code field message } } }"""
DELIVERIES = """query($s: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(subscriptionId: $s, status: $status, first: 10) { totalCount edges { node {
    id webhookId eventKind status attempts latencyMs lastStatusCode lastError
    attemptLog { number statusCode error responseExcerpt durationMs kid } } } } }"""
REDELIVER = """mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { __typename
  ... on WebhookRedelivery { delivery { webhookId status attempts } }
  ... on WebhookError { code field message } } }"""


@pytest.fixture(autouse=True)
async def _fresh_keys() -> AsyncIterator[None]:
    webhook_keys.forget_cached_key()  # the tables are emptied between tests
    yield
    await delivering.settled()
    webhook_keys.forget_cached_key()


@pytest.fixture
async def receiver(client) -> AsyncIterator[Receiver]:
    async def jwks() -> dict[str, Any]:
        resp = await client.get("/.well-known/jwks.json")
        assert resp.status_code == 200
        return resp.json()

    r = await Receiver(jwks).start()
    yield r
    await r.stop()


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


def kid_of(headers: dict[str, str]) -> str:
    protected = headers["webhook-signature"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))["kid"]


def partner_token(app: PartnerApp) -> str:
    return issue_access(app.id, Kind.PARTNER, scopes=tuple(app.scopes.split()), ttl_s=600)


async def subscribe(
    client, app: PartnerApp, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    body = await gql(
        client,
        CREATE,
        {"input": {"url": url, "events": events or ["order.paid"]}},
        partner_token(app),
    )
    got = body["data"]["createWebhookSubscription"]
    assert got["__typename"] == "WebhookSubscriptionPayload", got
    return got["subscription"]


async def make_app(name: str, **reach: Any) -> PartnerApp:
    return (await partners.create_app(name, SCOPES, **reach)).app


def paid_event(merchant_id: int, order_id: int = 1, amount_fen: int = 1000) -> outbox.Event:
    return outbox.event(
        EventKind.ORDER_PAID,
        f"order:{order_id}",
        order_id=order_id,
        consumer_id=1,
        merchant_id=merchant_id,
        amount_fen=amount_fen,
        cash_fen=amount_fen,
        voucher_fen=0,
        channel="wechat",
        paid_at=datetime.now(UTC).isoformat(),
        merchant_lat=31.2304,  # what the heat map reads of a paid order
        merchant_lng=121.4737,
    )


async def emit(*events: outbox.Event) -> None:
    """Written in a transaction and published after its commit, as the services do; then
    every delivery this made has had its first attempt."""
    async with in_transaction() as conn:
        await outbox.write(conn, list(events))
    outbox.publish(list(events))
    await outbox.drain()
    await delivering.settled()


async def due_now() -> None:
    """The clock moved on: every pending delivery is due."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    await WebhookDelivery.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=past)


async def world(client, receiver: Receiver, events: list[str] | None = None):
    merchant = await make_merchant()
    app = await make_app("Hooks Co", merchant_ids=[merchant.id])
    sub = await subscribe(client, app, receiver.url, events)
    return merchant, app, sub


# ------------------------------------------------------------------ delivery


async def test_a_paid_order_reaches_the_receiver_signed_once_it_committed(client, receiver):
    merchant, app, sub = await world(client, receiver)
    consumer = await make_user()
    order = await paid_order(consumer, merchant, 2500)
    await delivering.settled()
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.verified, got.problem
    event = receiver.acted[got.webhook_id]
    assert event["type"] == "order.paid"
    assert event["data"]["amountFen"] == 2500
    assert event["data"]["orderId"] == gid("Order", order.id)
    assert event["data"]["merchantId"] == gid("Merchant", merchant.id)
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    # the delivery log, as the partner reads it
    body = await gql(client, DELIVERIES, {"s": sub["id"]}, partner_token(app))
    node = body["data"]["webhookDeliveries"]["edges"][0]["node"]
    assert node["webhookId"] == got.webhook_id
    assert (node["status"], node["attempts"], node["lastStatusCode"]) == ("DELIVERED", 1, 200)
    assert node["latencyMs"] is not None and node["latencyMs"] >= 0
    [attempt] = node["attemptLog"]
    assert attempt["statusCode"] == 200 and attempt["responseExcerpt"] == "ok"
    assert attempt["kid"] == kid_of(got.headers)


async def test_nothing_is_sent_before_the_commit_nor_for_a_rollback(client, receiver):
    merchant, _, _ = await world(client, receiver)
    kept, dropped = paid_event(merchant.id, 1), paid_event(merchant.id, 2)
    async with in_transaction() as conn:
        await outbox.write(conn, [kept])
        await delivering.sweep()
        assert await WebhookDelivery.all().count() == 0  # not committed: nothing owed yet
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await outbox.write(conn, [dropped])
            raise RuntimeError("the change fails")
    # the outbox's sweep finds what the (skipped) in-process delivery did not send
    await OutboxEvent.all().update(due_at=datetime.now(UTC) - timedelta(seconds=1))
    await outbox.sweep()
    await delivering.settled()
    assert [json.loads(r.body)["eventId"] for r in receiver.received] == [str(kept.id)]


async def test_the_same_event_again_makes_no_second_delivery(client, receiver):
    merchant, _, _ = await world(client, receiver)
    e = paid_event(merchant.id)
    await emit(e)
    # the outbox delivers at least once: its consumer may be given the event again
    await delivering.on_events([e])
    await delivering.on_events([e])
    await delivering.settled()
    await due_now()
    assert await delivering.sweep() == 0
    assert await WebhookDelivery.all().count() == 1
    assert len(receiver.received) == 1 and len(receiver.acted) == 1


async def test_a_500_then_200_is_retried_and_delivered_once_with_the_same_id(
    client, receiver, settings
):
    _, app, sub = await world(client, receiver)
    receiver.answers = [500]
    merchant_id = (await PartnerApp.get(id=app.id)).merchant_ids[0]
    await emit(paid_event(merchant_id))
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts, d.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    first = settings.webhook_retry_schedule_s[0]
    wait = (d.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert first * 0.85 <= wait <= first * 1.1 + 1, wait
    assert await delivering.sweep() == 0  # not due yet
    await due_now()
    assert await delivering.sweep() == 1
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [r.answered for r in receiver.received] == [500, 200]
    assert {r.webhook_id for r in receiver.received} == {str(d.webhook_id)}
    assert list(receiver.acted) == [str(d.webhook_id)]
    codes = (
        await WebhookAttempt.filter(delivery_id=d.id)
        .order_by("number")
        .values_list("status_code", flat=True)
    )
    assert codes == [500, 200]
    assert (await WebhookSubscription.get()).status == SubscriptionStatus.ACTIVE


async def test_a_receiver_down_for_an_hour_gets_everything_once_it_is_back(
    client, receiver, settings
):
    merchant, _, sub = await world(client, receiver)
    await receiver.stop()  # down: nothing listens on its port
    await emit(*(paid_event(merchant.id, order_id=i) for i in range(1, 4)))
    schedule = settings.webhook_retry_schedule_s
    jitter = settings.webhook_retry_jitter
    elapsed, attempts, up = 0, 1, False
    while True:
        rows = await WebhookDelivery.all().order_by("id")
        assert len(rows) == 3
        if all(r.status == DeliveryStatus.DELIVERED for r in rows):
            break
        for r in rows:
            assert (r.status, r.attempts, r.last_error) == (
                DeliveryStatus.PENDING,
                attempts,
                "ConnectError",
            )
            last = await WebhookAttempt.filter(delivery_id=r.id).order_by("-number").first()
            assert last is not None and last.number == attempts
            wait = (r.next_attempt_at - last.started_at).total_seconds()
            step = schedule[attempts - 1]
            assert step * (1 - jitter) - 1 <= wait <= step * (1 + jitter) + 1, (attempts, wait)
        elapsed += schedule[attempts - 1]
        if elapsed >= 3600 and not up:
            await receiver.start()  # back, an hour later, on the same port
            up = True
        await due_now()
        assert await delivering.sweep() == 3
        attempts += 1
    # four attempts failed (at 0, 1, 6 and 36 minutes), the fifth at about 2 h 36 got through
    assert attempts == 5
    assert len(receiver.received) == 3 and all(r.verified for r in receiver.received)
    assert sorted(receiver.acted) == sorted(str(r.webhook_id) for r in rows)
    assert sorted(e["data"]["orderId"] for e in receiver.acted.values()) == sorted(
        json.loads(r.body)["data"]["orderId"] for r in rows
    )
    assert (await WebhookSubscription.get()).status == SubscriptionStatus.ACTIVE
    log = await WebhookAttempt.filter(delivery_id=rows[0].id).order_by("number")
    assert [a.error for a in log] == ["ConnectError"] * 4 + [None]
    assert [a.status_code for a in log] == [None] * 4 + [200]


async def test_a_worker_killed_mid_delivery_loses_nothing(client, receiver, settings, monkeypatch):
    merchant, _, _ = await world(client, receiver)
    # deliveries go to the arq queue (nobody runs it here): the child is the worker
    monkeypatch.setattr(settings, "webhook_queue", "arq")
    await emit(paid_event(merchant.id))
    assert len(receiver.received) == 0
    receiver.hold = asyncio.Event()  # the receiver acts, and holds its answer
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.webhook_child",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(receiver.held.wait(), 60)
    except TimeoutError:
        child.kill()
        _, err = await child.communicate()
        raise AssertionError(err.decode()[-2000:]) from None
    # the receiver has the request and acted on it; the worker dies before it hears 200
    child.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    receiver.hold.set()
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts) == (DeliveryStatus.PENDING, 1)
    assert d.lease_until is not None and d.lease_until > datetime.now(UTC)
    monkeypatch.setattr(settings, "webhook_queue", "local")
    assert await delivering.sweep() == 0  # its lease holds it: no second sender meanwhile
    # the lease lapses (the clock moved on): the sweep sends it again
    await WebhookDelivery.filter(id=d.id).update(
        lease_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert await delivering.sweep() == 1
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [r.webhook_id for r in receiver.received] == [str(d.webhook_id)] * 2
    assert all(r.verified for r in receiver.received)
    assert list(receiver.acted) == [str(d.webhook_id)]  # the repeat was dropped


async def test_a_partner_only_receives_events_within_its_reach(client, receiver, client_receiver):
    given = await make_merchant(region_code="310101")
    in_region = await make_merchant(region_code="310104")
    elsewhere = await make_merchant(region_code="440305")
    by_id = await make_app("By Id", merchant_ids=[given.id])
    by_region = await make_app("By Region", region_codes=["310000"])
    await subscribe(client, by_id, receiver.url)
    await subscribe(client, by_region, client_receiver.url, ["order.paid", "merchant.approved"])
    # an app that later loses the scope, and one revoked
    narrowed = await make_app("Narrowed", merchant_ids=[given.id, in_region.id, elsewhere.id])
    revoked = await make_app("Revoked", merchant_ids=[given.id])
    third = await Receiver(receiver.jwks).start()
    try:
        await subscribe(client, narrowed, third.url)
        await subscribe(client, revoked, third.url)
        await PartnerApp.filter(id=narrowed.id).update(scopes="read:merchants manage:webhooks")
        await partners.revoke_app(revoked.id, "ended")
        await emit(
            paid_event(given.id, 1), paid_event(in_region.id, 2), paid_event(elsewhere.id, 3)
        )
        assert third.received == []
    finally:
        await third.stop()
    orders = lambda r: sorted(e["data"]["orderId"] for e in r.acted.values())  # noqa: E731
    assert orders(receiver) == [gid("Order", 1)]
    assert orders(client_receiver) == sorted([gid("Order", 1), gid("Order", 2)])
    assert all(r.verified for r in receiver.received + client_receiver.received)


@pytest.fixture
async def client_receiver(receiver) -> AsyncIterator[Receiver]:
    r = await Receiver(receiver.jwks).start()
    yield r
    await r.stop()


async def test_a_rotated_key_signs_and_the_old_one_stays_published(client, receiver):
    merchant, _, _ = await world(client, receiver)
    await emit(paid_event(merchant.id, 1))
    old_kid = (await WebhookSigningKey.get()).kid
    made = await webhook_keys.rotate()
    await emit(paid_event(merchant.id, 2))
    kids = [kid_of(r.headers) for r in receiver.received]
    assert kids == [old_kid, made.kid]
    assert all(r.verified for r in receiver.received)  # the receiver fetched the set again
    published = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert published == [made.kid, old_kid]
    # the first delivery still verifies against today's set
    first = receiver.received[0]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert receiver.verify(first.headers, first.body, jwks)["data"]["orderId"] == gid("Order", 1)
    # once its publication ends it is gone from the set
    await WebhookSigningKey.filter(kid=old_kid).update(
        unpublish_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    published = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert published == [made.kid]


async def test_rs256_keys_sign_too(client, receiver):
    merchant, _, _ = await world(client, receiver)
    made = await webhook_keys.rotate("RS256")
    await emit(paid_event(merchant.id))
    assert receiver.received[0].verified, receiver.received[0].problem
    jwk = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
    assert (jwk["kid"], jwk["alg"], jwk["kty"], jwk["use"]) == (made.kid, "RS256", "RSA", "sig")
    assert "d" not in jwk and "p" not in jwk  # public halves only


# ------------------------------------------------------------------ failing receivers


async def _run_out(delivery_count: int) -> None:
    """Every pending delivery attempted until none is pending."""
    for _ in range(20):
        if not await WebhookDelivery.filter(status=DeliveryStatus.PENDING).exists():
            return
        await due_now()
        await delivering.sweep()
    raise AssertionError("deliveries still pending")


async def test_a_schedule_run_out_fails_the_delivery_and_the_subscription(
    client, receiver, settings
):
    merchant, app, sub = await world(client, receiver)
    receiver.answers = [503] * 100
    await emit(paid_event(merchant.id, 1))
    await _run_out(1)
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts, d.last_status_code) == (
        DeliveryStatus.FAILED,
        len(settings.webhook_retry_schedule_s) + 1,
        503,
    )
    s = await WebhookSubscription.get()
    assert (s.status, s.consecutive_failures) == (SubscriptionStatus.FAILING, 1)
    # failing for longer than webhook_disable_after_s: the next failure disables it
    await WebhookSubscription.filter(id=s.id).update(
        failing_since=datetime.now(UTC) - timedelta(seconds=settings.webhook_disable_after_s + 1)
    )
    await emit(paid_event(merchant.id, 2))
    await _run_out(1)
    s = await WebhookSubscription.get()
    assert (s.status, s.consecutive_failures) == (SubscriptionStatus.DISABLED, 2)
    # a disabled subscription is owed nothing new
    await emit(paid_event(merchant.id, 3))
    assert await WebhookDelivery.all().count() == 2
    # resumed, it delivers again; a redelivery sends a failed one with its own id
    receiver.answers = []
    upd = """mutation($i: ID!) { updateWebhookSubscription(input: {id: $i, active: true}) {
      ... on WebhookSubscriptionPayload { subscription { status } } } }"""
    body = await gql(client, upd, {"i": sub["id"]}, partner_token(app))
    assert body["data"]["updateWebhookSubscription"]["subscription"]["status"] == "ACTIVE"
    body = await gql(client, DELIVERIES, {"s": sub["id"], "status": "FAILED"}, partner_token(app))
    failed = [e["node"] for e in body["data"]["webhookDeliveries"]["edges"]]
    assert len(failed) == 2 and len(failed[0]["attemptLog"]) == 8
    body = await gql(client, REDELIVER, {"d": failed[0]["id"]}, partner_token(app))
    assert body["data"]["redeliverWebhook"]["__typename"] == "WebhookRedelivery"
    await delivering.settled()
    assert receiver.received[-1].webhook_id == failed[0]["webhookId"]
    assert receiver.received[-1].answered == 200
    assert list(receiver.acted) == [failed[0]["webhookId"]]
    s = await WebhookSubscription.get()
    assert (s.status, s.consecutive_failures) == (SubscriptionStatus.ACTIVE, 0)
    # asking again while it is delivered queues it again; while pending, nothing more
    body = await gql(client, DELIVERIES, {"s": sub["id"]}, partner_token(app))
    states = {
        e["node"]["webhookId"]: e["node"]["status"]
        for e in body["data"]["webhookDeliveries"]["edges"]
    }
    assert states[failed[0]["webhookId"]] == "DELIVERED"


async def test_410_gone_fails_at_once(client, receiver):
    merchant, _, _ = await world(client, receiver)
    receiver.answers = [410]
    await emit(paid_event(merchant.id))
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts, d.last_status_code) == (DeliveryStatus.FAILED, 1, 410)
    assert (await WebhookSubscription.get()).status == SubscriptionStatus.FAILING


async def test_an_untrusted_receiver_is_bounded(client, receiver, settings, monkeypatch):
    merchant, _, _ = await world(client, receiver)
    # a redirect is not followed: an attempt that failed
    receiver.answers = [302]
    receiver.answer_body = b"x" * 100_000
    await emit(paid_event(merchant.id, 1))
    d = await WebhookDelivery.get()
    assert (d.status, d.last_status_code) == (DeliveryStatus.PENDING, 302)
    assert len(receiver.received) == 1
    # a long answer: an excerpt is kept, never the whole
    await due_now()
    await delivering.sweep()
    [a1, a2] = await WebhookAttempt.filter(delivery_id=d.id).order_by("number")
    assert a2.status_code == 200 and len(a2.response_excerpt or "") == 200
    # an answer that never comes: the attempt ends at the timeout
    monkeypatch.setattr(settings, "webhook_timeout_s", 0.5)
    receiver.hold = asyncio.Event()
    await emit(paid_event(merchant.id, 2))
    d2 = await WebhookDelivery.filter(status=DeliveryStatus.PENDING).get()
    [a] = await WebhookAttempt.filter(delivery_id=d2.id)
    assert (a.error, a.status_code) == ("Timeout", None)
    assert 400 <= a.duration_ms < 3000
    receiver.hold.set()


# ------------------------------------------------------------------ managing subscriptions


def error_of(body: dict[str, Any], name: str) -> tuple[str, str | None]:
    got = body["data"][name]
    assert got["__typename"] == "WebhookError", got
    return got["code"], got["field"]


async def test_managing_needs_manage_webhooks_or_an_admin(client):
    reader = (await partners.create_app("Reader", ("read:orders",))).app
    body = await gql(
        client,
        CREATE,
        {"input": {"url": "https://hooks.example.com/x", "events": ["order.paid"]}},
        partner_token(reader),
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "SCOPE_MISSING"
    user = await make_user(Role.MERCHANT_OWNER)
    body = await gql(
        client,
        "{ webhookSubscriptions(first: 5) { totalCount } }",
        token=await token_for(user.id),
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    # an admin makes one for an app, naming it
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id)
    ask = {"url": "https://hooks.example.com/x", "events": ["order.paid"]}
    body = await gql(client, CREATE, {"input": ask}, token)
    assert error_of(body, "createWebhookSubscription") == ("INVALID", "partnerAppId")
    body = await gql(
        client, CREATE, {"input": {**ask, "partnerAppId": gid("PartnerApp", reader.id)}}, token
    )
    made = body["data"]["createWebhookSubscription"]["subscription"]
    assert made["partnerAppId"] == gid("PartnerApp", reader.id) and made["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("url", "prod"),
    [
        ("ftp://hooks.example.com/x", False),
        ("http://hooks.example.com/x", False),
        ("https://user:secret@hooks.example.com/x", False),
        ("https://hooks.example.com/x#part", False),
        ("hooks.example.com/x", False),
        ("", False),
        ("https://hooks.example.com/" + "x" * 2100, False),
        ("http://127.0.0.1:8080/x", True),
        ("https://127.0.0.1/x", True),
        ("https://10.1.2.3/x", True),
        ("https://192.168.0.10/x", True),
        ("https://169.254.169.254/latest", True),
        ("https://[::1]/x", True),
        ("https://[::ffff:10.0.0.1]/x", True),
        ("https://localhost/x", True),
    ],
)
async def test_receiver_urls_are_checked(client, settings, monkeypatch, url, prod):
    app = await make_app("Checked")
    if prod:
        monkeypatch.setattr(settings, "app_env", "prod")
    body = await gql(
        client, CREATE, {"input": {"url": url, "events": ["order.paid"]}}, partner_token(app)
    )
    assert error_of(body, "createWebhookSubscription") == ("INVALID", "url")


async def test_loopback_http_is_taken_outside_prod_and_public_https_in_prod(
    client, settings, monkeypatch
):
    app = await make_app("Local")
    assert (await subscribe(client, app, "http://127.0.0.1:8080/hooks"))["status"] == "ACTIVE"
    assert (await subscribe(client, app, "http://localhost:8080/hooks"))["status"] == "ACTIVE"
    monkeypatch.setattr(settings, "app_env", "prod")
    assert (await subscribe(client, app, "https://hooks.example.com/h"))["status"] == "ACTIVE"


async def test_a_receiver_resolving_to_a_private_address_is_not_called_in_prod(
    client, receiver, settings, monkeypatch
):
    merchant, _, _ = await world(client, receiver)  # made outside prod
    monkeypatch.setattr(settings, "app_env", "prod")
    await emit(paid_event(merchant.id))
    d = await WebhookDelivery.get()
    assert (d.status, d.last_error, d.last_status_code) == (
        DeliveryStatus.PENDING,
        "ForbiddenAddress",
        None,
    )
    assert receiver.received == []


async def test_events_are_checked_against_the_apps_scopes(client):
    app = (await partners.create_app("Orders Only", ("read:orders", "manage:webhooks"))).app

    async def create(events: list[str]) -> tuple[str, str | None]:
        body = await gql(
            client,
            CREATE,
            {"input": {"url": "https://hooks.example.com/x", "events": events}},
            partner_token(app),
        )
        return error_of(body, "createWebhookSubscription")

    assert await create(["order.shipped"]) == ("INVALID", "events")
    assert await create([]) == ("INVALID", "events")
    assert await create(["order.paid", "merchant.approved"]) == ("SCOPE_MISSING", "events")


async def test_subscribing_again_is_harmless_and_another_apps_subscriptions_do_not_exist(
    client, settings, monkeypatch
):
    mine = await make_app("Mine")
    theirs = await make_app("Theirs")
    url = "https://hooks.example.com/a"
    first = await subscribe(client, mine, url, ["order.refunded", "order.paid"])
    again = await subscribe(client, mine, url, ["order.paid", "order.refunded"])
    assert again["id"] == first["id"] and again["events"] == ["order.paid", "order.refunded"]
    body = await gql(
        client,
        CREATE,
        {"input": {"url": url, "events": ["order.settled"]}},
        partner_token(mine),
    )
    assert error_of(body, "createWebhookSubscription") == ("SUBSCRIPTION_EXISTS", "url")
    # another app: not its own partnerAppId, nor the subscription, nor its log
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "url": url,
                "events": ["order.paid"],
                "partnerAppId": gid("PartnerApp", mine.id),
            }
        },
        partner_token(theirs),
    )
    assert error_of(body, "createWebhookSubscription") == ("NOT_FOUND", "partnerAppId")
    upd = """mutation($i: ID!) {
      updateWebhookSubscription(input: {id: $i, url: "https://x.example.com/"}) {
      __typename ... on WebhookError { code field } } }"""
    body = await gql(client, upd, {"i": first["id"]}, partner_token(theirs))
    assert error_of(body, "updateWebhookSubscription") == ("NOT_FOUND", "id")
    body = await gql(
        client, DELIVERIES, {"s": first["id"]}, partner_token(theirs), expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    listed = await gql(
        client, "{ webhookSubscriptions(first: 5) { totalCount } }", token=partner_token(theirs)
    )
    assert listed["data"]["webhookSubscriptions"]["totalCount"] == 0
    delete = """mutation($i: ID!) { deleteWebhookSubscription(id: $i) { __typename
      ... on WebhookSubscriptionDeleted { deleted } ... on WebhookError { code field } } }"""
    body = await gql(client, delete, {"i": first["id"]}, partner_token(theirs))
    assert error_of(body, "deleteWebhookSubscription") == ("NOT_FOUND", "id")
    # its own: deleted, and again (a repeat) answers deleted false
    body = await gql(client, delete, {"i": first["id"]}, partner_token(mine))
    assert body["data"]["deleteWebhookSubscription"]["deleted"] is True
    body = await gql(client, delete, {"i": first["id"]}, partner_token(mine))
    assert body["data"]["deleteWebhookSubscription"]["deleted"] is False
    # at most webhook_subscriptions_max each
    monkeypatch.setattr(settings, "webhook_subscriptions_max", 2)
    await subscribe(client, mine, "https://hooks.example.com/1")
    await subscribe(client, mine, "https://hooks.example.com/2")
    body = await gql(
        client,
        CREATE,
        {"input": {"url": "https://hooks.example.com/3", "events": ["order.paid"]}},
        partner_token(mine),
    )
    assert error_of(body, "createWebhookSubscription") == ("TOO_MANY_SUBSCRIPTIONS", "url")


async def test_a_partners_own_changes_are_in_the_audit_trail_under_its_name(client):
    from app.models.audit import AuditEntry

    app = await make_app("Audited")
    sub = await subscribe(client, app, "https://hooks.example.com/a")
    [entry] = await AuditEntry.filter(action="createWebhookSubscription")
    assert (entry.actor_kind, entry.actor_id) == ("partner", app.id)
    assert entry.target_id == str(GlobalID.from_id(sub["id"]).node_id)
    assert json.loads(entry.after)["url"] == "https://hooks.example.com/a"


# ------------------------------------------------------------------ the arq worker, the CLI


async def test_on_the_arq_worker_a_retry_is_a_deferred_job(client, receiver, settings, monkeypatch):
    """`webhook_queue = "arq"`: the first attempt is a job, its retry a job deferred to
    the delivery's next attempt, both run by a real arq worker."""
    merchant, _, _ = await world(client, receiver)
    monkeypatch.setattr(settings, "webhook_queue", "arq")
    receiver.answers = [500]
    await emit(paid_event(merchant.id))
    d = await WebhookDelivery.get()
    assert d.attempts == 0 and receiver.received == []  # queued, not attempted here
    pool = await delivering._pool(settings)
    assert await pool.zscore(default_queue_name, f"webhook:{d.id}:0") is not None

    async def work_one() -> None:
        worker = Worker(
            functions=[func(deliver_webhook, name="deliver_webhook")],
            redis_pool=await create_pool(RedisSettings.from_dsn(settings.redis_url)),
            burst=True,
            max_burst_jobs=1,
            poll_delay=0.05,
            handle_signals=False,
            keep_result=0,
        )
        await asyncio.wait_for(worker.main(), 30)
        await worker.pool.aclose()  # its own connections (the app's pool stays open)

    await work_one()
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts, d.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    score = await pool.zscore(default_queue_name, f"webhook:{d.id}:1")
    assert score is not None
    assert abs(score / 1000 - d.next_attempt_at.timestamp()) < 1  # deferred to it
    # the clock moves on: the job and the delivery are due
    await due_now()
    await pool.zadd(
        default_queue_name, {f"webhook:{d.id}:1": int(datetime.now(UTC).timestamp() * 1000)}
    )
    await work_one()
    d = await WebhookDelivery.get()
    assert (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [r.answered for r in receiver.received] == [500, 200]
    assert len({r.webhook_id for r in receiver.received}) == 1


async def test_the_rotate_command_makes_a_new_signing_key(client):
    first = await webhook_keys.signing_key()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "rotate-webhook-key",
        "--alg",
        "RS256",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    keys = await WebhookSigningKey.all().order_by("created_at")
    assert [k.kid for k in keys][0] == first.kid and len(keys) == 2
    assert keys[0].retired_at is not None and keys[0].unpublish_at is not None
    assert keys[1].alg == "RS256" and keys[1].kid in out.decode()
    assert "PRIVATE" not in keys[1].private_key  # kept encrypted
    webhook_keys.forget_cached_key()
    assert (await webhook_keys.signing_key()).kid == keys[1].kid
    published = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert published == [keys[1].kid, first.kid]


async def test_old_done_deliveries_leave_the_log(client, receiver):
    merchant, _, _ = await world(client, receiver)
    receiver.answers = [500]
    await emit(paid_event(merchant.id, 1), paid_event(merchant.id, 2))
    done = await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).get()
    await WebhookDelivery.all().update(created_at=datetime.now(UTC) - timedelta(days=40))
    assert await delivering.purge(timedelta(days=30)) == 1
    assert not await WebhookDelivery.filter(id=done.id).exists()
    assert not await WebhookAttempt.filter(delivery_id=done.id).exists()
    assert await WebhookDelivery.filter(status=DeliveryStatus.PENDING).count() == 1


async def test_a_release_run_and_a_cancelled_order_reach_those_subscribed(
    client, receiver, client_receiver
):
    merchant = await make_merchant()
    given = await make_app("Given", merchant_ids=[merchant.id])
    await PartnerApp.filter(id=given.id).update(scopes="read:orders read:releases manage:webhooks")
    given = await PartnerApp.get(id=given.id)
    nothing = (await partners.create_app("No Stores", ("read:releases", "manage:webhooks"))).app
    kinds = ["release.paid", "order.cancelled"]
    await subscribe(client, given, receiver.url, kinds)
    body = await gql(
        client,
        CREATE,
        {"input": {"url": client_receiver.url, "events": ["release.paid"]}},
        partner_token(nothing),
    )
    assert body["data"]["createWebhookSubscription"]["__typename"] == "WebhookSubscriptionPayload"
    run = outbox.event(
        EventKind.RELEASE_PAID, "release:7", release_id=7, pool="consumer", release_no=3,
        run_on="2026-12-07", trigger="growth", scale_factor="1", paid_fen=123_456_789,
        voucher_fen=0, shopping_fen=0, subsidy_fen=0, cohort_bonus_fen=0, lots_paid=10,
        lots_exited=0, lots_expired=0,
    )  # fmt: skip
    cancelled = outbox.event(
        EventKind.ORDER_CANCELLED, "order:5", order_id=5, merchant_id=merchant.id,
        consumer_id=1, origin="counter", amount_fen=800, voucher_fen_released=0,
        reason="expired", status="closed",
    )  # fmt: skip
    await emit(run, cancelled)
    got = {e["type"]: e["data"] for e in receiver.acted.values()}
    assert got["release.paid"] == {
        "releaseId": gid("Release", 7),
        "pool": "consumer",
        "releaseNo": 3,
        "runOn": "2026-12-07",
    }
    assert got["order.cancelled"]["orderId"] == gid("Order", 5)
    assert got["order.cancelled"]["reason"] == "expired"
    assert client_receiver.received == []  # an app given no store is owed no run


async def test_keys_are_kept_encrypted_under_the_key_secret(db, settings, monkeypatch):
    made = await webhook_keys.signing_key()
    row = await WebhookSigningKey.get(kid=made.kid)
    assert "PRIVATE KEY" not in row.private_key
    # the secret changed since: the stored key cannot be read, and says what to do
    monkeypatch.setattr(settings, "webhook_key_secret", "another secret entirely")
    webhook_keys.forget_cached_key()
    with pytest.raises(RuntimeError, match="rotate-webhook-key"):
        await webhook_keys.signing_key()
    fresh = await webhook_keys.rotate()
    assert (await webhook_keys.signing_key()).kid == fresh.kid
