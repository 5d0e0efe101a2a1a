"""Sessions follow the database; token errors say what is wrong; permissions keep nothing.

Each test signs in the way a client does and changes the account the way the product
does (an admin's freeze, a merchant approval, an operator's role change), then asks
again with the same token.
"""

from __future__ import annotations

import time

import jwt
import pytest
from strawberry.relay import GlobalID

from app.domain import partners, tokens, users
from app.domain.ledger import acct, balances_named
from app.domain.partners import SCOPES
from app.domain.principals import Kind
from app.models.users import AccountFreeze, Role, User
from app.services import auth
from tests.factories import give_vouchers, make_merchant, make_user, paid_order
from tests.fakes.server import serve
from tests.fakes.wechat import WeChatFake
from tests.helpers import gql, token_for

ME = "{ me { id role frozen } }"
WALLET = "{ wallet { vouchersFen pointsPending } }"
ADMIN_PROBE = "{ adminUsers { totalCount } }"
LOGIN_WX = """mutation($c: String!) { loginWithWechat(code: $c) {
  __typename ... on AuthPayload { accessToken refreshToken } ... on AuthError { code } } }"""
SMS_REQ = "mutation($p: String!) { requestSmsCode(phone: $p) { __typename } }"
SMS_LOGIN = """mutation($p: String!, $c: String!) { loginWithSms(phone: $p, code: $c) {
  __typename ... on AuthPayload { accessToken refreshToken user { id } }
  ... on AuthError { code field message } } }"""
REFRESH = """mutation($t: String!) { refreshToken(refreshToken: $t) { __typename
  ... on AuthPayload { accessToken refreshToken } ... on AuthError { code field } } }"""
FREEZE = """mutation($u: ID!, $r: String!) { freezeUser(userId: $u, reason: $r) { __typename
  ... on UserFrozen { user { id frozen } record { frozen reason byUserId at } }
  ... on AccountError { code field message } } }"""
UNFREEZE = """mutation($u: ID!, $r: String!) { unfreezeUser(userId: $u, reason: $r) {
  __typename ... on UserUnfrozen { user { frozen } record { frozen reason } }
  ... on AccountError { code field } } }"""
CREATE = """mutation($m: ID!) { createOrder(input: {merchantId: $m, amountFen: 1000,
  idempotencyKey: "frozen-1"}) { __typename ... on OrderError { code } } }"""


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


