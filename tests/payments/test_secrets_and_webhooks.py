"""Alipay and aggregator notifications through the webhook, and the proof that no
secret (API keys, private keys, APIv3 key) reaches a log line, an error message or a
stored notification, over full runs including the failure paths."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from app.adapters.payments import registry
from app.infra.errors import DomainError
from app.models.orders import Order, OrderStatus
from app.models.payments import MerchantChannel, Payment, PaymentNotification, SplitStatus
from app.services import checkout
from app.services.reconcile import reconcile_payments
from tests.factories import make_merchant, make_user
from tests.fakes.wechatpay import new_key, pem_private
from tests.payments.conftest import SUB_MCHID


async def _shop(channel: str, pmid: str, openid: str | None = None):
    merchant = await make_merchant(discount_bps=1000)
    await MerchantChannel.create(
        merchant_id=merchant.id, channel=channel, priority=1, provider_merchant_id=pmid
    )
    consumer = await make_user(wechat_openid=openid)
    return consumer, merchant


async def _order(shop, key="k1", amount=10_000) -> Order:
    consumer, merchant = shop
    return await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=amount, idempotency_key=key
    )


async def test_alipay_notification_through_the_webhook(app_client, alipay):
    registry.install(alipay.adapter())
    shop = await _shop("alipay", "2088000000000777", openid="o-wechat-only")
    order = await _order(shop)
    no = (await Payment.get(order_id=order.id)).out_trade_no
    # no Alipay buyer id on file: the app order string (the WeChat openid is not used)
    assert order.pay_params["orderString"].startswith("app_id=")
    assert no not in alipay.fake.trades  # the app pays it; the gateway sees it then
    alipay.fake.trades[no] = {
        "trade_no": "2026112222001", "total": 10_000, "trade_status": "WAIT_BUYER_PAY",
        "royalty_freeze": True, "refunded": 0,
    }  # fmt: skip
    alipay.fake.pay(no)
    headers, body = alipay.fake.notification(no, key=new_key())
    bad = await app_client.post("/pay/notify/alipay", content=body, headers=headers)
    assert bad.text == "fail"
    headers, body = alipay.fake.notification(no)
    ok = await app_client.post("/pay/notify/alipay", content=body, headers=headers)
    assert ok.status_code == 200 and ok.text == "success"
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    # Alipay redelivers the same notification: acknowledged, nothing done
    again = await app_client.post("/pay/notify/alipay", content=body, headers=headers)
    assert again.text == "success"
    outcomes = await PaymentNotification.all().order_by("id").values_list("outcome", flat=True)
    assert outcomes == ["rejected", "applied", "duplicate"]
    # the royalty settle followed the payment; it completes asynchronously at Alipay
    assert list(alipay.fake.settles.values())[0]["amount"] == 1_000
    payment = await Payment.get(order_id=order.id)
    assert payment.split_status == SplitStatus.PROCESSING
    # and reconciliation follows it to completion
    report = await reconcile_payments()
    assert report.splits_finished == 1
    assert (await Payment.get(id=payment.id)).split_status == SplitStatus.FINISHED


async def test_joinpay_notification_through_the_webhook(app_client, joinpay):
    registry.install(joinpay.adapter())
    shop = await _shop("joinpay", "SUB-J-1", openid="o-j")
    order = await _order(shop)
    no = (await Payment.get(order_id=order.id)).out_trade_no
    assert joinpay.fake.trades[no]["alt"][0]["altAmount"] == "10.00"
    joinpay.fake.pay(no)
    headers, body = joinpay.fake.notification(no, r3_Amount="1.00")
    assert (await app_client.post("/pay/notify/joinpay", content=body, headers=headers)).text == (
        "fail"
    )
    headers, body = joinpay.fake.notification(no)
    ok = await app_client.post("/pay/notify/joinpay", content=body, headers=headers)
    assert ok.text == "success" and (await Order.get(id=order.id)).status == OrderStatus.PAID
    reasons = await PaymentNotification.all().order_by("id").values_list("reason", flat=True)
    assert reasons == ["amount mismatch", "order paid"]


async def test_unknown_channel_is_refused_and_not_stored(app_client):
    r = await app_client.post("/pay/notify/paypal", content=b"x=1")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_CHANNEL")
    assert not await PaymentNotification.exists(channel="paypal")


async def test_no_secret_reaches_logs_errors_or_storage(
    app_client, wechat, alipay, joinpay, settings, monkeypatch, caplog
):
    from tests.fakes.server import serve

    caplog.set_level(logging.DEBUG)
    sandbox_key = "sandbox-api-key-" + "s3cr3t" * 4
    monkeypatch.setattr(settings, "sandbox_api_key", SecretStr(sandbox_key))
    # settings holding secrets never show them
    wx_pem = pem_private(wechat.merchant_key)
    monkeypatch.setattr(settings, "wechatpay_private_key", SecretStr(wx_pem))
    monkeypatch.setattr(settings, "wechatpay_apiv3_key", SecretStr(wechat.apiv3_key.decode()))
    monkeypatch.setattr(settings, "joinpay_key", SecretStr(joinpay.key))
    secrets = [
        wechat.apiv3_key.decode(),
        joinpay.key,
        sandbox_key,
        *_pem_chunks(wx_pem),
        *_pem_chunks(pem_private(alipay.app_key)),
        *_pem_chunks(pem_private(wechat.fake.platform_key)),
    ]
    messages: list[str] = [repr(settings), str(settings.model_dump())]

    async def attempt(coro):
        try:
            return await coro
        except DomainError as exc:
            messages.append(f"{exc.code} {exc.message} {exc!r}")
            return None

    # WeChat: a happy payment, a refused request, a timeout, bad notifications
    registry.install(wechat.adapter())
    wx = await _shop("wechatpay", SUB_MCHID, openid="o-secrets")
    order = await _order(wx, "w1")
    no = (await Payment.get(order_id=order.id)).out_trade_no
    wechat.fake.pay(no)
    for pair in (
        wechat.fake.payment_notification(no, signing_key=new_key()),
        wechat.fake.payment_notification(no, apiv3_key=b"x" * 32),
        wechat.fake.payment_notification(no, serial="UNKNOWN"),
        wechat.fake.payment_notification(no),
    ):
        await app_client.post("/pay/notify/wechatpay", content=pair[1], headers=pair[0])
    wechat.fake.fail_next = [(401, "SIGN_ERROR"), (500, "SYSTEM_ERROR")]
    await attempt(_order(wx, "w2"))
    await attempt(_order(wx, "w3"))
    wechat.fake.delay_s = 0.3
    with serve(wechat.fake.app) as url:
        slow = wechat.adapter(base_url=url, timeout_s=0.05)
        slow.http.transport = None
        registry.install(slow)
        await attempt(_order(wx, "w4"))
    wechat.fake.delay_s = 0
    messages.append(repr(registry.get_channel("wechatpay")))
    # Alipay with a wrong key, Joinpay with a wrong key, the sandbox with a wrong key
    registry.install(alipay.adapter(private_key=new_key()))
    await attempt(_order(await _shop("alipay", "2088", openid="2088-b"), "a1"))
    await attempt(registry.get_channel("alipay").query("MS-unknown"))
    registry.install(joinpay.adapter(key="wrong-" + joinpay.key))
    await attempt(_order(await _shop("joinpay", "J1", openid="o-j2"), "j1"))
    messages.append(repr(registry.get_channel("joinpay")))
    registry.reset()
    sb = await _shop("sandbox", "")
    registry.get_channel("sandbox")  # built with the key it has now...
    monkeypatch.setattr(settings, "sandbox_api_key", SecretStr(sandbox_key + "-rotated"))
    await attempt(_order(sb, "s1"))  # ...which the provider no longer accepts

    stored = [f"{n.reason} {n.headers}" for n in await PaymentNotification.all()] + [
        p.error_code for p in await Payment.all()
    ]
    text = "\n".join([caplog.text, *messages, *stored])
    # the failures did happen
    for failure in ("CHANNEL_TIMEOUT", "SIGN_ERROR", "UNAUTHORIZED", "isv.invalid-signature"):
        assert failure in text
    leaked = [s[:12] + "..." for s in secrets if s in text]
    assert leaked == []


def _pem_chunks(pem: str) -> list[str]:
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return [body[i : i + 40] for i in range(0, len(body) - 40, 200)]


@pytest.mark.parametrize("value", ["", "not a key"])
def test_a_bad_key_in_settings_is_reported_without_echoing_it(settings, monkeypatch, value):
    monkeypatch.setattr(settings, "wechatpay_sp_mchid", "1900000100")
    monkeypatch.setattr(settings, "wechatpay_serial_no", "ABC")
    monkeypatch.setattr(settings, "wechatpay_apiv3_key", SecretStr("k" * 32))
    monkeypatch.setattr(settings, "wechatpay_private_key", SecretStr(value or "x" * 64))
    with pytest.raises(DomainError) as err:
        registry.get_channel("wechatpay")
    assert err.value.code == "CHANNEL_NOT_CONFIGURED" and "x" * 16 not in err.value.message
