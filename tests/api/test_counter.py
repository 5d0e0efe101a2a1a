"""Checkout at the counter through the API (SPEC §13): the consumer's member code, the
POS's scan of it, the counter order, the consumer's confirmation, the payment through
the sandbox provider's signed notification, and what the POS then sees."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from strawberry.relay import GlobalID

from app import worker
from app.domain import member_codes, merchants, orders, partners
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from app.infra.config import get_settings
from app.models.events import OutboxEvent
from app.models.merchants import ConsumerBinding
from app.models.orders import Order, OrderOrigin, OrderStatus
from app.models.payments import Payment
from app.models.users import Role
from tests.factories import give_vouchers, make_merchant, make_user
from tests.fakes.sandbox import delivering_to, pay
from tests.helpers import gql, token_for

DEVICE_LOGIN = """mutation($s: String!, $k: String!) { posDeviceLogin(serial: $s, secret: $k) {
  __typename ... on AuthPayload { accessToken } ... on AuthError { code } } }"""
REGISTER = """mutation($m: ID!, $s: String!) { registerPosDevice(merchantId: $m, serial: $s) {
  __typename ... on PosDeviceRegistered { serial secret } ... on MerchantError { code } } }"""
MEMBER_CODE = "{ memberCode { code expiresAt validSeconds } }"
SCAN = """mutation($c: String!, $m: ID) { scanMemberCode(code: $c, merchantId: $m) { __typename
  ... on MemberCodeScanned { scanId expiresAt boundHere newlyBound consumer { name phoneTail } }
  ... on CounterError { code field message } } }"""
OPEN = """mutation($i: CreateCounterOrderInput!) { createCounterOrder(input: $i) { __typename
  ... on CounterOrderOpened { order { id origin status amountFen discountFen channel
                                     consumer { name } } }
  ... on CounterError { code field message } } }"""
CONFIRM = """mutation($o: ID!, $v: Int!) { confirmCounterOrder(orderId: $o, voucherFen: $v) {
  __typename ... on CreateOrderSuccess { order { id status origin voucherFen cashFen } payParams
    payment { __typename ... on SandboxPayParams { payUrl outTradeNo } } }
  ... on OrderError { code field message } } }"""
COUNTER_ORDER = """query($i: ID!) { counterOrder(id: $i) { id status amountFen voucherFen
  cashFen paidAt consumer { name phoneTail } } }"""
TODAY = """{ posTodayPayments(first: 10) { totalCount
  edges { node { id status amountFen consumer { name } } } } }"""
WALLET = "{ wallet { vouchersFen vouchersHeldFen pointsPending } }"


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


@pytest.fixture
async def app_client(db):
    """The app under test, with the sandbox provider notifying it in-process."""
    from app.main import create_app

    app = create_app(manage_db=False)
    with delivering_to(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            yield c


async def _device_token(client, store, serial: str = "SN-COUNTER-1") -> str:
    """A POS device registered by the store's owner and signed in, through the API."""
    owner = await token_for(store.owner_id, "merchant_owner")
    made = await gql(client, REGISTER, {"m": gid("Merchant", store.id), "s": serial}, owner)
    secret = made["data"]["registerPosDevice"]["secret"]
    login = await gql(client, DEVICE_LOGIN, {"s": serial, "k": secret})
    return login["data"]["posDeviceLogin"]["accessToken"]


async def _member_code(client, consumer_token: str) -> str:
    return (await gql(client, MEMBER_CODE, token=consumer_token))["data"]["memberCode"]["code"]


async def _scan(client, token: str, code: str, merchant_id: str | None = None) -> dict:
    body = await gql(client, SCAN, {"c": code, "m": merchant_id}, token)
    return body["data"]["scanMemberCode"]


async def _open(client, token: str, scan_id: str, amount: int, key: str, **extra) -> dict:
    i = {"scanId": scan_id, "amountFen": amount, "idempotencyKey": key, **extra}
    return (await gql(client, OPEN, {"i": i}, token))["data"]["createCounterOrder"]