def code_of(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


@pytest.fixture
def wechat(settings, monkeypatch):
    fake = WeChatFake(settings.wechat_appid, settings.wechat_secret)
    with serve(fake.app) as url:
        monkeypatch.setattr(settings, "wechat_api_base", url)
        yield fake


async def _wechat_login(client, wechat, openid: str) -> dict:
    code = wechat.issue_code(openid)
    return (await gql(client, LOGIN_WX, {"c": code}))["data"]["loginWithWechat"]


@pytest.fixture
def sms():
    sender = auth.MemorySmsSender()
    auth.set_sms_sender(sender)
    yield sender
    auth.set_sms_sender(None)


async def _sms_login(client, sms, phone: str) -> dict:
    await gql(client, SMS_REQ, {"p": phone})
    code = sms.sent[-1][1].rsplit(" ", 1)[-1]
    return (await gql(client, SMS_LOGIN, {"p": phone, "c": code}))["data"]["loginWithSms"]


async def _wallet_balances(user_id: int) -> dict[str, int]:
    return await balances_named(
        vouchers=acct.consumer_voucher(user_id),
        points_pending=acct.consumer_points(user_id, "pending"),
        vouchers_pending=acct.pending(acct.consumer_voucher(user_id)),
    )


async def test_a_frozen_account_is_refused_from_its_next_request_and_keeps_its_balances(
    client, db, wechat
):
    # given a consumer signed in with WeChat, with vouchers and a paid order
    login = await _wechat_login(client, wechat, "openid-frozen")
    access, refresh = login["accessToken"], login["refreshToken"]
    consumer = await User.get(wechat_openid="openid-frozen")
    store = await make_merchant()
    await give_vouchers(consumer.id, 500)
    await paid_order(consumer, store, 10_000)
    before = await _wallet_balances(consumer.id)
    wallet_before = (await gql(client, WALLET, token=access))["data"]["wallet"]
    admin = await make_user(Role.ADMIN)
    admin_token = await token_for(admin.id)

    # when an admin freezes the account, saying why
    res = (await gql(client, FREEZE, {"u": gid("User", consumer.id), "r": "chargeback fraud"},
                     admin_token))["data"]["freezeUser"]  # fmt: skip
    assert res["__typename"] == "UserFrozen" and res["user"]["frozen"] is True
    assert res["record"]["reason"] == "chargeback fraud"
    assert res["record"]["byUserId"] == gid("User", admin.id)

    # then the very next request with the same token is refused, typed
    for query, variables in [(ME, {}), (WALLET, {}), (CREATE, {"m": gid("Merchant", store.id)})]:
        body = await gql(client, query, variables, access, expect_errors=True)
        assert code_of(body) == "ACCOUNT_FROZEN", body
        assert all(value is None for value in (body["data"] or {}).values())
    # and so are a refresh and a new sign-in
    again = (await gql(client, REFRESH, {"t": refresh}))["data"]["refreshToken"]
    assert again == {"__typename": "AuthError", "code": "ACCOUNT_FROZEN", "field": None}
    login = await _wechat_login(client, wechat, "openid-frozen")
    assert login == {"__typename": "AuthError", "code": "ACCOUNT_FROZEN"}
    # and nothing moved: the balances are as they were, no order was opened
    assert await _wallet_balances(consumer.id) == before
    assert await consumer.orders.all().count() == 1  # type: ignore[attr-defined]

    # freezing again changes nothing and records nothing new
    res = (await gql(client, FREEZE, {"u": gid("User", consumer.id), "r": "again"},
                     admin_token))["data"]["freezeUser"]  # fmt: skip
    assert res["record"]["reason"] == "chargeback fraud"
    # when the freeze is lifted, the same login works again with the same balances
    res = (await gql(client, UNFREEZE, {"u": gid("User", consumer.id), "r": "cleared"},
                     admin_token))["data"]["unfreezeUser"]  # fmt: skip
    assert res == {"__typename": "UserUnfrozen", "user": {"frozen": False},
                   "record": {"frozen": False, "reason": "cleared"}}  # fmt: skip
    assert (await gql(client, WALLET, token=access))["data"]["wallet"] == wallet_before
    rotated = (await gql(client, REFRESH, {"t": refresh}))["data"]["refreshToken"]
    assert rotated["__typename"] == "AuthPayload"
    history = await AccountFreeze.filter(user_id=consumer.id).order_by("id")
    assert [(r.frozen, r.reason, r.by_user_id) for r in history] == [
        (True, "chargeback fraud", admin.id),
        (False, "cleared", admin.id),
    ]


async def test_only_an_admin_freezes_and_never_themselves(client, db):
    consumer, admin = await make_user(), await make_user(Role.ADMIN)
    body = await gql(client, FREEZE, {"u": gid("User", admin.id), "r": "x"},
                     await token_for(consumer.id), expect_errors=True)  # fmt: skip
    assert code_of(body) == "PERMISSION_DENIED"
    admin_token = await token_for(admin.id)
    res = (await gql(client, FREEZE, {"u": gid("User", admin.id), "r": "oops"}, admin_token))[
        "data"
    ]["freezeUser"]
    assert (res["code"], res["field"]) == ("INVALID", "userId")
    res = (await gql(client, FREEZE, {"u": gid("User", consumer.id), "r": "  "}, admin_token))[
        "data"
    ]["freezeUser"]
    assert (res["code"], res["field"]) == ("INVALID", "reason")
    res = (await gql(client, FREEZE, {"u": gid("User", 10_000), "r": "x"}, admin_token))["data"][
        "freezeUser"
    ]
    assert (res["code"], res["field"]) == ("NOT_FOUND", "userId")
    assert await User.filter(is_active=False).count() == 0
    assert await AccountFreeze.all().count() == 0


async def test_a_demoted_admin_loses_admin_on_the_next_request(client, db):
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id)
    assert (await gql(client, ADMIN_PROBE, token=token))["data"]["adminUsers"]["totalCount"] == 1
    await users.set_role(admin.id, Role.CONSUMER)
    body = await gql(client, ADMIN_PROBE, token=token, expect_errors=True)
    assert code_of(body) == "PERMISSION_DENIED"
    assert (await gql(client, ME, token=token))["data"]["me"]["role"] == "CONSUMER"


