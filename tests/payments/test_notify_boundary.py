"""What anyone can send to `/pay/notify/<channel>` (issue 14): an unknown channel or a
malformed header is refused before anything is stored, with a 4xx and a code; the
bodies of unverified notifications are kept only within their per-channel budget; one
address gets 429 with Retry-After past its budget."""

from __future__ import annotations

import pytest

from app.adapters.payments import registry
from app.models.payments import PaymentNotification
from tests.fakes.wechatpay import new_key


def _trade(alipay, no: str) -> str:
    alipay.fake.trades[no] = {
        "trade_no": f"2026{no}", "total": 1_000, "trade_status": "TRADE_SUCCESS", "refunded": 0,
    }  # fmt: skip
    return no


async def test_unknown_channels_are_refused_and_store_nothing(app_client):
    names = ["paypal", "x" * 200, "%E4%B8%AD", "wechatpay2", "alipay%00", "WECHATPAY"]
    answers = [await app_client.post(f"/pay/notify/{n}", content=b"x=1" * 1000) for n in names]
    # tried 6: all refused with 404 and a code, none stored
    assert {(a.status_code, a.json()["code"]) for a in answers} == {(404, "UNKNOWN_CHANNEL")}
    assert await PaymentNotification.all().count() == 0


async def test_unverified_bodies_are_stored_within_the_channel_budget(
    app_client, alipay, settings, monkeypatch
):
    monkeypatch.setattr(settings, "notify_unverified_stored_per_channel", 3)
    registry.install(alipay.adapter())
    forger = new_key()
    forged = [alipay.fake.notification(_trade(alipay, f"MS-{i}"), key=forger) for i in range(10)]
    answers = [await app_client.post("/pay/notify/alipay", content=b, headers=h) for h, b in forged]
    # tried 10 forged: all answered "fail" as Alipay expects, 3 bodies kept
    assert [a.text for a in answers] == ["fail"] * 10
    rows = await PaymentNotification.all()
    assert [(r.outcome, r.verified) for r in rows] == [("rejected", False)] * 3


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Wechatpay-Timestamp", b"\xb2\xb3\xb9"),  # "²³¹": digits to str.isdigit, not to int
        ("Wechatpay-Signature", "é".encode("latin-1") * 40),
        ("Wechatpay-Signature", b"A" * 5000),
        ("Wechatpay-Nonce", b"abc\x01def"),
    ],
)
async def test_a_malformed_provider_header_is_a_4xx_with_a_code(app_client, wechat, header, value):
    registry.install(wechat.adapter())
    headers, body = wechat.fake.notification("TRANSACTION.SUCCESS", {"out_trade_no": "MS-x"})
    r = await app_client.post(
        "/pay/notify/wechatpay", content=body, headers={**headers, header: value}
    )
    assert (r.status_code, r.json()["code"]) == (400, "MALFORMED_HEADER")
    assert await PaymentNotification.all().count() == 0


async def test_a_missing_serial_or_a_nul_in_the_body_is_a_4xx(app_client, wechat, alipay):
    registry.install(wechat.adapter())
    registry.install(alipay.adapter())
    headers, body = wechat.fake.notification("TRANSACTION.SUCCESS", {"out_trade_no": "MS-x"})
    del headers["Wechatpay-Serial"]
    r = await app_client.post("/pay/notify/wechatpay", content=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, "FAIL")
    headers, body = alipay.fake.notification(_trade(alipay, "MS-nul"))
    r = await app_client.post("/pay/notify/alipay", content=body + b"\x00&x=\x00", headers=headers)
    assert (r.status_code, r.text) == (200, "fail")  # Alipay's own form of "refused"
    stored = await PaymentNotification.all()
    assert [n.outcome for n in stored] == ["rejected", "rejected"]
    assert "\x00" not in stored[1].body


async def test_one_address_gets_429_with_retry_after(app_client, settings, monkeypatch):
    monkeypatch.setattr(settings, "rate_notify_per_ip", 3)
    codes = [(await app_client.post("/pay/notify/paypal")).status_code for _ in range(3)]
    assert codes == [404] * 3
    r = await app_client.post("/pay/notify/paypal")
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    assert 0 < wait <= settings.rate_notify_window_s
    assert r.json()["code"] == "RATE_LIMITED" and r.json()["retryAfter"] == wait
