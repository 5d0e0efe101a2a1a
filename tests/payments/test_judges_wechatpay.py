"""The WeChat Pay adapter and its fake, judged by an independent SDK (`wechatpayv3`).

The SDK signs, verifies and decrypts as WeChat's merchants do; here it checks that the
adapter's request signatures and client signatures are byte for byte its own, that
notifications it signs are accepted and every one-byte change to them refused, and that
the fake's answers and notifications are ones the SDK accepts (so the fake cannot drift
from the provider without a test failing). Everything runs against 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import types
from pathlib import Path

import pytest
import wechatpayv3.utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3 import WeChatPay as SdkWeChatPay
from wechatpayv3 import WeChatPayType

from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    NotificationRejected,
    PayRequest,
    RefundRequest,
    SplitPlan,
    SplitRequest,
    SplitReturnRequest,
)
from tests.fakes.server import serve
from tests.fakes.wechatpay import AUTH_RE, pem_private, pem_public
from tests.payments.conftest import SP_APPID, SP_MCHID, SP_NAME, SUB_MCHID, WeChatKit

pytestmark = [
    pytest.mark.usefixtures("loopback_only"),
    # the SDK reads a certificate property cryptography has deprecated
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]


def pay_request(no: str = "MS0000000001", client: ClientKind = ClientKind.MINIPROGRAM):
    return PayRequest(
        out_trade_no=no,
        amount_fen=10_000,
        description="积分订单 1",
        notify_url="https://points.example/pay/notify/wechatpay",
        split=SplitPlan.for_order(10_000, 1_000),
        provider_merchant_id=SUB_MCHID,
        client=client,
        payer_openid="o-consumer-1",
    )


def sdk(kit: WeChatKit, cert_dir: Path | None = None, gateway: str = "") -> SdkWeChatPay:
    """The SDK as the same merchant: in public-key mode with the fake's public key, or in
    certificate mode with the fake's certificates on disk (so it never downloads them
    from WeChat's host at construction)."""
    kw: dict = {}
    if kit.public_key_mode:
        kw = dict(public_key=pem_public(kit.fake.platform_key), public_key_id=kit.fake.pub_key_id)
    else:
        assert cert_dir is not None
        for serial, (_, pem) in kit.fake.certs.items():
            (cert_dir / f"{serial}.pem").write_text(pem)
        kw = dict(cert_dir=str(cert_dir))
    judge = SdkWeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=SP_MCHID,
        private_key=pem_private(kit.merchant_key),
        cert_serial_no=kit.serial_no,
        appid=SP_APPID,
        apiv3_key=kit.apiv3_key.decode(),
        partner_mode=True,
        timeout=(2, 5),
        **kw,
    )
    if gateway:
        # The SDK has no public setting for its host; this is where it keeps it.
        judge._core._gate_way = gateway
    return judge


async def _every_kind_of_request(adapter, fake) -> None:
    """The adapter's 12 kinds of signed requests, in a believable order."""
    await adapter.create_payment(pay_request())
    await adapter.create_payment(pay_request("MS0000000002", ClientKind.APP))
    await adapter.query("MS0000000001", SUB_MCHID)
    await adapter.close("MS0000000002", SUB_MCHID)
    fake.pay("MS0000000001")
    txn = fake.trades["MS0000000001"]["transaction_id"]
    await adapter.prepare_split(SUB_MCHID)
    split = SplitRequest("MS0000000001", txn, "SP0000000001", 1_000, 9_000, SUB_MCHID)
    done = await adapter.split(split)
    await adapter.query_split(split)
    await adapter.split(SplitRequest("MS0000000001", txn, "SP0000000009", 0, 0, SUB_MCHID))
    await adapter.return_split(
        SplitReturnRequest("MS0000000001", txn, "SP0000000001", done.channel_split_id,
                           "RT|r@1*", 100, SUB_MCHID)
    )  # fmt: skip
    await adapter.refund(
        RefundRequest("MS0000000001", txn, "R|1", 1_000, 10_000, "https://p.example/n",
                      SUB_MCHID, reason="顾客退货")
    )  # fmt: skip
    await adapter.query_refund("R|1", "MS0000000001", SUB_MCHID)