async def test_a_token_for_a_user_that_does_not_exist_is_refused(client, db):
    await make_user()
    body = await gql(client, ME, token=await token_for(4242), expect_errors=True)
    assert code_of(body) == "TOKEN_INVALID"
    # and a device token for a device that does not exist
    body = await gql(client, ME, token=await token_for(4242, "pos_device"), expect_errors=True)
    assert code_of(body) == "TOKEN_INVALID"


async def test_a_newly_approved_owner_acts_as_owner_without_signing_in_again(client, db, sms):
    login = await _sms_login(client, sms, "13822223333")
    access, refresh = login["accessToken"], login["refreshToken"]
    owner = await User.get(phone="13822223333")
    store = await make_merchant(owner=owner, approve=False)
    rate = """mutation($m: ID!) { setDiscountRate(merchantId: $m, discountBps: 1200) {
      __typename ... on MerchantSuccess { merchant { discountBps } } } }"""
    body = await gql(client, rate, {"m": gid("Merchant", store.id)}, access, expect_errors=True)
    assert code_of(body) == "PERMISSION_DENIED"  # still a consumer
    # when an admin approves the store
    admin_token = await token_for((await make_user(Role.ADMIN)).id)
    approve = "mutation($i: ID!) { approveMerchant(id: $i) { __typename } }"
    await gql(client, approve, {"i": gid("Merchant", store.id)}, admin_token)
    # then the token they hold is an owner's on its next request
    res = await gql(client, rate, {"m": gid("Merchant", store.id)}, access)
    assert res["data"]["setDiscountRate"]["merchant"]["discountBps"] == 1200
    # and a refresh carries the role the database gives, not the one signed in with
    rotated = (await gql(client, REFRESH, {"t": refresh}))["data"]["refreshToken"]
    assert "role" not in jwt.decode(rotated["accessToken"], options={"verify_signature": False})
    res = await gql(client, rate, {"m": gid("Merchant", store.id)}, rotated["accessToken"])
    assert res["data"]["setDiscountRate"]["__typename"] == "MerchantSuccess"
    assert (await gql(client, ME, token=rotated["accessToken"]))["data"]["me"]["role"] == (
        "MERCHANT_OWNER"
    )


async def test_staff_added_to_a_store_serve_it_on_their_next_request(client, db):
    store, staff = await make_merchant(), await make_user()
    token = await token_for(staff.id)
    orders_q = "query($m: ID!) { merchantOrders(merchantId: $m) { totalCount } }"
    m = {"m": gid("Merchant", store.id)}
    assert code_of(await gql(client, orders_q, m, token, expect_errors=True)) == (
        "PERMISSION_DENIED"
    )
    add = """mutation($m: ID!, $u: ID!) { addMerchantStaff(merchantId: $m, userId: $u) {
      __typename } }"""
    owner_token = await token_for(store.owner_id)
    await gql(client, add, {**m, "u": gid("User", staff.id)}, owner_token)
    assert (await gql(client, orders_q, m, token))["data"]["merchantOrders"]["totalCount"] == 0


