"""Payment test fixtures: each provider's fake with keys generated here, and adapters
pointed at them through an injected transport."""

from __future__ import annotations

import secrets

import httpx
import pytest

from app.payments import crypto, registry
from app.payments.wechatpay import WeChatPay, WeChatPayConfig
from tests.fakes.wechatpay import WeChatPayFake, new_key

SP_MCHID = "1900000100"
SP_APPID = "wx-sp-appid-test"
APP_APPID = "wx-app-appid-test"
SUB_MCHID = "1900000109"


@pytest.fixture(autouse=True)
def _payments_isolated(settings, monkeypatch):
    # Redis is shared with other runs: every test gets its own key namespace.
    monkeypatch.setattr(settings, "payment_redis_prefix", f"paytest:{secrets.token_hex(6)}")
    registry.reset()
    yield
    registry.reset()


class WeChatKit:
    def __init__(self, *, public_key_mode: bool = False) -> None:
        self.merchant_key = new_key()
        self.apiv3_key = secrets.token_hex(16).encode()  # 32 bytes
        self.serial_no = secrets.token_hex(20).upper()
        self.fake = WeChatPayFake(
            sp_mchid=SP_MCHID,
            sp_appid=SP_APPID,
            merchant_public_key=self.merchant_key.public_key(),
            merchant_serial=self.serial_no,
            apiv3_key=self.apiv3_key,
            public_key_mode=public_key_mode,
        )
        self.public_key_mode = public_key_mode

    def config(self, **over) -> WeChatPayConfig:
        kw = dict(
            sp_mchid=SP_MCHID,
            sp_appid=SP_APPID,
            app_appid=APP_APPID,
            serial_no=self.serial_no,
            private_key=self.merchant_key,
            apiv3_key=self.apiv3_key,
        )
        if self.public_key_mode:
            kw.update(
                public_key_id=self.fake.pub_key_id, public_key=self.fake.platform_key.public_key()
            )
        kw.update(over)
        return WeChatPayConfig(**kw)

    def adapter(self, base_url: str = "http://wechatpay.fake", transport=None, **kw) -> WeChatPay:
        timeout = kw.pop("timeout_s", 5.0)
        return WeChatPay(
            self.config(**kw),
            base_url,
            transport=transport or httpx.ASGITransport(app=self.fake.app),
            timeout_s=timeout,
        )


@pytest.fixture
def wechat() -> WeChatKit:
    return WeChatKit()


@pytest.fixture
def wechat_pubkey() -> WeChatKit:
    return WeChatKit(public_key_mode=True)


def verify_with(key, message: str, signature: str) -> bool:
    return crypto.rsa_verify(key.public_key(), message, signature)
