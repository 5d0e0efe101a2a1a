"""Budgets per client (issue 14), through the GraphQL API over HTTP: POS logins per
serial and per IP, SMS per normalised phone, every request per IP (anonymous) or per
subject (signed in), and who the client is behind a proxy."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from strawberry.relay import GlobalID

from app.api.http import create_app
from app.domain import merchants
from app.infra.limits import client_ip
from app.infra.redis import get_redis, make_redis, set_redis
from app.services import auth
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

POS_LOGIN = """mutation($serial: String!, $s: String!) {
  posDeviceLogin(serial: $serial, secret: $s) { __typename
    ... on AuthPayload { accessToken } ... on AuthError { code field retryAfter } } }"""
REQUEST_SMS = """mutation($p: String!) { requestSmsCode(phone: $p) { __typename
  ... on SmsCodeSent { resendAfterSeconds } ... on AuthError { code field retryAfter } } }"""
LOGIN_SMS = """mutation($p: String!, $c: String!) { loginWithSms(phone: $p, code: $c) {
  __typename ... on AuthPayload { accessToken } ... on AuthError { code retryAfter } } }"""


@asynccontextmanager
async def client_from(ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app as seen from another address (the ASGI scope's client)."""
    app = create_app(manage_db=False)
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def sms():
    sender = auth.MemorySmsSender()
    auth.set_sms_sender(sender)
    yield sender
    auth.set_sms_sender(None)


async def _device(client, serial: str) -> str:
    merchant = await make_merchant()
    owner = await token_for(merchant.owner_id, "merchant_owner")
    reg = """mutation($m: ID!, $serial: String!) { registerPosDevice(merchantId: $m,
      serial: $serial) { ... on PosDeviceRegistered { secret } } }"""
    mid = str(GlobalID("Merchant", str(merchant.id)))
    body = await gql(client, reg, {"m": mid, "serial": serial}, owner)
    return body["data"]["registerPosDevice"]["secret"]


async def _pos_login(client, serial: str, secret: str) -> dict:
    return (await gql(client, POS_LOGIN, {"serial": serial, "s": secret}))["data"]["posDeviceLogin"]


async def test_300_wrong_pos_secrets_are_cut_off_and_the_right_one_waits(
    client, settings, monkeypatch
):
    monkeypatch.setattr(settings, "rate_pos_login_failures_per_serial", 10)
    monkeypatch.setattr(settings, "rate_pos_login_failures_per_ip", 1000)  # (this test: serial)
    secret = await _device(client, "POS-GUESSED")
    answers = [await _pos_login(client, "POS-GUESSED", f"guess-{i}") for i in range(300)]
    figures = Counter(a.get("code") for a in answers)
    # tried 300: 10 answered "wrong", the other 290 refused without being checked
    assert figures == {"UNAUTHENTICATED": 10, "RATE_LIMITED": 290}
    assert [a["code"] for a in answers[:10]] == ["UNAUTHENTICATED"] * 10
    refused = answers[10]
    assert refused["field"] == "secret" and 0 < refused["retryAfter"] <= 900
    # the right secret is refused too while the window lasts: guessing cannot confirm
    right = await _pos_login(client, "POS-GUESSED", secret)
    assert right["code"] == "RATE_LIMITED" and right["retryAfter"] > 0
    # a serial with spaces around it is the same device (the lookup strips them)
    assert (await _pos_login(client, "  POS-GUESSED ", secret))["code"] == "RATE_LIMITED"


async def test_pos_login_budget_ends_with_its_window_and_successes_cost_nothing(
    client, settings, monkeypatch
):
    monkeypatch.setattr(settings, "rate_pos_login_failures_per_serial", 3)
    monkeypatch.setattr(settings, "rate_pos_login_window_s", 1)
    secret = await _device(client, "POS-W")
    # successes give their unit back: many logins of a working device are never refused
    for _ in range(6):
        assert (await _pos_login(client, "POS-W", secret))["__typename"] == "AuthPayload"
    codes = [(await _pos_login(client, "POS-W", "wrong"))["code"] for _ in range(4)]
    assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
    assert (await _pos_login(client, "POS-W", secret))["code"] == "RATE_LIMITED"
    await asyncio.sleep(1.1)  # the window passes
    assert (await _pos_login(client, "POS-W", secret))["__typename"] == "AuthPayload"


async def test_pos_login_failures_per_ip_across_serials(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "rate_pos_login_failures_per_ip", 5)
    secret = await _device(client, "POS-OTHER")
    codes = [(await _pos_login(client, f"POS-{i}", "x"))["code"] for i in range(8)]
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 3
    # this address is cut off, even for a real device; another address is not
    assert (await _pos_login(client, "POS-OTHER", secret))["code"] == "RATE_LIMITED"
    async with client_from("10.1.2.3") as other:
        assert (await _pos_login(other, "POS-OTHER", secret))["__typename"] == "AuthPayload"


