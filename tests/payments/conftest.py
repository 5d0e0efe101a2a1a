"""Payment test fixtures: each provider's fake with keys generated here, and adapters
pointed at them through an injected transport."""

from __future__ import annotations

import secrets
import sys

import httpx
import pytest

from app.adapters.payments import crypto, registry
from app.adapters.payments.wechatpay import WeChatPay, WeChatPayConfig
from tests.fakes.wechatpay import WeChatPayFake, new_key

SP_MCHID = "1900000100"
SP_APPID = "wx-sp-appid-test"
APP_APPID = "wx-app-appid-test"
SUB_MCHID = "1900000109"
SP_NAME = "多店积分平台（深圳）有限公司"  # the service provider's full name (商户全称)


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_guard = {"on": False}


def _loopback_audit(event: str, args: tuple) -> None:
    # The SDK judges default to the providers' real hosts: while a judge test runs, any
    # name lookup or connect beyond this machine fails at once instead of leaving it.
    if not _guard["on"] or event not in ("socket.getaddrinfo", "socket.connect"):
        return
    if event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if host not in _LOOPBACK:
            raise ConnectionRefusedError(f"tests reach 127.0.0.1 only, not {host!r}")
    elif isinstance(args[1], tuple) and args[1][0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"tests reach 127.0.0.1 only, not {args[1][0]!r}")


sys.addaudithook(_loopback_audit)


@pytest.fixture
def loopback_only():
    _guard["on"] = True
    yield
    _guard["on"] = False


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
            sp_name=SP_NAME,
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
            sp_name=SP_NAME,
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


ALIPAY_APP_ID = "2021000000000001"
ALIPAY_PLATFORM = "2088000000000001"


class AlipayKit:
    def __init__(self) -> None:
        from tests.fakes.alipay import AlipayFake

        self.app_key = new_key()
        self.fake = AlipayFake(
            app_id=ALIPAY_APP_ID,
            app_public_key=self.app_key.public_key(),
            platform_user_id=ALIPAY_PLATFORM,
        )

    def adapter(self, **over):
        from app.adapters.payments.alipay import Alipay, AlipayConfig

        kw = dict(
            app_id=ALIPAY_APP_ID,
            private_key=self.app_key,
            alipay_public_key=self.fake.key.public_key(),
            platform_user_id=ALIPAY_PLATFORM,
        )
        kw.update(over)
        return Alipay(
            AlipayConfig(**kw),
            "http://alipay.fake/gateway.do",
            transport=httpx.ASGITransport(app=self.fake.app),
        )


@pytest.fixture
def alipay() -> AlipayKit:
    return AlipayKit()


ALLIN_APPID = "00000051"
ALLIN_ORGID = "56479107392N35H"
ALLIN_PLATFORM = "990440153996000"
JOIN_MCH = "888100000000001"
JOIN_PLATFORM_ALT = "333100000000001"


class AllinpayKit:
    def __init__(self) -> None:
        from tests.fakes.allinpay import AllinpayFake

        self.merchant_key = new_key()
        self.fake = AllinpayFake(
            appid=ALLIN_APPID, orgid=ALLIN_ORGID, merchant_public_key=self.merchant_key.public_key()
        )

    def adapter(self, **over):
        from app.adapters.payments.aggregators import Allinpay, AllinpayConfig

        kw = dict(
            appid=ALLIN_APPID,
            orgid=ALLIN_ORGID,
            private_key=self.merchant_key,
            provider_public_key=self.fake.key.public_key(),
            platform_cusid=ALLIN_PLATFORM,
        )
        kw.update(over)
        return Allinpay(
            AllinpayConfig(**kw),
            "http://allinpay.fake",
            transport=httpx.ASGITransport(app=self.fake.app),
        )


class JoinpayKit:
    def __init__(self) -> None:
        from tests.fakes.joinpay import JoinpayFake

        self.key = secrets.token_hex(16)
        self.fake = JoinpayFake(merchant_no=JOIN_MCH, key=self.key)

    def adapter(self, **over):
        from app.adapters.payments.aggregators import Joinpay, JoinpayConfig

        kw = dict(merchant_no=JOIN_MCH, key=self.key, platform_alt_mch_no=JOIN_PLATFORM_ALT)
        kw.update(over)
        return Joinpay(
            JoinpayConfig(**kw),
            "http://joinpay.fake",
            transport=httpx.ASGITransport(app=self.fake.app),
        )


@pytest.fixture
def allinpay() -> AllinpayKit:
    return AllinpayKit()


@pytest.fixture
def joinpay() -> JoinpayKit:
    return JoinpayKit()


@pytest.fixture
async def app_client(db):
    """The app under test, with the sandbox provider notifying it in-process."""
    from app.api.http import create_app
    from tests.fakes.sandbox import delivering_to

    app = create_app(manage_db=False)
    with delivering_to(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            yield c


@pytest.fixture
async def shop(db, wechat):
    """A merchant paid through WeChat Pay (the fake) and a consumer with an openid."""
    from app.models.payments import MerchantChannel
    from tests.factories import make_merchant, make_user

    registry.install(wechat.adapter())
    merchant = await make_merchant(discount_bps=1000)
    await MerchantChannel.create(
        merchant_id=merchant.id, channel="wechatpay", priority=10, provider_merchant_id=SUB_MCHID
    )
    consumer = await make_user(wechat_openid="o-consumer-1")
    return consumer, merchant


async def shop_order(shop, amount=10_000, key="k1"):
    from app.services import checkout

    consumer, merchant = shop
    return await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=amount, idempotency_key=key
    )
