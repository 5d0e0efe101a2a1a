"""The admin audit trail: every admin mutation records who, when, what, before, after
and why, in its own transaction, on a hash chain that `verify-ledger` checks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.api.graphql.core.ids import decode_id, encode_id
from app.api.graphql.core.permissions import Serves
from app.api.graphql.schema import schema
from app.commands.ledger import verify_audit, verify_chains
from app.commands.policy import load_policy as load_policy_command
from app.domain import audit, mall, orders, partners, policy_loads, users, webhooks
from app.domain.audit import Actor
from app.domain.ledger import Entry, Post, acct, post
from app.domain.policy import PRESETS_DIR, clear_policy_cache, get_policy, load_policy
from app.domain.principals import Kind
from app.models.audit import AuditEntry, AuditHead
from app.models.ledger import Asset
from app.models.mall import MallItem
from app.models.merchants import Agent, Merchant, MerchantStatus
from app.models.users import Role, User
from app.models.webhooks import DeliveryStatus, WebhookDelivery
from app.services import webhooks as delivering
from app.services.mall import redeem_item
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for


def _admins_only(p: type) -> bool:
    """Of users, admins alone; of other callers at most partner apps (which manage their
    own webhooks through the same mutations an admin uses for any app's)."""
    if not issubclass(p, Serves):
        return False
    needs = dict(p.needs)
    return needs.get(Kind.USER) == frozenset({Role.ADMIN}) and set(needs) <= {
        Kind.USER,
        Kind.PARTNER,
    }


def admin_only_mutations() -> set[str]:
    """The Mutation fields whose permission serves, of users, admins alone, read off the
    schema."""
    definition = schema.get_type_by_name("Mutation")
    names = set()
    for field in definition.fields:  # type: ignore[union-attr]
        perms = field.permission_classes
        if perms and all(_admins_only(p) for p in perms):
            names.add(schema.config.name_converter.get_graphql_name(field))
    return names


def gid(kind: str, pk: int) -> str:
    return str(encode_id(kind, pk))


Call = Callable[[Any, str], Awaitable[tuple[str, str]]]


async def _merchant_status(client, token: str, mutation: str, start: MerchantStatus) -> str:
    m = await make_merchant(approve=False)
    await Merchant.filter(id=m.id).update(status=start)
    q = f"""mutation($id: ID!) {{ {mutation}(id: $id, reason: "checked") {{ __typename }} }}"""
    body = await gql(client, q, {"id": gid("Merchant", m.id)}, token)
    assert body["data"][mutation]["__typename"] == "MerchantSuccess", body
    return str(m.id)


async def approve(client, token):
    return "Merchant", await _merchant_status(
        client, token, "approveMerchant", MerchantStatus.PENDING
    )


async def suspend(client, token):
    return "Merchant", await _merchant_status(
        client, token, "suspendMerchant", MerchantStatus.APPROVED
    )


async def close(client, token):
    return "Merchant", await _merchant_status(
        client, token, "closeMerchant", MerchantStatus.APPROVED
    )


FREEZE = """mutation($u: ID!) { freezeUser(userId: $u, reason: "fraud") { __typename } }"""
UNFREEZE = """mutation($u: ID!) { unfreezeUser(userId: $u, reason: "cleared") { __typename } }"""


async def freeze(client, token):
    user = await make_user()
    body = await gql(client, FREEZE, {"u": gid("User", user.id)}, token)
    assert body["data"]["freezeUser"]["__typename"] == "UserFrozen"
    return "User", str(user.id)


async def unfreeze(client, token):
    user = await make_user(is_active=False)
    body = await gql(client, UNFREEZE, {"u": gid("User", user.id)}, token)
    assert body["data"]["unfreezeUser"]["__typename"] == "UserUnfrozen"
    return "User", str(user.id)


async def channel_status(client, token):
    q = """mutation { setChannelStatus(channel: "alipay", live: false, reason: "outage") {
      __typename } }"""
    body = await gql(client, q, None, token)
    assert body["data"]["setChannelStatus"]["__typename"] == "PaymentChannelStatus", body
    return "Channel", "alipay"


async def merchant_channels(client, token):
    m = await make_merchant()
    q = """mutation($m: ID!) { setMerchantChannels(merchantId: $m, reason: "onboarding",
      channels: [{channel: "alipay", priority: 5}]) { __typename } }"""
    body = await gql(client, q, {"m": gid("Merchant", m.id)}, token)
    assert body["data"]["setMerchantChannels"]["__typename"] == "MerchantChannelsPayload", body
    return "Merchant", str(m.id)


async def reverse(client, token):
    order = await paid_order(await make_user(), await make_merchant(discount_bps=2000), 10_000)
    assert await orders.settle_order(order.id) == 1
    q = """mutation($o: ID!) { reverseOrderAfterWindow(orderId: $o, reason: "chargeback",
      reversalKey: "k-1") { __typename } }"""
    body = await gql(client, q, {"o": gid("Order", order.id)}, token)
    assert body["data"]["reverseOrderAfterWindow"]["__typename"] == "ReverseOrderSuccess", body
    return "Order", str(order.id)


async def appoint(client, token):
    user = await make_user()
    q = """mutation($u: ID!) { appointAgent(userId: $u, level: "city", regionCode: "440300",
      reason: "signed") {
      __typename ... on AgentAppointed { agency { id } } } }"""
    body = await gql(client, q, {"u": gid("User", user.id)}, token)
    assert body["data"]["appointAgent"]["__typename"] == "AgentAppointed", body
    return "Agent", str((await Agent.get(user_id=user.id)).id)


async def end(client, token):
    agent = await Agent.create(user=await make_user(Role.AGENT), level="city", region_code="440300")
    q = """mutation($a: ID!) { endAgency(agentId: $a, reason: "term over") { __typename } }"""
    body = await gql(client, q, {"a": gid("Agent", agent.id)}, token)
    assert body["data"]["endAgency"]["__typename"] == "AgencyEnded", body
    return "Agent", str(agent.id)


async def _mall_item(stock: int = 3) -> MallItem:
    return await mall.create_item(
        get_policy(), name="Mug", description="", price=1_500, stock=stock
    )


async def _held_redemption() -> int:
    item = await _mall_item()
    consumer = await make_user()
    await post(
        Entry(
            "test_coins",
            f"user:{consumer.id}",
            [Post(acct.issuer(Asset.GOLD_COINS), acct.consumer_gold_coins(consumer.id), 5_000)],
        )
    )
    r = await redeem_item(consumer_id=consumer.id, item_id=item.id, quantity=1, idempotency_key="k")
    return r.id


async def create_item(client, token):
    q = """mutation { createMallItem(input: {name: "Mug", price: 1500, stock: 2}) {
      __typename ... on MallItem { id } } }"""
    body = await gql(client, q, None, token)
    assert body["data"]["createMallItem"]["__typename"] == "MallItem", body
    return "MallItem", str((await MallItem.get(name="Mug")).id)


async def update_item(client, token):
    item = await _mall_item()
    q = """mutation($i: ID!) { updateMallItem(input: {itemId: $i, stockChange: 5}) {
      __typename } }"""
    body = await gql(client, q, {"i": gid("MallItem", item.id)}, token)
    assert body["data"]["updateMallItem"]["__typename"] == "MallItem", body
    return "MallItem", str(item.id)


async def deactivate_item(client, token):
    item = await _mall_item()
    q = """mutation($i: ID!) { deactivateMallItem(itemId: $i) { __typename } }"""
    body = await gql(client, q, {"i": gid("MallItem", item.id)}, token)
    assert body["data"]["deactivateMallItem"]["__typename"] == "MallItem", body
    return "MallItem", str(item.id)


async def fulfil(client, token):
    rid = await _held_redemption()
    q = """mutation($r: ID!) { fulfilRedemption(redemptionId: $r) { __typename } }"""
    body = await gql(client, q, {"r": gid("MallRedemption", rid)}, token)
    assert body["data"]["fulfilRedemption"]["__typename"] == "MallRedemption", body
    return "MallRedemption", str(rid)


async def void(client, token):
    rid = await _held_redemption()
    q = """mutation($r: ID!) { voidRedemption(redemptionId: $r) { __typename } }"""
    body = await gql(client, q, {"r": gid("MallRedemption", rid)}, token)
    assert body["data"]["voidRedemption"]["__typename"] == "MallRedemption", body
    return "MallRedemption", str(rid)


PARTNER_CREATE = """mutation($n: String!) { createPartnerApp(name: $n, scopes: ["read:orders"]) {
  __typename ... on PartnerAppCreated { app { id } } } }"""


async def _partner_app(client, token, name: str) -> str:
    body = await gql(client, PARTNER_CREATE, {"n": name}, token)
    assert body["data"]["createPartnerApp"]["__typename"] == "PartnerAppCreated", body
    return body["data"]["createPartnerApp"]["app"]["id"]


async def create_partner(client, token):
    app_gid = await _partner_app(client, token, "Audit Co")
    return "PartnerApp", str(decode_id(app_gid, "PartnerApp", "id"))


async def rotate_partner(client, token):
    app_gid = await _partner_app(client, token, "Rotate Co")
    q = """mutation($a: ID!) { rotatePartnerSecret(appId: $a, graceSeconds: 60) { __typename } }"""
    body = await gql(client, q, {"a": app_gid}, token)
    assert body["data"]["rotatePartnerSecret"]["__typename"] == "PartnerSecretRotated", body
    return "PartnerApp", str(decode_id(app_gid, "PartnerApp", "id"))


async def revoke_partner(client, token):
    app_gid = await _partner_app(client, token, "Revoke Co")
    q = """mutation($a: ID!) { revokePartnerApp(appId: $a, reason: "contract ended") {
      __typename } }"""
    body = await gql(client, q, {"a": app_gid}, token)
    assert body["data"]["revokePartnerApp"]["__typename"] == "PartnerAppRevoked", body
    return "PartnerApp", str(decode_id(app_gid, "PartnerApp", "id"))


async def refund(client, token):
    order = await paid_order(await make_user(), await make_merchant(), 10_000)
    q = """mutation($o: ID!) { refundOrder(orderId: $o, amountFen: 2500, refundKey: "adm-1") {
      __typename } }"""
    for _ in range(2):  # a repeat under the same key is the same refund, recorded once
        body = await gql(client, q, {"o": gid("Order", order.id)}, token)
        assert body["data"]["refundOrder"]["__typename"] == "RefundOrderSuccess", body
    [e] = await AuditEntry.filter(action="refundOrder")
    assert json.loads(e.before) == {"status": "paid", "refunded_fen": 0}
    assert json.loads(e.after)["refunded_fen"] == 2500
    return "Order", str(order.id)


HOOK_URL = "http://127.0.0.1:9/hooks"  # nothing listens there: a delivery fails at once


async def _hooked_app(name: str) -> tuple[int, int]:
    """A partner app with a webhook subscription it made itself: (app id, its id)."""
    app = (await partners.create_app(name, ("read:orders", "manage:webhooks"))).app
    sub = await webhooks.create_subscription(
        app.id, HOOK_URL, ["order.paid"], actor=webhooks.actor_of_app(app.id)
    )
    return app.id, sub.id


async def create_hook(client, token):
    app = (await partners.create_app("Hook Co", ("read:orders", "manage:webhooks"))).app
    q = """mutation($a: ID!, $u: String!) { createWebhookSubscription(input: {
      partnerAppId: $a, url: $u, events: ["order.paid"]}) {
      __typename ... on WebhookSubscriptionPayload { subscription { id } } } }"""
    body = await gql(client, q, {"a": gid("PartnerApp", app.id), "u": HOOK_URL}, token)
    got = body["data"]["createWebhookSubscription"]
    assert got["__typename"] == "WebhookSubscriptionPayload", body
    sid = decode_id(got["subscription"]["id"], "WebhookSubscription", "id")
    return "WebhookSubscription", str(sid)


async def update_hook(client, token):
    _, sid = await _hooked_app("Update Hook Co")
    q = """mutation($i: ID!) { updateWebhookSubscription(input: {id: $i, active: false}) {
      __typename } }"""
    body = await gql(client, q, {"i": gid("WebhookSubscription", sid)}, token)
    assert body["data"]["updateWebhookSubscription"]["__typename"] == "WebhookSubscriptionPayload"
    return "WebhookSubscription", str(sid)


async def delete_hook(client, token):
    _, sid = await _hooked_app("Delete Hook Co")
    q = """mutation($i: ID!) { deleteWebhookSubscription(id: $i) {
      ... on WebhookSubscriptionDeleted { deleted } } }"""
    body = await gql(client, q, {"i": gid("WebhookSubscription", sid)}, token)
    assert body["data"]["deleteWebhookSubscription"]["deleted"] is True, body
    return "WebhookSubscription", str(sid)


async def redeliver_hook(client, token):
    _, sid = await _hooked_app("Redeliver Hook Co")
    d = await WebhookDelivery.create(
        webhook_id=uuid.uuid4(),
        subscription_id=sid,
        event_id=uuid.uuid4(),
        event_kind="order.paid",
        body="{}",
        status=DeliveryStatus.FAILED,
        attempts=8,
        next_attempt_at=datetime.now(UTC),
        event_at=datetime.now(UTC),
    )
    q = """mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { __typename } }"""
    body = await gql(client, q, {"d": gid("WebhookDelivery", d.id)}, token)
    assert body["data"]["redeliverWebhook"]["__typename"] == "WebhookRedelivery", body
    await delivering.settled()
    return "WebhookDelivery", str(d.id)


# How to call each admin mutation successfully. A new admin mutation needs its line here.
CALLS: dict[str, Call] = {
    "approveMerchant": approve,
    "suspendMerchant": suspend,
    "closeMerchant": close,
    "freezeUser": freeze,
    "unfreezeUser": unfreeze,
    "setChannelStatus": channel_status,
    "setMerchantChannels": merchant_channels,
    "reverseOrderAfterWindow": reverse,
    "appointAgent": appoint,
    "endAgency": end,
    "createMallItem": create_item,
    "updateMallItem": update_item,
    "deactivateMallItem": deactivate_item,
    "fulfilRedemption": fulfil,
    "voidRedemption": void,
    "createPartnerApp": create_partner,
    "rotatePartnerSecret": rotate_partner,
    "revokePartnerApp": revoke_partner,
    "refundOrder": refund,
    "createWebhookSubscription": create_hook,
    "updateWebhookSubscription": update_hook,
    "deleteWebhookSubscription": delete_hook,
    "redeliverWebhook": redeliver_hook,
}
# webhook subscriptions' changes carry no reason
HOOKS = {
    "createWebhookSubscription",
    "updateWebhookSubscription",
    "deleteWebhookSubscription",
    "redeliverWebhook",
}
# mutations that serve others too (a store's own people refund its orders) but are
# admin changes when an admin makes them: recorded then
ADMIN_TOO = {"refundOrder"}
# the mall's mutations run under a preset with a mall, and take no reason
MALL = {
    "createMallItem",
    "updateMallItem",
    "deactivateMallItem",
    "fulfilRedemption",
    "voidRedemption",
}
# a partner app's creation and a rotation carry no reason; a revocation does
WITH_REASON = set(CALLS) - MALL - HOOKS - {"createPartnerApp", "rotatePartnerSecret", "refundOrder"}


def test_the_walk_finds_the_admin_mutations() -> None:
    found = admin_only_mutations()
    # a field any signed-in user may call is not one of them
    assert {"approveMerchant", "freezeUser", "appointAgent"} <= found
    # admins for any app, partner apps for their own
    assert found >= HOOKS
    assert not {"applyMerchant", "refundOrder", "createOrder"} & found


@pytest.mark.parametrize("mutation", sorted(admin_only_mutations() | ADMIN_TOO))
async def test_every_admin_mutation_records_who_what_and_why(
    client, mutation, settings, monkeypatch
):
    assert mutation in CALLS, f"{mutation} is an admin mutation with no audit check: add one"
    if mutation in MALL:
        monkeypatch.setattr(settings, "policy", "wodian")
        clear_policy_cache()
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id)
    before = await AuditEntry.all().count()
    target_type, target_id = await CALLS[mutation](client, token)
    made = await AuditEntry.filter(action=mutation).order_by("seq")
    assert len(made) == 1, f"{mutation} recorded {len(made)} audit entries"
    e = made[0]
    assert (e.actor_kind, e.actor_id) == ("user", admin.id)
    assert (e.target_type, e.target_id) == (target_type, target_id)
    assert bool(e.reason) == (mutation in WITH_REASON)
    assert json.loads(e.before) != json.loads(e.after)
    assert await AuditEntry.all().count() > before
    assert (await audit.verify()).ok
    clear_policy_cache()