async def test_sms_codes_per_phone_whatever_its_spelling(client, sms, settings, monkeypatch):
    monkeypatch.setattr(settings, "sms_resend_interval_s", 1)
    monkeypatch.setattr(settings, "rate_sms_send_per_phone", 2)

    async def ask(phone: str) -> dict:
        return (await gql(client, REQUEST_SMS, {"p": phone}))["data"]["requestSmsCode"]

    assert (await ask("13800138000"))["__typename"] == "SmsCodeSent"
    # other spellings of the same number share its cooldown
    for spelling in ("１３８００１３８０００", "138 0013 8000", "+86 138-0013-8000"):
        answer = await ask(spelling)
        assert (answer["code"], answer["field"]) == ("RATE_LIMITED", "phone"), spelling
        assert answer["retryAfter"] >= 1
    # digits of other scripts are not a phone number
    assert (await ask("١٣٨٠٠١٣٨٠٠٠"))["code"] == "INVALID"
    await asyncio.sleep(1.1)
    assert (await ask("１３８００１３８０００"))["__typename"] == "SmsCodeSent"
    await asyncio.sleep(1.1)
    third = await ask("13800138000")
    assert third["code"] == "RATE_LIMITED" and third["retryAfter"] > 3000
    # two codes sent, both to the one spelling
    assert [p for p, _ in sms.sent] == ["13800138000", "13800138000"]


async def test_sms_login_failures_per_phone(client, sms, settings, monkeypatch):
    monkeypatch.setattr(settings, "sms_max_attempts", 100)  # (this test: the budget)
    monkeypatch.setattr(settings, "rate_sms_login_failures_per_phone", 3)
    assert (await gql(client, REQUEST_SMS, {"p": "13900139000"}))["data"]["requestSmsCode"][
        "__typename"
    ] == "SmsCodeSent"
    code = sms.sent[-1][1][-6:]
    wrong = "000000" if code != "000000" else "111111"
    spellings = ["13900139000", "１３９００１３９０００", "139-0013-9000", "13900139000"]
    answers = [
        (await gql(client, LOGIN_SMS, {"p": p, "c": wrong}))["data"]["loginWithSms"]
        for p in spellings
    ]
    assert [a["code"] for a in answers] == ["SMS_CODE_INVALID"] * 3 + ["RATE_LIMITED"]
    right = (await gql(client, LOGIN_SMS, {"p": "13900139000", "c": code}))["data"]
    assert right["loginWithSms"]["code"] == "RATE_LIMITED"


PING = "{ __typename }"


async def test_anonymous_requests_per_ip_get_429_with_retry_after(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "rate_anonymous_per_ip", 5)
    statuses = [(await client.post("/graphql", json={"query": PING})).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = await client.post("/graphql", json={"query": PING})
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= settings.rate_anonymous_window_s
    assert refused.json() == {
        "data": None,
        "errors": [
            {
                "message": f"too many requests; try again in {wait} s",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": wait},
            }
        ],
    }
    # a GET (Strawberry's own path) is counted and refused alike
    assert (await client.get("/graphql", params={"query": PING})).status_code == 429
    # a spoofed X-Forwarded-For changes nothing: no proxy is trusted by default
    spoofed = await client.post(
        "/graphql", json={"query": PING}, headers={"x-forwarded-for": "203.0.113.9"}
    )
    assert spoofed.status_code == 429
    # another address, and a signed-in caller on this one, have budgets of their own
    async with client_from("198.51.100.7") as other:
        assert (await other.post("/graphql", json={"query": PING})).status_code == 200
    token = await token_for((await make_user()).id, "consumer")
    signed_in = await client.post(
        "/graphql", json={"query": PING}, headers={"authorization": f"Bearer {token}"}
    )
    assert signed_in.status_code == 200


async def test_signed_in_requests_per_subject_from_any_address(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "rate_signed_in_per_subject", 3)
    store = await make_merchant()
    device_row, _ = await merchants.register_pos_device(store.owner_id, store.id, "SN-LIMITS")
    user, device = (
        await token_for(store.owner_id, "consumer"),
        await token_for(device_row.id, "pos_device"),
    )

    async def call(c: httpx.AsyncClient, token: str) -> int:
        headers = {"authorization": f"Bearer {token}"}
        return (await c.post("/graphql", json={"query": PING}, headers=headers)).status_code

    assert [await call(client, user) for _ in range(3)] == [200] * 3
    async with client_from("198.51.100.8") as elsewhere:
        assert await call(elsewhere, user) == 429
    # a device is not a user: its own budget
    assert await call(client, device) == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(settings, monkeypatch):
    def scope(peer: str, forwarded: str | None) -> dict:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return {"type": "http", "client": (peer, 1), "headers": headers}

    spoofed = "198.51.100.1, 203.0.113.5"
    assert client_ip(scope("203.0.113.5", spoofed)) == "203.0.113.5"
    monkeypatch.setattr(settings, "trusted_proxies", ["10.0.0.0/8"])
    # the proxy's own entry is the rightmost; what the client wrote before it is not read
    assert client_ip(scope("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3")) == "198.51.100.1"
    assert client_ip(scope("10.0.0.2", "garbage, 10.0.0.3")) == "10.0.0.3"
    assert client_ip(scope("203.0.113.5", spoofed)) == "203.0.113.5"  # not a proxy
    # an IPv6 client counts per /64
    assert client_ip(scope("2001:db8:1:2:aaaa::1", None)) == "2001:db8:1:2::/64"
    assert client_ip({"type": "http", "client": None}) == "unknown"


async def test_requests_pass_when_redis_is_out_of_reach(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "rate_anonymous_per_ip", 1)
    previous, unreachable = get_redis(), make_redis("redis://127.0.0.1:1/0")
    set_redis(unreachable)
    try:
        statuses = [(await client.post("/graphql", json={"query": PING})).status_code]
        statuses += [(await client.post("/graphql", json={"query": PING})).status_code]
    finally:
        set_redis(previous)
        await unreachable.aclose()
    assert statuses == [200, 200]