async def test_request_signatures_are_the_sdks(wechat, monkeypatch):
    adapter = wechat.adapter()
    await adapter.refresh_certificates()
    await _every_kind_of_request(adapter, wechat.fake)
    kinds = {(m, re.sub(r"/(MS|SP|R)[^/?]*", "/{no}", p.split("?")[0]))
             for m, p, _, _ in wechat.fake.signed_requests}  # fmt: skip
    assert len(kinds) == 12
    # the raw, percent-encoded path is what both sign: `R|1` travels as `R%7C1`
    assert any("R%7C1" in p for _, p, _, _ in wechat.fake.signed_requests)
    key = wechatpayv3.utils.load_private_key(pem_private(wechat.merchant_key))
    for method, path, body, header in wechat.fake.signed_requests:
        parts = dict(AUTH_RE.findall(header))
        # the SDK's clock read at the moment the adapter signed
        clock = types.SimpleNamespace(time=lambda ts=int(parts["timestamp"]): ts)
        monkeypatch.setattr(wechatpayv3.utils, "time", clock)
        expected = wechatpayv3.utils.build_authorization(
            path, method, SP_MCHID, wechat.serial_no, key,
            data=body.decode() or None, nonce_str=parts["nonce_str"],
        )  # fmt: skip
        assert header == expected, (method, path)


async def test_pay_sign_and_app_sign_are_the_sdks(wechat_pubkey):
    kit = wechat_pubkey
    adapter, judge = kit.adapter(), sdk(kit)
    p = (await adapter.create_payment(pay_request())).pay_params
    assert p["paySign"] == judge.sign([p["appId"], p["timeStamp"], p["nonceStr"], p["package"]])
    a = (await adapter.create_payment(pay_request("MS0000000002", ClientKind.APP))).pay_params
    assert a["sign"] == judge.sign([a["appid"], a["timestamp"], a["noncestr"], a["prepayid"]])


