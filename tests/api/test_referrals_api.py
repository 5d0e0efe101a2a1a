"""Invite codes, the referral tree and a store's customers through GraphQL (SPEC §6):
typed refusals, masking, pages, and a fixed number of SQL statements however many."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from strawberry.relay import GlobalID
from tortoise import connections

from app.domain import merchants, orders, referrals
from app.infra import outbox
from app.models.merchants import MerchantStaff
from app.models.users import Role, User
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

pytestmark = pytest.mark.postgres

CODE = "query { myInviteCode { code link } }"
ACCEPT = """mutation($c: String!) { acceptInvite(code: $c) { __typename
  ... on InviteAccepted { inviterName }
  ... on ReferralError { code field message } } }"""
TREE = """query($d: Int!, $n: Int, $a: String) { referralTree(depth: $d, first: $n, after: $a) {
  depth levels { level inviteeCount earnedFen pendingFen }
  invitees { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { level name phone joinedAt earnedFen } } } } }"""
CUSTOMERS = """query($m: ID!, $n: Int, $a: String) {
  merchantCustomers(merchantId: $m, first: $n, after: $a) {
  customerCount orderCount orderAmountFen rewardFen
  customers { totalCount pageInfo { hasNextPage endCursor }
    edges { node { name phone boundAt orderCount orderAmountFen rewardFen } } } } }"""


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Tortoise logs each statement it sends as "<sql>: <values>" before sending it
        if record.args:
            self.statements.append(str(record.args[0]))


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL statements sent while inside, as Tortoise's client logs them."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Counter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _user_token(user: User) -> str:
    return await token_for(user.id, user.role.value)


async def test_a_code_accepted_once_with_a_typed_refusal_for_each_rule(client, db):
    inviter = await make_user(nickname="张三丰")
    invitee, other = await make_user(), await make_user()
    t_inviter, t_invitee = await _user_token(inviter), await _user_token(invitee)

    mine = (await gql(client, CODE, token=t_inviter))["data"]["myInviteCode"]
    assert (await gql(client, CODE, token=t_inviter))["data"]["myInviteCode"] == mine
    assert mine["link"].endswith("/i/" + mine["code"]) and len(mine["code"]) == 8

    async def accept(token: str, code: str) -> dict:
        return (await gql(client, ACCEPT, {"c": code}, token))["data"]["acceptInvite"]

    ok = await accept(t_invitee, mine["link"])
    assert ok == {"__typename": "InviteAccepted", "inviterName": "张**"}
    assert await accept(t_invitee, mine["code"]) == ok  # a repeat
    assert (await User.get(id=invitee.id)).inviter_id == inviter.id

    other_code = (await gql(client, CODE, token=await _user_token(other)))["data"]
    refusals = {
        "already": await accept(t_invitee, other_code["myInviteCode"]["code"]),
        "self": await accept(t_inviter, mine["code"]),
        "cycle": await accept(
            t_inviter, (await gql(client, CODE, token=t_invitee))["data"]["myInviteCode"]["code"]
        ),
        "unknown": await accept(await _user_token(other), "ZZZZZZZZ"),
    }
    assert {k: (v["__typename"], v["code"], v["field"]) for k, v in refusals.items()} == {
        "already": ("ReferralError", "INVITER_ALREADY_SET", "code"),
        "self": ("ReferralError", "INVITE_SELF", "code"),
        "cycle": ("ReferralError", "INVITE_CYCLE", "code"),
        "unknown": ("ReferralError", "INVITE_CODE_UNKNOWN", "code"),
    }
    assert refusals["self"]["message"] == "不能邀请自己"  # Chinese unless asked otherwise

    late, shop = await make_user(), await make_merchant()
    await paid_order(late, shop, 1_000)
    refused = await accept(await _user_token(late), mine["code"])
    assert refused["code"] == "INVITE_AFTER_FIRST_ORDER"
    assert (await User.get(id=late.id)).inviter_id is None


async def test_devices_and_strangers_do_not_reach_the_tree_or_a_stores_customers(client, db):
    shop = await make_merchant()
    stranger = await make_user()
    device, _ = await merchants.register_pos_device(shop.owner_id, shop.id, "SN-REF-1")  # type: ignore[attr-defined]
    t_device = await token_for(device.id, "pos_device")
    m = str(GlobalID("Merchant", str(shop.id)))
    for token, query, variables in (
        (t_device, TREE, {"d": 1}),
        (t_device, CODE, {}),
        (t_device, CUSTOMERS, {"m": m}),
        (await _user_token(stranger), CUSTOMERS, {"m": m}),
    ):
        body = await gql(client, query, variables, token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED", body
        assert not body.get("data")


async def test_tree_arguments_are_checked(client, db):
    token = await _user_token(await make_user())
    for variables, field in (
        ({"d": 3}, "depth"),
        ({"d": 0}, "depth"),
        ({"d": 2, "n": 101}, "first"),
        ({"d": 2, "a": "bm90IGEgY3Vyc29y"}, "after"),
        ({"d": 2, "a": "azozLjE="}, "after"),  # k:3.1 - no third level
        ({"d": 2, "a": "azoxLjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ=="}, "after"),  # past bigint
        ({"d": 2, "a": "azoxLu+8kQ=="}, "after"),  # k:1.１ (a full-width digit)
    ):
        body = await gql(client, TREE, variables, token, expect_errors=True)
        ext = body["errors"][0]["extensions"]
        assert (ext["code"], ext.get("field")) == ("INVALID", field), body


async def _bulk_tree(root: User, level1: int, level2: int) -> None:
    """`level1` invitees of root and `level2` of theirs, in two statements."""
    conn = connections.get("default")
    await conn.execute_query(
        "INSERT INTO users (role, phone, nickname, inviter_id, is_active, created_at) "
        "SELECT 'consumer', '17' || lpad(($1 * 100000 + g)::text, 9, '0'), '', $1, true, now() "
        "FROM generate_series(1, $2) g",
        [root.id, level1],
    )
    await conn.execute_query(
        "INSERT INTO users (role, phone, nickname, inviter_id, is_active, created_at) "
        "SELECT 'consumer', '18' || lpad(($1 * 100000 + g)::text, 9, '0'), '', "
        "(SELECT id FROM users WHERE inviter_id = $1 ORDER BY id OFFSET (g % $3) LIMIT 1), "
        "true, now() FROM generate_series(1, $2) g",
        [root.id, level2, level1],
    )


async def _tree_statements(client, token: str) -> tuple[int, dict]:
    with counting_statements() as statements:
        first = await gql(client, TREE, {"d": 2, "n": 100}, token)
    tree = first["data"]["referralTree"]
    cursor = tree["invitees"]["pageInfo"]["endCursor"]
    with counting_statements() as more:
        await gql(client, TREE, {"d": 2, "n": 100, "a": cursor}, token)
    assert len(more) == len(statements)
    return len(statements), tree


async def test_the_tree_takes_the_same_few_statements_for_ten_thousand_invitees(client, db):
    small_root, big_root, shop = await make_user(), await make_user(), await make_merchant()
    small_token, big_token = await _user_token(small_root), await _user_token(big_root)
    await _bulk_tree(small_root, 2, 3)
    await _bulk_tree(big_root, 100, 9_900)
    # some of the big tree's invitees with real paid orders, on both levels
    level1 = await User.filter(inviter_id=big_root.id).order_by("id").first()
    level2 = await User.filter(inviter_id=level1.id).order_by("id").first()  # type: ignore[union-attr]
    for who in (level1, level2):
        await paid_order(who, shop, 10_000)  # type: ignore[arg-type]
    for token in (small_token, big_token):  # a first request reads its signer's state
        await gql(client, CODE, token=token)

    small, _ = await _tree_statements(client, small_token)
    big, tree = await _tree_statements(client, big_token)
    assert big == small and big <= 4, (small, big)
    assert [(lv["level"], lv["inviteeCount"]) for lv in tree["levels"]] == [(1, 100), (2, 9_900)]
    assert tree["invitees"]["totalCount"] == 10_000
    assert len(tree["invitees"]["edges"]) == 100 and tree["invitees"]["pageInfo"]["hasNextPage"]
    node = tree["invitees"]["edges"][0]["node"]
    assert node["level"] == 1 and node["name"] == node["phone"]
    assert node["phone"].startswith("17") and node["phone"][3:7] == "****"
    assert len(node["phone"]) == 11


async def test_pages_walk_the_whole_tree_once(client, db):
    root = await make_user()
    await _bulk_tree(root, 7, 30)
    token, seen, after = await _user_token(root), [], None
    while True:
        body = await gql(client, TREE, {"d": 2, "n": 8, "a": after}, token)
        page = body["data"]["referralTree"]["invitees"]
        seen += [(e["node"]["level"], e["cursor"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 37
    assert [lv for lv, _ in seen] == [1] * 7 + [2] * 30
    levels = (await gql(client, TREE, {"d": 1, "n": 100}, token))["data"]["referralTree"]
    assert levels["invitees"]["totalCount"] == 7 and len(levels["levels"]) == 1


async def test_a_store_sees_its_bound_customers_in_a_fixed_number_of_statements(client, db):
    shop, elsewhere = await make_merchant(), await make_merchant()
    owner = await User.get(id=shop.owner_id)  # type: ignore[attr-defined]
    staff = await make_user()
    await MerchantStaff.create(merchant_id=shop.id, user_id=staff.id)
    await User.filter(id=staff.id).update(role=Role.MERCHANT_STAFF)
    staff = await User.get(id=staff.id)
    buyer = await make_user(nickname="李四")
    await merchants.bind_by_qr(buyer.id, merchants.merchant_qr(shop.id))
    paid = await paid_order(buyer, elsewhere, 20_000)
    await orders.refund_order(paid.id, 4_000, refund_key="part")
    await outbox.drain()  # the events' consumers are done: what is counted is the request's
    m = str(GlobalID("Merchant", str(shop.id)))

    async def statements_for(token: str) -> tuple[int, dict]:
        await gql(client, CUSTOMERS, {"m": m, "n": 100}, token)  # warm the principal
        with counting_statements() as statements:
            body = await gql(client, CUSTOMERS, {"m": m, "n": 100}, token)
        return len(statements), body["data"]["merchantCustomers"]

    few, seen = await statements_for(await _user_token(owner))
    assert seen["customerCount"] == 1 and seen["orderCount"] == 1
    assert seen["orderAmountFen"] == 16_000 and seen["rewardFen"] > 0
    node = seen["customers"]["edges"][0]["node"]
    assert node["name"] == "李**" and node["phone"].count("*") == 4
    assert (node["orderCount"], node["orderAmountFen"], node["rewardFen"]) == (
        1,
        16_000,
        seen["rewardFen"],
    )
    # the staff see the same; ten thousand more customers cost no more statements
    assert (await statements_for(await _user_token(staff)))[1] == seen
    root = await make_user()
    await _bulk_tree(root, 100, 9_900)
    await connections.get("default").execute_query(
        "INSERT INTO consumer_bindings (consumer_id, merchant_id, created_at) "
        "SELECT id, $1, now() FROM users WHERE inviter_id IS NOT NULL "
        "AND id NOT IN (SELECT consumer_id FROM consumer_bindings)",
        [shop.id],
    )
    many, seen_many = await statements_for(await _user_token(owner))
    assert seen_many["customerCount"] == 10_001
    assert len(seen_many["customers"]["edges"]) == 100
    assert many == few and many <= 4, (few, many)


async def test_the_referral_reward_of_a_real_order_shows_per_invitee(client, db, settings):
    from app.domain.policy import clear_policy_cache

    old = settings.policy
    settings.policy = "wodian"  # 5% to the first level
    clear_policy_cache()
    try:
        root, friend, shop = (
            await make_user(),
            await make_user(),
            await make_merchant(discount_bps=2_000),
        )
        await referrals.accept_invite(friend.id, await referrals.invite_code(root.id))
        order = await paid_order(friend, shop, 10_000)
        reward = sum(p["fen"] for p in order.settlement["parties"] if p["kind"] == "inviter")
        tree = (await gql(client, TREE, {"d": 2}, await _user_token(root)))["data"]["referralTree"]
    finally:
        settings.policy = old
        clear_policy_cache()
    assert reward == 500  # 5% of the order's 100 yuan
    assert tree["levels"][0]["earnedFen"] == reward == tree["levels"][0]["pendingFen"]
    assert tree["levels"][1]["earnedFen"] == 0
    assert tree["invitees"]["edges"][0]["node"]["earnedFen"] == reward


async def test_a_stores_page_cursor_is_checked(client, db):
    shop = await make_merchant()
    owner = await User.get(id=shop.owner_id)  # type: ignore[attr-defined]
    m = str(GlobalID("Merchant", str(shop.id)))
    for cursor in ("azo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "azotMQ==", "bm9wZQ=="):  # huge, -1, junk
        body = await gql(client, CUSTOMERS, {"m": m, "a": cursor}, await _user_token(owner), True)
        ext = body["errors"][0]["extensions"]
        assert (ext["code"], ext.get("field")) == ("INVALID", "after"), body
