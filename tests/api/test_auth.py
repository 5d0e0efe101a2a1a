"""Sign-in, tokens and permissions, through the GraphQL API."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from app.domain import users
from app.models.users import Role, User
from app.services import auth
from tests.fakes.server import free_port, serve
from tests.fakes.wechat import WeChatFake
from tests.helpers import gql, token_for

LOGIN_WX = """mutation($code: String!) { loginWithWechat(code: $code) {
  __typename
  ... on AuthPayload { accessToken refreshToken user { id role } }
  ... on AuthError { code field message } } }"""
ME = "{ me { id role nickname } }"
REFRESH = """mutation($t: String!) { refreshToken(refreshToken: $t) { __typename
  ... on AuthPayload { accessToken refreshToken } ... on AuthError { code message } } }"""


@pytest.fixture
def wechat(settings, monkeypatch):
    fake = WeChatFake(settings.wechat_appid, settings.wechat_secret)
    with serve(fake.app) as url:
        monkeypatch.setattr(settings, "wechat_api_base", url)
        yield fake


@pytest.fixture
def sms():
    sender = auth.MemorySmsSender()
    auth.set_sms_sender(sender)
    yield sender
    auth.set_sms_sender(None)


async def test_wechat_login_creates_user_then_finds_it(client, wechat):
    # given a WeChat user new to the platform
    code = wechat.issue_code("openid-A", unionid="union-A")
    # when they sign in
    first = (await gql(client, LOGIN_WX, {"code": code}))["data"]["loginWithWechat"]
    # then a user is created and a working token returned
    assert first["__typename"] == "AuthPayload"
    assert await User.filter(wechat_openid="openid-A").count() == 1
    me = await gql(client, ME, token=first["accessToken"])
    assert me["data"]["me"]["id"] == first["user"]["id"]
    # when they sign in again with a new code, the same user is found
    second = await gql(client, LOGIN_WX, {"code": wechat.issue_code("openid-A", "union-A")})
    assert second["data"]["loginWithWechat"]["user"]["id"] == first["user"]["id"]
    assert await User.all().count() == 1


async def test_wechat_rejected_code_is_a_typed_error(client, wechat):
    res = (await gql(client, LOGIN_WX, {"code": "never-issued"}))["data"]["loginWithWechat"]
    assert res == {
        "__typename": "AuthError",
        "code": "WECHAT_CODE_REJECTED",
        "field": "code",
        "message": "微信登录凭证无效，请重新登录",
    }
    # a code is single-use at WeChat: replaying it is rejected too
    code = wechat.issue_code("openid-B")
    await gql(client, LOGIN_WX, {"code": code})
    again = (await gql(client, LOGIN_WX, {"code": code}))["data"]["loginWithWechat"]
    assert again["code"] == "WECHAT_CODE_REJECTED"
    assert await User.all().count() == 1


async def test_wechat_unreachable_is_clear(client, settings, monkeypatch, caplog):
    monkeypatch.setattr(settings, "wechat_api_base", f"http://127.0.0.1:{free_port()}")
    res = (await gql(client, LOGIN_WX, {"code": "abc"}))["data"]["loginWithWechat"]
    assert res["__typename"] == "AuthError"
    assert res["code"] == "UPSTREAM_UNAVAILABLE"
    assert await User.all().count() == 0
    assert settings.wechat_secret not in caplog.text


SMS_REQ = """mutation($p: String!) { requestSmsCode(phone: $p) {
  __typename ... on SmsCodeSent { resendAfterSeconds } ... on AuthError { code field } } }"""
SMS_LOGIN = """mutation($p: String!, $c: String!) { loginWithSms(phone: $p, code: $c) {
  __typename ... on AuthPayload { accessToken user { id } } ... on AuthError { code field } } }"""


def _code(sms) -> str:
    return sms.sent[-1][1].rsplit(" ", 1)[-1]


async def test_sms_login_happy_wrong_and_too_many(client, sms, settings):
    phone = "13812345678"
    assert (await gql(client, SMS_REQ, {"p": phone}))["data"]["requestSmsCode"][
        "__typename"
    ] == "SmsCodeSent"
    good = _code(sms)
    wrong = "000000" if good != "000000" else "111111"
    res = (await gql(client, SMS_LOGIN, {"p": phone, "c": wrong}))["data"]["loginWithSms"]
    assert res["code"] == "SMS_CODE_INVALID"
    assert await User.all().count() == 0
    for _ in range(settings.sms_max_attempts - 1):
        await gql(client, SMS_LOGIN, {"p": phone, "c": wrong})
    # the attempt after the limit is refused even with the right code
    res = (await gql(client, SMS_LOGIN, {"p": phone, "c": good}))["data"]["loginWithSms"]
    assert res["code"] == "TOO_MANY_ATTEMPTS"
    assert await User.all().count() == 0


async def test_sms_login_succeeds_and_code_is_single_use(client, sms):
    phone = "13912345678"
    await gql(client, SMS_REQ, {"p": phone})
    code = _code(sms)
    res = (await gql(client, SMS_LOGIN, {"p": phone, "c": code}))["data"]["loginWithSms"]
    assert res["__typename"] == "AuthPayload"
    assert await User.filter(phone=phone).count() == 1
    again = (await gql(client, SMS_LOGIN, {"p": phone, "c": code}))["data"]["loginWithSms"]
    assert again["code"] == "SMS_CODE_EXPIRED"


async def test_sms_expired_code(client, sms, settings, monkeypatch):
    monkeypatch.setattr(settings, "sms_code_ttl_s", 1)
    phone = "13712345678"
    await gql(client, SMS_REQ, {"p": phone})
    code = _code(sms)
    await asyncio.sleep(1.2)
    res = (await gql(client, SMS_LOGIN, {"p": phone, "c": code}))["data"]["loginWithSms"]
    assert res["code"] == "SMS_CODE_EXPIRED"


async def test_sms_bad_phone_and_resend_cooldown(client, sms):
    res = (await gql(client, SMS_REQ, {"p": "12345"}))["data"]["requestSmsCode"]
    assert res == {"__typename": "AuthError", "code": "INVALID", "field": "phone"}
    await gql(client, SMS_REQ, {"p": "13612345678"})
    res = (await gql(client, SMS_REQ, {"p": "13612345678"}))["data"]["requestSmsCode"]
    assert res["code"] == "RATE_LIMITED"
    assert len(sms.sent) == 1


async def test_refresh_rotation_and_reuse_revokes_family(client, wechat):
    login = (await gql(client, LOGIN_WX, {"code": wechat.issue_code("o-r")}))["data"][
        "loginWithWechat"
    ]
    r1 = login["refreshToken"]
    rotated = (await gql(client, REFRESH, {"t": r1}))["data"]["refreshToken"]
    assert rotated["__typename"] == "AuthPayload"
    r2, a2 = rotated["refreshToken"], rotated["accessToken"]
    assert (await gql(client, ME, token=a2))["data"]["me"] is not None
    # replaying the old refresh token is theft: the whole family goes
    reuse = (await gql(client, REFRESH, {"t": r1}))["data"]["refreshToken"]
    assert reuse["code"] == "TOKEN_REUSED"
    after = (await gql(client, REFRESH, {"t": r2}))["data"]["refreshToken"]
    assert after["__typename"] == "AuthError"
    me = await gql(client, ME, token=a2, expect_errors=True)
    assert me["data"] is None or me["data"]["me"] is None
    assert me["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"


async def test_logout_revokes(client, wechat):
    login = (await gql(client, LOGIN_WX, {"code": wechat.issue_code("o-l")}))["data"][
        "loginWithWechat"
    ]
    out = await gql(
        client,
        "mutation($t:String!){ logout(refreshToken:$t){ __typename } }",
        {"t": login["refreshToken"]},
    )
    assert out["data"]["logout"]["__typename"] == "LogoutSuccess"
    me = await gql(client, ME, token=login["accessToken"], expect_errors=True)
    assert me["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"


def _forge(settings, **over) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "sub": "1",
        "role": "admin",
        "fam": "f",
        "typ": "access",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(over.pop("claims", {}))
    return jwt.encode(
        claims, over.get("key", settings.jwt_secret), algorithm=over.get("alg", "HS256")
    )


async def test_bad_tokens_are_rejected(client, db, settings):
    user = await User.create(phone="13500000000")
    good = _forge(settings, claims={"sub": str(user.id)})
    assert (await gql(client, ME, token=good))["data"]["me"]["id"]
    expired = _forge(settings, claims={"sub": str(user.id), "iat": 1, "exp": 2})
    wrong_key = _forge(
        settings, key="another-key-entirely-0123456789abcdef", claims={"sub": str(user.id)}
    )
    header, payload, sig = good.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig])
    none_alg = jwt.encode(
        {
            "iss": settings.jwt_issuer,
            "sub": str(user.id),
            "role": "admin",
            "typ": "access",
            "iat": 1,
            "exp": 9999999999,
        },
        None,
        algorithm="none",
    )
    refresh_as_access = _forge(settings, claims={"sub": str(user.id), "typ": "refresh"})
    for token, code in [
        (expired, "TOKEN_EXPIRED"),
        (wrong_key, "TOKEN_INVALID"),
        (tampered, "TOKEN_INVALID"),
        (none_alg, "TOKEN_INVALID"),
        (refresh_as_access, "TOKEN_INVALID"),
    ]:
        body = await gql(client, ME, token=token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == code, token


async def test_consumer_cannot_call_admin_field(client, db):
    from tests.helpers import gql as _gql

    user = await User.create(phone="13500000001")
    token = await token_for(user.id, "consumer")
    body = await _gql(client, ADMIN_PROBE, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    # the role comes from the database on each request: made an admin, the same token
    # serves admin fields (a token's own claims grant nothing)
    await users.set_role(user.id, Role.ADMIN)
    body = await _gql(client, ADMIN_PROBE, token=token)
    assert body["data"]["adminUsers"]["totalCount"] == 1


ADMIN_PROBE = "{ adminUsers(first: 5) { totalCount edges { node { id } } } }"