async def test_an_anonymous_caller_after_a_bad_token_is_told_unauthenticated(client, db):
    user = await make_user()
    token = await token_for(user.id)
    for query in (ME, WALLET, ADMIN_PROBE):
        bad = await gql(client, query, token=token[:-3] + "xyz", expect_errors=True)
        assert code_of(bad) == "TOKEN_INVALID"
        anonymous = await gql(client, query, expect_errors=True)
        assert code_of(anonymous) == "UNAUTHENTICATED", anonymous
        assert anonymous["errors"][0]["message"] == "请先登录"
    # and a refusal of one kind is not told to the next caller either
    await users.set_role(user.id, Role.CONSUMER)
    assert code_of(await gql(client, ADMIN_PROBE, token=token, expect_errors=True)) == (
        "PERMISSION_DENIED"
    )
    assert code_of(await gql(client, ADMIN_PROBE, expect_errors=True)) == "UNAUTHENTICATED"


def _claims(settings, **over) -> dict:
    now = int(time.time())
    return {"iss": settings.jwt_issuer, "typ": "access", "fam": "f1", "iat": now,
            "exp": now + 60, **over}  # fmt: skip


async def test_the_three_token_errors(client, db, settings):
    user = await make_user()
    good = await token_for(user.id)

    async def code_with(header: str | None, query: str = ME) -> str:
        headers = {"authorization": header} if header is not None else {}
        resp = await client.post("/graphql", json={"query": query}, headers=headers)
        assert resp.status_code == 200
        return code_of(resp.json())

    # no Authorization header: UNAUTHENTICATED
    assert await code_with(None) == "UNAUTHENTICATED"
    assert await code_with("") == "UNAUTHENTICATED"
    # a token that is garbage, of the wrong kind, or sent without the Bearer scheme
    sign = lambda claims: jwt.encode(claims, settings.jwt_secret, algorithm="HS256")  # noqa: E731
    for header in [
        good,  # no scheme
        f"Token {good}",
        "Bearer",
        "Bearer not-a-jwt",
        f"Bearer {sign(_claims(settings, sub=str(user.id), knd='robot'))}",
        f"Bearer {sign(_claims(settings, sub='me', knd='user'))}",
        f"Bearer {sign(_claims(settings, sub=str(user.id), knd='user', typ='refresh'))}",
    ]:
        assert await code_with(header) == "TOKEN_INVALID", header
    # an access token past its time: TOKEN_EXPIRED (the client refreshes)
    expired = sign(_claims(settings, sub=str(user.id), knd="user", iat=1, exp=2))
    assert await code_with(f"Bearer {expired}") == "TOKEN_EXPIRED"
    # (the scheme's case is free)
    lower = {"authorization": f"bearer {good}"}
    resp = await client.post("/graphql", json={"query": ME}, headers=lower)
    assert resp.json()["data"]["me"]["id"] == gid("User", user.id)
    # and an expired refresh token is TOKEN_EXPIRED on the refresh itself
    stale = sign(_claims(settings, sub=str(user.id), knd="user", typ="refresh", jti="j",
                         iat=1, exp=2))  # fmt: skip
    res = (await gql(client, REFRESH, {"t": stale}))["data"]["refreshToken"]
    assert res == {"__typename": "AuthError", "code": "TOKEN_EXPIRED", "field": "refreshToken"}


async def test_a_partner_app_token_is_refused_on_fields_that_do_not_serve_partners(client, db):
    await make_user()  # user 1 exists: a partner app of id 1 must not be read as them
    store = await make_merchant()
    app = (await partners.create_app("P", SCOPES, merchant_ids=[store.id])).app
    assert app.id == 1
    token = (await tokens.issue_pair(1, Kind.PARTNER, scopes=SCOPES)).access_token
    qr = "mutation($m: ID!) { merchantBindQr(merchantId: $m) { __typename } }"
    for query, variables in [
        (ME, {}),
        (WALLET, {}),
        (ADMIN_PROBE, {}),
        (qr, {"m": gid("Merchant", store.id)}),
    ]:
        body = await gql(client, query, variables, token, expect_errors=True)
        assert code_of(body) == "PERMISSION_DENIED", body