AUDIT_LOG = """query($first: Int, $after: String, $actor: ID, $action: String) {
  auditLog(first: $first, after: $after, actor: $actor, action: $action) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { seq actorKind actorId action targetType targetId before after reason } } } }"""


async def test_admins_read_the_log_newest_first_by_actor_and_action(client):
    admin, other = await make_user(Role.ADMIN), await make_user(Role.ADMIN)
    token, other_token = await token_for(admin.id), await token_for(other.id)
    await freeze(client, token)
    await unfreeze(client, token)
    await freeze(client, other_token)
    body = await gql(client, AUDIT_LOG, {"actor": gid("User", admin.id)}, token)
    log = body["data"]["auditLog"]
    assert log["totalCount"] == 2
    assert [e["node"]["action"] for e in log["edges"]] == ["unfreezeUser", "freezeUser"]
    node = log["edges"][1]["node"]
    assert node["actorId"] == gid("User", admin.id) and node["targetType"] == "User"
    assert json.loads(node["before"]) == {"is_active": True}
    assert json.loads(node["after"]) == {"is_active": False}
    assert node["reason"] == "fraud"
    body = await gql(client, AUDIT_LOG, {"action": "freezeUser", "first": 1}, token)
    page = body["data"]["auditLog"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    nxt = await gql(
        client, AUDIT_LOG, {"action": "freezeUser", "after": page["pageInfo"]["endCursor"]}, token
    )
    assert [e["node"]["actorId"] for e in nxt["data"]["auditLog"]["edges"]] == [
        gid("User", admin.id)
    ]
    # pages are capped at 100
    big = await gql(client, AUDIT_LOG, {"first": 101}, token, expect_errors=True)
    assert big["errors"][0]["extensions"]["code"] == "INVALID"


async def test_only_admins_read_the_log(client):
    user = await make_user(Role.AGENT)
    body = await gql(client, AUDIT_LOG, {}, await token_for(user.id), expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_a_refused_change_records_nothing(client):
    token = await token_for((await make_user(Role.ADMIN)).id)
    m = await make_merchant()
    await Merchant.filter(id=m.id).update(status=MerchantStatus.CLOSED)
    before = await AuditEntry.all().count()
    q = """mutation($id: ID!) { approveMerchant(id: $id) { __typename
      ... on MerchantError { code } } }"""
    body = await gql(client, q, {"id": gid("Merchant", m.id)}, token)
    assert body["data"]["approveMerchant"]["code"] == "INVALID_STATE"
    assert await AuditEntry.all().count() == before


async def test_the_record_commits_with_the_change_or_not_at_all(db):
    user = await make_user()
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await User.filter(id=user.id).using_db(conn).update(role=Role.AGENT)
            await audit.record(conn, Actor.operator(), "set-role", ("User", user.id), {}, {}, "x")
            raise RuntimeError("the change fails after its record was written")
    assert await AuditEntry.all().count() == 0
    assert (await User.get(id=user.id)).role == Role.CONSUMER


async def _three_entries() -> list[AuditEntry]:
    for n in range(3):
        async with in_transaction() as conn:
            await audit.record(
                conn, Actor.admin(1), "freezeUser", ("User", n + 1), {"a": n}, {"a": n + 1}, "r"
            )
    return await AuditEntry.all().order_by("seq")


async def test_an_edited_entry_is_detected(db):
    entries = await _three_entries()
    assert (await audit.verify()).ok
    await AuditEntry.filter(id=entries[1].id).update(after='{"a":99}')
    report = await audit.verify()
    assert not report.ok and "seq 2" in (report.problem or "")


async def test_a_deleted_entry_is_detected(db):
    entries = await _three_entries()
    await AuditEntry.filter(id=entries[1].id).delete()
    report = await audit.verify()
    assert not report.ok and "gap" in (report.problem or "")


async def test_the_newest_entry_deleted_is_detected(db):
    entries = await _three_entries()
    await AuditEntry.filter(id=entries[2].id).delete()
    report = await audit.verify()
    assert not report.ok and "removed" in (report.problem or "")


async def test_a_rewritten_chain_is_detected_by_its_head(db):
    # an entry rewritten with its hash recomputed still disagrees with the head row
    entries = await _three_entries()
    e = entries[2]
    forged = audit.entry_hash(
        e.prev_hash, e.seq, e.at, e.actor_kind, e.actor_id, e.action,
        e.target_type, e.target_id, e.before, '{"a":0}', e.reason,
    )  # fmt: skip
    await AuditEntry.filter(id=e.id).update(after='{"a":0}', hash=forged)
    report = await audit.verify()
    assert not report.ok and "head" in (report.problem or "")
    assert (await AuditHead.get(id=1)).seq == 3


async def test_an_entry_put_in_past_the_head_is_detected(db):
    entries = await _three_entries()
    e = entries[2]
    at, after = e.at, '{"a":4}'
    forged = audit.entry_hash(
        e.hash, 4, at, e.actor_kind, e.actor_id, e.action, e.target_type, e.target_id,
        e.before, after, e.reason,
    )  # fmt: skip
    await AuditEntry.create(
        seq=4, at=at, actor_kind=e.actor_kind, actor_id=e.actor_id, action=e.action,
        target_type=e.target_type, target_id=e.target_id, before=e.before, after=after,
        reason=e.reason, prev_hash=e.hash, hash=forged,
    )  # fmt: skip
    report = await audit.verify()
    assert not report.ok and "past seq 3" in (report.problem or "")


async def test_verify_ledger_checks_the_audit_trail_too(db, capsys):
    entries = await _three_entries()
    assert await verify_chains() == 0
    assert "audit trail OK: 3 entries" in capsys.readouterr().out
    await AuditEntry.filter(id=entries[0].id).update(reason="edited")
    assert await verify_chains() == 1
    assert await verify_audit() == 1
    assert "audit trail BROKEN after 0 good entries" in capsys.readouterr().err


@pytest.mark.postgres
async def test_concurrent_changes_make_one_chain(db):
    # the head row serialises appends: no two entries share a place, none is lost
    admin = await make_user(Role.ADMIN)
    people = [await make_user() for _ in range(12)]
    await asyncio.gather(
        *(users.freeze_user(p.id, by_user_id=admin.id, reason="sweep") for p in people)
    )
    assert [e.seq for e in await AuditEntry.all().order_by("seq")] == list(range(1, 13))
    report = await audit.verify()
    assert report.ok and report.entries == 12


async def test_the_set_role_command_is_recorded_as_an_operator_change(db):
    user = await make_user()
    await users.set_role(user.id, Role.ADMIN, reason="new ops lead")
    [e] = await AuditEntry.filter(action="set-role")
    assert (e.actor_kind, e.actor_id, e.target_type, e.target_id) == (
        "operator", None, "User", str(user.id)
    )  # fmt: skip
    assert (json.loads(e.before), json.loads(e.after), e.reason) == (
        {"role": "consumer"}, {"role": "admin"}, "new ops lead"
    )  # fmt: skip
    # the same role again changes nothing and records nothing
    await users.set_role(user.id, Role.ADMIN)
    assert await AuditEntry.filter(action="set-role").count() == 1


async def test_a_stores_own_refund_is_no_admin_change(client):
    order = await paid_order(await make_user(), store := await make_merchant(), 10_000)
    owner = await token_for(store.owner_id, "merchant_owner")
    q = """mutation($o: ID!) { refundOrder(orderId: $o, amountFen: 100, refundKey: "own-1") {
      __typename } }"""
    body = await gql(client, q, {"o": gid("Order", order.id)}, owner)
    assert body["data"]["refundOrder"]["__typename"] == "RefundOrderSuccess", body
    assert not await AuditEntry.filter(action="refundOrder").exists()


async def test_policy_loads_are_recorded_when_the_policy_changes(db, tmp_path, capsys):
    """Each process records the policy it loads (name, SHA-256, who, when); the same
    policy again records nothing, another one or the same file edited does, and the
    operator's `load-policy` command records its reason."""
    first = await policy_loads.record_load("zhongdian", by="api")
    assert first is not None
    after = json.loads(first.after)
    shipped = (PRESETS_DIR / "zhongdian.toml").read_bytes()
    assert after["sha256"] == hashlib.sha256(shipped).hexdigest()
    assert (after["name"], after["loaded_by"], after["file"]) == (
        get_policy_named("zhongdian"), "api", "zhongdian.toml"
    )  # fmt: skip
    assert (first.actor_kind, first.action, first.target_type) == (
        "operator", "loadPolicy", "Policy"
    )  # fmt: skip
    assert json.loads(first.before) == {}
    # restarts on the same policy: nothing more
    assert await policy_loads.record_load("zhongdian", by="worker") is None
    assert await AuditEntry.filter(action="loadPolicy").count() == 1

    # an operator's own file, then the same file edited: each a load, before → after
    own = tmp_path / "own.toml"
    own.write_bytes(shipped)
    copied = await policy_loads.record_load(str(own), by="worker")
    assert copied is None  # the same policy, byte for byte, under another path
    own.write_bytes(shipped.replace(b"description", b"# edited\ndescription", 1))
    edited = await policy_loads.record_load(str(own), by="worker")
    assert edited is not None
    assert json.loads(edited.before)["sha256"] == after["sha256"]
    assert json.loads(edited.after)["sha256"] != after["sha256"]

    # the command: validated, with its reason; a bad file refused, recording nothing
    assert await load_policy_command("wodian", "") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 1\n", encoding="utf-8")
    assert await load_policy_command(str(bad), "try") == 2
    assert await AuditEntry.filter(action="loadPolicy").count() == 2
    assert await load_policy_command("wodian", "Q3 rollout") == 0
    [e] = await AuditEntry.filter(action="loadPolicy").order_by("-seq").limit(1)
    assert (e.target_id, e.reason, json.loads(e.after)["loaded_by"]) == (
        get_policy_named("wodian"), "Q3 rollout", "cli"
    )  # fmt: skip
    assert "policy load recorded" in capsys.readouterr().out
    assert (await audit.verify()).ok


def get_policy_named(preset: str) -> str:
    return load_policy(preset).name
