"""The POS page (`/pos`) in a real browser (headless Chromium) against a real server:
a device signs in, scans a consumer's member code, opens a counter order, and sees it
turn paid once the consumer confirms and pays through the API (the sandbox channel's
signed notification). Every request that leaves loopback is refused and must not have
been made."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect
from strawberry.relay import GlobalID

from tests.browser import offline_page
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for
from tests.live_server import live_server

REGISTER = """mutation($m: ID!, $s: String!) { registerPosDevice(merchantId: $m, serial: $s) {
  ... on PosDeviceRegistered { secret } ... on MerchantError { code } } }"""
LOGIN = """mutation($s: String!, $k: String!) { posDeviceLogin(serial: $s, secret: $k) {
  __typename ... on AuthError { code message } } }"""
LOGIN_TOKEN = """mutation($s: String!, $k: String!) { posDeviceLogin(serial: $s, secret: $k) {
  ... on AuthPayload { accessToken } } }"""
DEVICE = "{ posDevice { serial merchantId merchantName } }"
MEMBER_CODE = "{ memberCode { code } }"
TO_CONFIRM = "{ myCounterOrdersToConfirm { id amountFen } }"
CONFIRM = """mutation($o: ID!) { confirmCounterOrder(orderId: $o) { __typename
  ... on CreateOrderSuccess { payment { ... on SandboxPayParams { outTradeNo } } }
  ... on OrderError { code message } } }"""
WAIT_MS = 15_000


async def _device(api: httpx.AsyncClient, serial: str) -> tuple[object, str]:
    """A store and one POS device of it, registered by its owner through the API."""
    store = await make_merchant(name="鲜果小铺")
    owner = await token_for(store.owner_id, "merchant_owner")
    mid = str(GlobalID("Merchant", str(store.id)))
    made = await gql(api, REGISTER, {"m": mid, "s": serial}, owner)
    return store, made["data"]["registerPosDevice"]["secret"]


async def _sign_in(page: Page, base: str, serial: str, secret: str) -> None:
    await page.goto(base + "/pos")
    await page.fill("#serial", serial)
    await page.fill("#secret", secret)
    await page.click("#login")


async def test_the_pos_page_opens_a_counter_order_and_sees_it_paid(db):
    with live_server() as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            store, secret = await _device(api, "SN-PAGE-1")
            consumer = await make_user()
            consumer.nickname = "王芳"
            await consumer.save(update_fields=["nickname"])
            me = await token_for(consumer.id)
            async with offline_page() as (page, refused):
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))

                # the device signs in: its store and its bind code are shown
                await _sign_in(page, base, "SN-PAGE-1", secret)
                await expect(page.locator("#store")).to_contain_text("鲜果小铺", timeout=WAIT_MS)
                await expect(page.locator("#bind-code")).not_to_be_empty(timeout=WAIT_MS)

                # the scanner gun types the consumer's member code and Enter
                code = (await gql(api, MEMBER_CODE, token=me))["data"]["memberCode"]["code"]
                await page.fill("#member-code", code)
                await page.press("#member-code", "Enter")
                await expect(page.locator("#member")).to_contain_text("王*", timeout=WAIT_MS)

                # an amount with three decimals is refused on the page, nothing opened
                await page.fill("#amount", "12.345")
                await page.click("#open-order")
                await expect(page.locator("#error")).to_contain_text("最多两位小数")
                assert (await gql(api, TO_CONFIRM, token=me))["data"][
                    "myCounterOrdersToConfirm"
                ] == []

                # 88.5 yuan: the order waits for the consumer
                await page.fill("#amount", "88.5")
                await page.click("#open-order")
                row = page.locator("#opened tr").first
                await expect(row).to_contain_text("¥88.50", timeout=WAIT_MS)
                await expect(row).to_contain_text("待顾客确认")
                waiting = (await gql(api, TO_CONFIRM, token=me))["data"]["myCounterOrdersToConfirm"]
                assert [o["amountFen"] for o in waiting] == [8_850]
                assert await row.get_attribute("data-order-id") == waiting[0]["id"]

                # the consumer confirms in the app and pays on the sandbox page
                confirmed = await gql(api, CONFIRM, {"o": waiting[0]["id"]}, me)
                result = confirmed["data"]["confirmCounterOrder"]
                assert result["__typename"] == "CreateOrderSuccess", result
                no = result["payment"]["outTradeNo"]
                paid = await api.post(f"/sandbox/pay/{no}", headers={"accept": "application/json"})
                assert paid.status_code == 200, paid.text

                # the page sees it paid, in its orders and in today's payments
                await expect(row).to_contain_text("已支付", timeout=WAIT_MS)
                today = page.locator("#today tr", has_text="¥88.50")
                await expect(today).to_contain_text("已支付", timeout=WAIT_MS)
                await expect(page.locator("#today-total")).to_contain_text("共 1 笔")
    assert refused == [], refused
    assert errors == [], errors


async def test_a_wrong_secret_shows_the_typed_error_on_the_page(db):
    with live_server() as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            await _device(api, "SN-PAGE-2")
            async with offline_page() as (page, refused):
                await _sign_in(page, base, "SN-PAGE-2", "not-the-secret")
                error = page.locator("#error")
                await expect(error).to_be_visible(timeout=WAIT_MS)
                shown = await error.inner_text()
                # the page stays on the login form, holding no token
                await expect(page.locator("#counter-view")).to_be_hidden()
                assert await page.evaluate("sessionStorage.length") == 0
            # what the page shows is the API's own message for that error (Chinese)
            answer = await gql(api, LOGIN, {"s": "SN-PAGE-2", "k": "not-the-secret"})
            typed = answer["data"]["posDeviceLogin"]
    assert typed["__typename"] == "AuthError"
    assert shown == typed["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in shown), shown
    assert refused == [], refused


async def test_a_device_learns_its_store_and_a_person_is_refused(client, db):
    store, secret = await _device(client, "SN-PAGE-3")
    login = await gql(client, LOGIN_TOKEN, {"s": "SN-PAGE-3", "k": secret})
    device = login["data"]["posDeviceLogin"]["accessToken"]
    seen = (await gql(client, DEVICE, token=device))["data"]["posDevice"]
    assert seen == {
        "serial": "SN-PAGE-3",
        "merchantId": str(GlobalID("Merchant", str(store.id))),
        "merchantName": "鲜果小铺",
    }
    owner = await token_for(store.owner_id, "merchant_owner")
    refused = await gql(client, DEVICE, token=owner, expect_errors=True)
    assert refused["data"] == {"posDevice": None}
    assert refused["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
