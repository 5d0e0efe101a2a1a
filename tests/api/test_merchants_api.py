"""Merchants through GraphQL: apply, approve, discount range, partial update, POS, binding."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.models.merchants import ConsumerBinding, Merchant, MerchantStatus
from app.models.users import Role, User
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

APPLY = """mutation($i: ApplyMerchantInput!) { applyMerchant(input: $i) { __typename
  ... on MerchantSuccess { merchant { id status discountBps
        location(coordSystem: GCJ02) { lat lng } } }
  ... on MerchantError { code field message } } }"""


def _input(**over):
    base = {
        "name": "Tea",
        "category": "drinks",
        "address": "2 Road",
        "location": {"lat": "31.2304", "lng": "121.4737", "coordSystem": "GCJ02"},
        "regionCode": "310101",
        "discountBps": 1000,
    }
    return {**base, **over}


async def test_apply_approve_and_discount_range(client, db):
    owner = await make_user()
    token = await token_for(owner.id, "consumer")
    res = (await gql(client, APPLY, {"i": _input()}, token))["data"]["applyMerchant"]
    assert res["merchant"]["status"] == "PENDING"
    mid = res["merchant"]["id"]
    # outside the policy's range (众店 3-20%): refused, nothing stored
    bad = (await gql(client, APPLY, {"i": _input(discountBps=2500)}, token))["data"][
        "applyMerchant"
    ]
    assert (bad["code"], bad["field"]) == ("DISCOUNT_OUT_OF_RANGE", "discountBps")
    bad = (await gql(client, APPLY, {"i": _input(regionCode="31")}, token))["data"]["applyMerchant"]
    assert (bad["code"], bad["field"]) == ("INVALID", "regionCode")
    assert await Merchant.all().count() == 1
    # a consumer cannot approve; an admin can, and the owner becomes a merchant owner
    approve = (
        "mutation($id: ID!) { approveMerchant(id: $id) { __typename ... on MerchantSuccess"
        " { merchant { status } } } }"
    )
    res = await gql(client, approve, {"id": mid}, token, expect_errors=True)
    assert res["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    admin = await make_user(role=Role.ADMIN)
    res = await gql(client, approve, {"id": mid}, await token_for(admin.id, "admin"))
    assert res["data"]["approveMerchant"]["merchant"]["status"] == "APPROVED"
    assert (await User.get(id=owner.id)).role == Role.MERCHANT_OWNER
    owner_token = await token_for(owner.id, "merchant_owner")
    rate = """mutation($m: ID!, $b: Int!) { setDiscountRate(merchantId: $m, discountBps: $b) {
      __typename ... on MerchantSuccess { merchant { discountBps } }
      ... on MerchantError { code } } }"""
    res = await gql(client, rate, {"m": mid, "b": 200}, owner_token)
    assert res["data"]["setDiscountRate"]["code"] == "DISCOUNT_OUT_OF_RANGE"
    res = await gql(client, rate, {"m": mid, "b": 300}, owner_token)
    assert res["data"]["setDiscountRate"]["merchant"]["discountBps"] == 300


async def test_partial_update_touches_only_given_fields(client, db):
    merchant = await make_merchant(name="Old", category="food")
    token = await token_for(merchant.owner_id, "merchant_owner")
    upd = """mutation($id: ID!, $i: UpdateMerchantInput!) { updateMerchant(id: $id, input: $i) {
      __typename ... on MerchantSuccess { merchant { name category } } } }"""
    res = await gql(
        client,
        upd,
        {"id": str(GlobalID("Merchant", str(merchant.id))), "i": {"name": "New"}},
        token,
    )
    assert res["data"]["updateMerchant"]["merchant"] == {"name": "New", "category": "food"}
    # someone else's store
    stranger = await make_user(role=Role.MERCHANT_OWNER)
    res = await gql(
        client,
        upd.replace("name category", "name"),
        {"id": str(GlobalID("Merchant", str(merchant.id))), "i": {"name": "X"}},
        await token_for(stranger.id, "merchant_owner"),
    )
    assert res["data"]["updateMerchant"]["__typename"] == "MerchantError"
    assert (await Merchant.get(id=merchant.id)).name == "New"


async def test_pos_device_login_and_scan_to_bind(client, db):
    merchant = await make_merchant()
    owner_token = await token_for(merchant.owner_id, "merchant_owner")
    mid = str(GlobalID("Merchant", str(merchant.id)))
    reg = """mutation($m: ID!) { registerPosDevice(merchantId: $m, serial: "POS-1") {
      __typename ... on PosDeviceRegistered { secret } } }"""
    secret = (await gql(client, reg, {"m": mid}, owner_token))["data"]["registerPosDevice"][
        "secret"
    ]
    login = """mutation($s: String!) { posDeviceLogin(serial: "POS-1", secret: $s) {
      __typename ... on AuthPayload { accessToken } ... on AuthError { code } } }"""
    assert (await gql(client, login, {"s": "wrong"}))["data"]["posDeviceLogin"][
        "code"
    ] == "UNAUTHENTICATED"
    pos_token = (await gql(client, login, {"s": secret}))["data"]["posDeviceLogin"]["accessToken"]
    qr = """mutation($m: ID!) { merchantBindQr(merchantId: $m) { __typename
      ... on BindQr { payload } } }"""
    payload = (await gql(client, qr, {"m": mid}, pos_token))["data"]["merchantBindQr"]["payload"]
    consumer = await make_user()
    ctoken = await token_for(consumer.id, "consumer")
    bind = """mutation($q: String!) { bindMerchant(qr: $q) { __typename
      ... on MerchantError { code } } }"""
    forged = payload[:-1] + ("0" if payload[-1] != "0" else "1")
    assert (await gql(client, bind, {"q": forged}, ctoken))["data"]["bindMerchant"][
        "code"
    ] == "QR_INVALID"
    assert (await gql(client, bind, {"q": payload}, ctoken))["data"]["bindMerchant"][
        "__typename"
    ] == "BindSuccess"
    # first bind wins for life
    other = await make_merchant()
    other_qr = (
        await gql(
            client,
            qr,
            {"m": str(GlobalID("Merchant", str(other.id)))},
            await token_for(other.owner_id, "merchant_owner"),
        )
    )["data"]["merchantBindQr"]["payload"]
    await gql(client, bind, {"q": other_qr}, ctoken)
    assert (await ConsumerBinding.get(consumer_id=consumer.id)).merchant_id == merchant.id
    assert merchant.status == MerchantStatus.APPROVED


async def test_store_vouchers_move_to_owner_wallet_once(client, db):
    from app.domain.ledger import Entry, Post, acct, post
    from app.models.ledger import Asset

    merchant = await make_merchant()
    await post(
        Entry(
            "test", "m", [Post(acct.issuer(Asset.VOUCHER), acct.merchant_voucher(merchant.id), 500)]
        )
    )
    token = await token_for(merchant.owner_id, "merchant_owner")
    mv = """mutation($m: ID!, $a: Int!, $k: String!) {
      moveStoreVouchersToWallet(merchantId: $m, amountFen: $a, idempotencyKey: $k) {
      __typename ... on VouchersMoved { storeVouchersLeftFen } ... on MerchantError { field } } }"""
    mid = str(GlobalID("Merchant", str(merchant.id)))
    for _ in range(2):  # a retried request moves once
        res = await gql(client, mv, {"m": mid, "a": 300, "k": "w1"}, token)
        assert res["data"]["moveStoreVouchersToWallet"]["storeVouchersLeftFen"] == 200
    res = await gql(client, mv, {"m": mid, "a": 300, "k": "w2"}, token)
    assert res["data"]["moveStoreVouchersToWallet"]["field"] == "amountFen"
    wallet = await gql(
        client,
        "query($m: ID!) { merchantWallet(merchantId: $m) { vouchersFen } }",
        {"m": mid},
        token,
    )
    assert wallet["data"]["merchantWallet"]["vouchersFen"] == 200
    owner_wallet = await gql(client, "{ wallet { vouchersFen } }", token=token)
    assert owner_wallet["data"]["wallet"]["vouchersFen"] == 300