async def test_counter_checkout_end_to_end(app_client):
    # given a store (10% discount) with a POS device, and a consumer with vouchers
    store = await make_merchant(discount_bps=1000)
    consumer = await make_user()
    consumer.nickname = "Wang Fang"
    await consumer.save(update_fields=["nickname"])
    await give_vouchers(consumer.id, 2_000)
    device = await _device_token(app_client, store)
    me = await token_for(consumer.id)

    # when the app shows a member code and the POS scans it
    shown = (await gql(app_client, MEMBER_CODE, token=me))["data"]["memberCode"]
    assert shown["validSeconds"] == get_settings().member_code_ttl_s
    scanned = await _scan(app_client, device, shown["code"])
    # then the consumer is bound to the store (bound nowhere before) and masked
    assert scanned["__typename"] == "MemberCodeScanned", scanned
    assert (scanned["boundHere"], scanned["newlyBound"]) == (True, True)
    assert scanned["consumer"] == {"name": "W***", "phoneTail": consumer.phone[-4:]}
    assert (await ConsumerBinding.get(consumer_id=consumer.id)).merchant_id == store.id

    # when the POS opens an order for 100.00 yuan
    opened = await _open(app_client, device, scanned["scanId"], 10_000, "till-1")
    assert opened["__typename"] == "CounterOrderOpened", opened
    order = opened["order"]
    assert (order["origin"], order["status"], order["discountFen"]) == (
        "COUNTER",
        "UNCONFIRMED",
        1_000,
    )
    assert order["consumer"]["name"] == "W***"
    # the consumer finds it waiting, and confirms it with 20.00 of vouchers
    waiting = await gql(app_client, "{ myCounterOrdersToConfirm { id status } }", token=me)
    assert waiting["data"]["myCounterOrdersToConfirm"] == [
        {"id": order["id"], "status": "UNCONFIRMED"}
    ]
    confirmed = (await gql(app_client, CONFIRM, {"o": order["id"], "v": 2_000}, me))["data"][
        "confirmCounterOrder"
    ]
    assert confirmed["__typename"] == "CreateOrderSuccess", confirmed
    assert confirmed["order"]["status"] == "PAYING"
    assert (confirmed["order"]["voucherFen"], confirmed["order"]["cashFen"]) == (2_000, 8_000)
    assert confirmed["payParams"]["payUrl"].startswith("http")
    assert confirmed["payment"]["__typename"] == "SandboxPayParams"
    assert confirmed["payment"]["payUrl"] == confirmed["payParams"]["payUrl"]
    wallet = (await gql(app_client, WALLET, token=me))["data"]["wallet"]
    assert (wallet["vouchersFen"], wallet["vouchersHeldFen"]) == (0, 2_000)
    # the POS sees it waiting for the payment
    seen = (await gql(app_client, COUNTER_ORDER, {"i": order["id"]}, device))["data"]
    assert seen["counterOrder"]["status"] == "PAYING" and seen["counterOrder"]["paidAt"] is None

    # when the consumer pays on the sandbox page (the provider's signed notification)
    payment = await Payment.get(order__id=GlobalID.from_id(order["id"]).node_id)
    assert payment.amount_fen == 8_000
    paid = await pay(app_client, payment.out_trade_no)
    assert paid.status_code == 200 and paid.json()["state"] == "paid"

    # then the POS sees it paid, in the order and in today's payments
    seen = (await gql(app_client, COUNTER_ORDER, {"i": order["id"]}, device))["data"]
    assert seen["counterOrder"]["status"] == "PAID" and seen["counterOrder"]["paidAt"]
    today = (await gql(app_client, TODAY, token=device))["data"]["posTodayPayments"]
    assert today["totalCount"] == 1
    assert today["edges"][0]["node"] == {
        "id": order["id"],
        "status": "PAID",
        "amountFen": 10_000,
        "consumer": {"name": "W***"},
    }
    # and the money moved as for any order: vouchers spent, the store owed A - D
    wallet = (await gql(app_client, WALLET, token=me))["data"]["wallet"]
    assert (wallet["vouchersHeldFen"], wallet["pointsPending"] > 0) == (0, True)
    assert await balance_of(acct.merchant_payable(store.id)) == 9_000
    report = await verify_ledger()
    assert report.ok, report.problem