def _sdk_signed_notification(kit: WeChatKit, resource: dict) -> tuple[dict, bytes]:
    """A notification as WeChat sends it, signed with the SDK's own signer."""
    nonce = secrets.token_hex(6)
    cipher = AESGCM(kit.apiv3_key).encrypt(
        nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), b"transaction"
    )
    body = json.dumps(
        {"id": "EV-1", "create_time": "2026-12-06T10:00:00+08:00",
         "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
         "summary": "支付成功",
         "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                      "ciphertext": base64.b64encode(cipher).decode(),
                      "associated_data": "transaction", "nonce": nonce}},
        ensure_ascii=False,
    )  # fmt: skip
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    serial, key = kit.fake.signing
    signature = wechatpayv3.utils.rsa_sign(key, f"{ts}\n{nonce}\n{body}\n")
    headers = {"Wechatpay-Serial": serial, "Wechatpay-Signature": signature,
               "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
               "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}  # fmt: skip
    return headers, body.encode()


async def test_sdk_signed_notifications_accepted_and_every_one_byte_change_refused(wechat):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    wechat.fake.pay("MS0000000001")
    headers, body = _sdk_signed_notification(
        wechat, wechat.fake.transaction_resource("MS0000000001")
    )
    refused = 0
    variants = 0
    for name in ("Wechatpay-Timestamp", "Wechatpay-Nonce"):
        for i in range(len(headers[name])):
            changed = bytearray(headers[name].encode())
            changed[i] ^= 0x01
            variants += 1
            try:
                await adapter.parse_notification({**headers, name: changed.decode()}, body)
            except NotificationRejected:
                refused += 1
    for i in range(len(body)):
        changed = bytearray(body)
        changed[i] ^= 0x01
        variants += 1
        try:
            await adapter.parse_notification(headers, bytes(changed))
        except NotificationRejected:
            refused += 1
    assert variants > 500 and refused == variants
    notice = await adapter.parse_notification(headers, body)
    assert notice.paid and notice.out_trade_no == "MS0000000001" and notice.amount_fen == 10_000


async def test_fake_notifications_verify_with_the_sdk(wechat, tmp_path):
    adapter = wechat.adapter()
    await adapter.create_payment(pay_request())
    wechat.fake.pay("MS0000000001")
    judge = sdk(wechat, tmp_path)
    headers, body = wechat.fake.payment_notification("MS0000000001")
    data = judge.callback(headers, body)
    assert data is not None and data["resource"]["out_trade_no"] == "MS0000000001"


async def test_fake_answers_verify_with_the_sdk_and_it_adds_an_encrypted_receiver(wechat, tmp_path):
    await wechat.adapter().create_payment(pay_request())
    with serve(wechat.fake.app) as url:
        judge = sdk(wechat, tmp_path, gateway=url)
        # the SDK checks the answer's signature and its Wechatpay-Signature-Type
        code, text = judge.query(out_trade_no="MS0000000001", sub_mchid=SUB_MCHID)
        assert code == 200 and json.loads(text)["trade_state"] == "NOTPAY"
        # the receiver as the SDK adds it: the name encrypted under the platform key
        code, _ = judge.profitsharing_add_receiver(
            "MERCHANT_ID", SP_MCHID, "SERVICE_PROVIDER", name=SP_NAME, sub_mchid=SUB_MCHID
        )
        assert code == 200 and wechat.fake.receiver_names[(SUB_MCHID, SP_MCHID)] == SP_NAME


async def test_receiver_name_is_sent_encrypted_as_wechat_requires(wechat):
    adapter = wechat.adapter()
    await adapter.prepare_split(SUB_MCHID)
    # the fake decrypted it with the platform key the Wechatpay-Serial header named
    assert wechat.fake.receiver_names[(SUB_MCHID, SP_MCHID)] == SP_NAME
    # without the name the receiver is refused, as WeChat refuses it
    with pytest.raises(ChannelError, match="CHANNEL_NOT_CONFIGURED|full name"):
        await wechat.adapter(sp_name="").prepare_split(SUB_MCHID)


async def test_expired_platform_certificate_refused_as_the_sdk_refuses_it(wechat, tmp_path):
    adapter = wechat.adapter(refresh_interval_s=0)  # free to download what WeChat serves
    await adapter.create_payment(pay_request())
    wechat.fake.pay("MS0000000001")
    judge = sdk(wechat, tmp_path)  # knows the certificate valid today
    # a notification signed with a certificate that expired 30 days ago, which the fake
    # also serves for download (its answers still signed with the valid one)
    valid = wechat.fake.serial, wechat.fake.platform_key
    expired = wechat.fake.rotate_certificate(valid_from_days=-400, valid_to_days=-30)
    expired_key = wechat.fake.platform_key
    wechat.fake.serial, wechat.fake.platform_key = valid
    headers, body = wechat.fake.payment_notification(
        "MS0000000001", serial=expired, signing_key=expired_key
    )
    with pytest.raises(NotificationRejected, match="unknown platform serial"):
        await adapter.parse_notification(headers, body)
    assert wechat.fake.certificate_downloads == 2  # it did download it, and dropped it
    with serve(wechat.fake.app) as url:
        judge._core._gate_way = url  # where it downloads certificates from
        assert judge.callback(headers, body) is None  # the SDK drops it too
    # and an answer signed with it is refused
    wechat.fake.serial, wechat.fake.platform_key = expired, expired_key
    with pytest.raises(ChannelError) as err:
        await adapter.query("MS0000000001", SUB_MCHID)
    assert err.value.code == "CHANNEL_BAD_RESPONSE"


async def test_certificates_renewed_ahead_of_expiry(wechat):
    first = wechat.fake.serial
    wechat.fake.rotate_certificate(valid_from_days=-300, valid_to_days=2)  # ends in 2 days
    del wechat.fake.certs[first]
    adapter = wechat.adapter(refresh_interval_s=0)
    await adapter.refresh_certificates()
    assert wechat.fake.certificate_downloads == 1
    nxt = wechat.fake.rotate_certificate()  # WeChat issues the next one
    await adapter.create_payment(pay_request())
    assert wechat.fake.certificate_downloads == 2 and nxt in adapter._platform_keys
    serial, _ = await adapter.encryption_key()
    assert serial == nxt  # sensitive fields go under the one that lasts longest