async def test_a_replayed_member_code_is_refused_and_changes_nothing(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    code = await _member_code(client, await token_for((await make_user()).id))
    assert (await _scan(client, device, code))["__typename"] == "MemberCodeScanned"
    again = await _scan(client, device, code)
    assert (again["__typename"], again["code"], again["field"]) == (
        "CounterError",
        "MEMBER_CODE_USED",
        "code",
    )


async def test_two_scans_of_one_code_at_once_let_one_through(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    code = await _member_code(client, await token_for((await make_user()).id))
    results = await asyncio.gather(*(_scan(client, device, code) for _ in range(5)))
    kinds = sorted(r.get("code", r["__typename"]) for r in results)
    assert kinds == ["MEMBER_CODE_USED"] * 4 + ["MemberCodeScanned"]


async def test_an_expired_member_code_is_refused(client, db, settings):
    store = await make_merchant()
    device = await _device_token(client, store)
    consumer = await make_user()
    old = member_codes.issue(consumer.id, settings.model_copy(update={"member_code_ttl_s": -10}))
    refused = await _scan(client, device, old.code)
    assert (refused["__typename"], refused["code"]) == ("CounterError", "MEMBER_CODE_EXPIRED")
    assert not await ConsumerBinding.exists(consumer_id=consumer.id)


async def test_forged_member_codes_are_refused(client, db, settings):
    store = await make_merchant()
    device = await _device_token(client, store)
    consumer = await make_user()
    code = await _member_code(client, await token_for(consumer.id))
    head, claims, sig = code.split(".")
    other_sig = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
    now = int(time.time())
    forged = [
        f"{head}.{claims}.{other_sig}",  # the signature altered
        # another consumer's id, signed with the platform's token key (not the code's)
        jwt.encode(
            {
                "iss": settings.jwt_issuer,
                "pur": "member_code",
                "sub": "1",
                "jti": "x",
                "iat": now,
                "exp": now + 60,
            },
            settings.jwt_secret,
            algorithm="HS256",
        ),  # fmt: skip
        await token_for(consumer.id),  # an access token is not a member code
        "not-a-code",
        "",
    ]
    for code in forged:
        refused = await _scan(client, device, code)
        assert (refused["__typename"], refused.get("code")) == (
            "CounterError",
            "MEMBER_CODE_INVALID",
        ), code
    assert not await ConsumerBinding.exists(consumer_id=consumer.id)


async def test_a_code_scanned_at_a_suspended_store_is_refused(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    consumer = await make_user()
    code = await _member_code(client, await token_for(consumer.id))
    await merchants.suspend_merchant(store.id)
    refused = await _scan(client, device, code)
    assert (refused["__typename"], refused["code"]) == ("CounterError", "MERCHANT_NOT_OPEN")
    # nothing changed: no binding, and the code is still good elsewhere
    assert not await ConsumerBinding.exists(consumer_id=consumer.id)
    await merchants.approve_merchant(store.id)
    assert (await _scan(client, device, code))["__typename"] == "MemberCodeScanned"


async def test_a_device_of_one_store_cannot_open_an_order_at_another(client, db):
    a, b = await make_merchant(), await make_merchant()
    device_a = await _device_token(client, a, "SN-A")
    device_b = await _device_token(client, b, "SN-B")
    code = await _member_code(client, await token_for((await make_user()).id))
    scan_b = await _scan(client, device_b, code)
    # A names B's store: refused as not its store
    refused = await _scan(client, device_a, "x", gid("Merchant", b.id))
    assert (refused["code"], refused["field"]) == ("PERMISSION_DENIED", "merchantId")
    via_id = await _open(
        client, device_a, scan_b["scanId"], 500, "k", merchantId=gid("Merchant", b.id)
    )
    assert (via_id["code"], via_id["field"]) == ("PERMISSION_DENIED", "merchantId")
    # A holds B's scan: at A's own store that scan does not exist
    with_scan = await _open(client, device_a, scan_b["scanId"], 500, "k")
    assert (with_scan["code"], with_scan["field"]) == ("SCAN_EXPIRED", "scanId")
    assert await Order.all().count() == 0
    # and A cannot read B's orders
    opened = await _open(client, device_b, scan_b["scanId"], 500, "k")
    seen = await gql(client, COUNTER_ORDER, {"i": opened["order"]["id"]}, device_a)
    assert seen["data"]["counterOrder"] is None


async def test_staff_open_counter_orders_for_their_store_only(client, db):
    store, other = await make_merchant(), await make_merchant()
    staff = await make_user()
    await merchants.add_staff(store.owner_id, store.id, staff.id)
    token = await token_for(staff.id)
    code = await _member_code(client, await token_for((await make_user()).id))
    scanned = await _scan(client, token, code, gid("Merchant", store.id))
    assert scanned["__typename"] == "MemberCodeScanned"
    opened = await _open(
        client, token, scanned["scanId"], 700, "k", merchantId=gid("Merchant", store.id)
    )
    assert opened["order"]["status"] == "UNCONFIRMED"
    mine = await _open(
        client, token, scanned["scanId"], 700, "k2", merchantId=gid("Merchant", other.id)
    )
    assert mine["code"] == "PERMISSION_DENIED"
    # a consumer (no store) is not served at all
    stranger = await token_for((await make_user()).id)
    body = await gql(
        client, SCAN, {"c": code, "m": gid("Merchant", store.id)}, stranger, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_only_its_consumer_confirms_a_counter_order(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    a, b = await make_user(), await make_user()
    scanned = await _scan(client, device, await _member_code(client, await token_for(a.id)))
    order_id = (await _open(client, device, scanned["scanId"], 1_000, "k"))["order"]["id"]
    # consumer B: as if it did not exist; the POS device is not a consumer
    refused = (await gql(client, CONFIRM, {"o": order_id, "v": 0}, await token_for(b.id)))["data"]
    assert refused["confirmCounterOrder"]["code"] == "NOT_FOUND"
    body = await gql(client, CONFIRM, {"o": order_id, "v": 0}, device, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    order = await Order.get(id=GlobalID.from_id(order_id).node_id)
    assert order.status == OrderStatus.UNCONFIRMED and order.origin == OrderOrigin.COUNTER
    # consumer A confirms; confirming again answers the same, another voucher amount is refused
    me = await token_for(a.id)
    first = (await gql(client, CONFIRM, {"o": order_id, "v": 0}, me))["data"]["confirmCounterOrder"]
    again = (await gql(client, CONFIRM, {"o": order_id, "v": 0}, me))["data"]["confirmCounterOrder"]
    assert first["payParams"] and again["payParams"] == first["payParams"]
    assert await Payment.filter(order_id=order.id).count() == 1
    other = (await gql(client, CONFIRM, {"o": order_id, "v": 100}, me))["data"]
    assert other["confirmCounterOrder"]["code"] == "INVALID_STATE"


async def test_confirming_with_more_vouchers_than_held_changes_nothing(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    consumer = await make_user()
    await give_vouchers(consumer.id, 100)
    me = await token_for(consumer.id)
    scanned = await _scan(client, device, await _member_code(client, me))
    order_id = (await _open(client, device, scanned["scanId"], 10_000, "k"))["order"]["id"]
    short = (await gql(client, CONFIRM, {"o": order_id, "v": 2_000}, me))["data"]
    assert short["confirmCounterOrder"]["code"] == "VOUCHER_INSUFFICIENT"
    order = await Order.get(id=GlobalID.from_id(order_id).node_id)
    assert (order.status, order.voucher_fen) == (OrderStatus.UNCONFIRMED, 0)
    assert await balance_of(acct.consumer_voucher(consumer.id)) == 100
    # and it can still be confirmed with what the wallet holds
    ok = (await gql(client, CONFIRM, {"o": order_id, "v": 100}, me))["data"]
    assert ok["confirmCounterOrder"]["order"]["status"] == "PAYING"


async def test_create_counter_order_is_idempotent_per_device_and_key(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    code = await _member_code(client, await token_for((await make_user()).id))
    scan = (await _scan(client, device, code))["scanId"]
    # two parallel calls with the same key open one order
    both = await asyncio.gather(*(_open(client, device, scan, 1_234, "same") for _ in range(2)))
    assert [r["__typename"] for r in both] == ["CounterOrderOpened"] * 2, both
    assert both[0]["order"]["id"] == both[1]["order"]["id"]
    assert await Order.all().count() == 1
    # the same key for another amount is refused; another key opens another order
    reused = await _open(client, device, scan, 999, "same")
    assert (reused["code"], reused["field"]) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert (await _open(client, device, scan, 999, "other"))["__typename"] == "CounterOrderOpened"
    assert await Order.all().count() == 2


async def test_a_repeat_after_the_scan_expired_answers_the_same_order(client, db, settings):
    from app.infra.redis import get_redis

    store = await make_merchant()
    device = await _device_token(client, store)
    code = await _member_code(client, await token_for((await make_user()).id))
    scan = (await _scan(client, device, code))["scanId"]
    first = await _open(client, device, scan, 500, "k")
    await get_redis().delete(f"counter:scan:{scan}")
    again = await _open(client, device, scan, 500, "k")
    assert again["order"]["id"] == first["order"]["id"]
    fresh = await _open(client, device, scan, 500, "k2")
    assert (fresh["code"], fresh["field"]) == ("SCAN_EXPIRED", "scanId")


async def test_the_stores_own_people_are_not_checked_out_at_it(client, db):
    owner = await make_user(role=Role.MERCHANT_OWNER)
    store = await make_merchant(owner=owner)
    device = await _device_token(client, store)
    refused = await _scan(client, device, await _member_code(client, await token_for(owner.id)))
    assert refused["code"] == "SELF_PURCHASE"


async def test_a_member_code_is_refused_to_devices_and_anonymous_callers(client, db):
    store = await make_merchant()
    device = await _device_token(client, store)
    for token in (device, None):
        body = await gql(client, MEMBER_CODE, token=token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] in ("PERMISSION_DENIED", "UNAUTHENTICATED")


async def test_a_scan_leaves_a_consumer_bound_elsewhere_where_they_are(client, db):
    first, store = await make_merchant(), await make_merchant()
    consumer = await make_user()
    await merchants.bind_by_qr(consumer.id, merchants.merchant_qr(first.id))
    device = await _device_token(client, store)
    scanned = await _scan(client, device, await _member_code(client, await token_for(consumer.id)))
    assert (scanned["boundHere"], scanned["newlyBound"]) == (False, False)
    assert (await ConsumerBinding.get(consumer_id=consumer.id)).merchant_id == first.id
    # and the store still takes their order
    opened = await _open(client, device, scanned["scanId"], 300, "k")
    assert opened["__typename"] == "CounterOrderOpened"


async def test_a_partner_app_opens_counter_orders_at_the_stores_it_was_given(client, db):
    """A partner's till system (scope write:counter_orders) scans and opens orders at a
    store it was given, idempotent per app and key; a store not given is as if absent,
    and without the scope every counter field refuses it."""
    given = await make_merchant(region_code="310101")
    other = await make_merchant(region_code="440305")
    app = (
        await partners.create_app("Till", ("write:counter_orders",), merchant_ids=[given.id])
    ).app
    token = issue_access(app.id, Kind.PARTNER, scopes=("write:counter_orders",), ttl_s=600)
    consumer = await make_user()
    me = await token_for(consumer.id)
    here = gid("Merchant", given.id)

    # a store not given, or none named: refused before the code is used up
    code = await _member_code(client, me)
    refused = await _scan(client, token, code, gid("Merchant", other.id))
    assert (refused["code"], refused["field"]) == ("NOT_FOUND", "merchantId")
    refused = await _scan(client, token, code)
    assert (refused["code"], refused["field"]) == ("INVALID", "merchantId")
    # without the scope
    bare = issue_access(app.id, Kind.PARTNER, scopes=(), ttl_s=600)
    body = await gql(client, SCAN, {"c": code, "m": here}, bare, True)
    assert body["errors"][0]["extensions"]["code"] == "SCOPE_MISSING"

    scanned = await _scan(client, token, code, here)
    assert scanned["__typename"] == "MemberCodeScanned", scanned
    first = await _open(client, token, scanned["scanId"], 5_000, "till-7", merchantId=here)
    again = await _open(client, token, scanned["scanId"], 5_000, "till-7", merchantId=here)
    assert first["__typename"] == "CounterOrderOpened", first
    assert first["order"]["id"] == again["order"]["id"]
    assert first["order"]["status"] == "UNCONFIRMED"
    order = await Order.get(id=int(GlobalID.from_id(first["order"]["id"]).node_id))
    assert (order.merchant_id, order.consumer_id) == (given.id, consumer.id)
    assert order.amount_fen == 5_000
    assert await Order.filter(merchant_id=given.id).count() == 1
    # its key is the app's own: a store's device using the same key opens its own order
    device = await _device_token(client, given, "SN-PARTNER-1")
    scanned_again = await _scan(client, device, await _member_code(client, me))
    theirs = await _open(client, device, scanned_again["scanId"], 5_000, "till-7")
    assert theirs["order"]["id"] != first["order"]["id"]

    # the app reads the counter orders it opened, and no other of the store's
    read = "query($i: ID!, $m: ID) { counterOrder(id: $i, merchantId: $m) { id status } }"
    got = await gql(client, read, {"i": first["order"]["id"], "m": here}, token)
    assert got["data"]["counterOrder"] == {"id": first["order"]["id"], "status": "UNCONFIRMED"}
    got = await gql(client, read, {"i": theirs["order"]["id"], "m": here}, token)
    assert got["data"]["counterOrder"] is None
    # today's payments stay the store's own people's and devices'
    body = await gql(client, TODAY, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_an_unconfirmed_counter_order_expires(client, db, settings):
    """Past COUNTER_ORDER_TTL_S a counter order nobody confirmed is refused to its
    consumer (ORDER_EXPIRED), and the worker's job closes it once, with an
    `order.cancelled` event written with it; a fresh or confirmed one stays."""
    store = await make_merchant()
    consumer = await make_user()
    await give_vouchers(consumer.id, 3_000)
    device = await _device_token(client, store)
    me = await token_for(consumer.id)

    async def opened(key: str) -> str:
        scan = await _scan(client, device, await _member_code(client, me))
        return (await _open(client, device, scan["scanId"], 10_000, key))["order"]["id"]

    stale, fresh, confirmed = await opened("e-1"), await opened("e-2"), await opened("e-3")
    ok = await gql(client, CONFIRM, {"o": confirmed, "v": 2_000}, me)
    assert ok["data"]["confirmCounterOrder"]["order"]["status"] == "PAYING", ok
    ids = {k: int(GlobalID.from_id(v).node_id) for k, v in
           (("stale", stale), ("fresh", fresh), ("confirmed", confirmed))}  # fmt: skip
    past = datetime.now(UTC) - timedelta(seconds=settings.counter_order_ttl_s + 1)
    await Order.filter(id__in=[ids["stale"], ids["confirmed"]]).update(created_at=past)

    # its consumer confirms it too late: refused, typed, before the worker came by
    late = (await gql(client, CONFIRM, {"o": stale, "v": 0}, me))["data"]["confirmCounterOrder"]
    assert (late["code"], late["field"]) == ("ORDER_EXPIRED", "orderId"), late
    assert (await Order.get(id=ids["stale"])).status == OrderStatus.UNCONFIRMED

    # the job closes it, and only it; a repeat closes nothing more
    assert await worker.expire_counter_orders({}) == 1
    assert await worker.expire_counter_orders({}) == 0
    after = {o.id: o for o in await Order.filter(id__in=list(ids.values()))}
    assert after[ids["stale"]].status == OrderStatus.CLOSED
    assert after[ids["stale"]].closed_at is not None
    assert after[ids["fresh"]].status == OrderStatus.UNCONFIRMED
    assert after[ids["confirmed"]].status == OrderStatus.PAYING
    events = await OutboxEvent.filter(kind="order.cancelled")
    assert len(events) == 1 and events[0].subject == f"order:{ids['stale']}"
    assert events[0].payload["reason"] == "expired"
    assert events[0].payload["merchant_id"] == store.id
    assert events[0].payload["voucher_fen_released"] == 0
    late = (await gql(client, CONFIRM, {"o": stale, "v": 0}, me))["data"]["confirmCounterOrder"]
    assert late["code"] == "ORDER_EXPIRED"
    wallet = (await gql(client, WALLET, token=me))["data"]["wallet"]
    assert (wallet["vouchersFen"], wallet["vouchersHeldFen"]) == (1_000, 2_000)

    # an unpaid order closed after it held vouchers (as reconciliation closes one its
    # channel never took) gives them back through the ledger, with its event
    await orders.close_order(ids["confirmed"])
    wallet = (await gql(client, WALLET, token=me))["data"]["wallet"]
    assert (wallet["vouchersFen"], wallet["vouchersHeldFen"]) == (3_000, 0)
    released = await OutboxEvent.get(kind="order.cancelled", subject=f"order:{ids['confirmed']}")
    assert released.payload["voucher_fen_released"] == 2_000
    report = await verify_ledger()
    assert report.ok, report.problem
