"""Adapters built from settings alone (environment variables in production)."""

from __future__ import annotations

from pydantic import SecretStr

from app.adapters.payments import registry
from app.adapters.payments.base import ClientKind, PayRequest, SplitPlan
from tests.fakes.server import serve
from tests.fakes.wechatpay import pem_private, pem_public
from tests.payments.conftest import SP_APPID, SP_MCHID, SUB_MCHID, WeChatKit


def test_nothing_but_the_sandbox_is_offered_without_keys(settings):
    assert [c for c in registry.KNOWN if registry.configured(c)] == ["sandbox"]


async def test_wechatpay_from_settings_over_loopback(settings, monkeypatch):
    kit = WeChatKit(public_key_mode=True)
    with serve(kit.fake.app) as url:
        for name, value in {
            "wechatpay_api_base": url,
            "wechatpay_sp_mchid": SP_MCHID,
            "wechatpay_sp_appid": SP_APPID,
            "wechatpay_serial_no": kit.serial_no,
            "wechatpay_private_key": SecretStr(pem_private(kit.merchant_key)),
            "wechatpay_apiv3_key": SecretStr(kit.apiv3_key.decode()),
            "wechatpay_public_key_id": kit.fake.pub_key_id,
            "wechatpay_public_key": pem_public(kit.fake.platform_key),
        }.items():
            monkeypatch.setattr(settings, name, value)
        assert registry.configured("wechatpay")
        adapter = registry.get_channel("wechatpay")
        start = await adapter.create_payment(
            PayRequest("MS0000000100", 100, "x", "https://n/pay/notify/wechatpay",
                       SplitPlan.for_order(100, 10), SUB_MCHID, ClientKind.MINIPROGRAM, "o-1")
        )  # fmt: skip
    assert start.pay_params["signType"] == "RSA"
    assert kit.fake.trades["MS0000000100"]["total"] == 100
    assert registry.get_channel("wechatpay") is adapter  # built once


def test_other_channels_build_from_settings(settings, monkeypatch, alipay, allinpay, joinpay):
    for name, value in {
        "alipay_app_id": "2021000000000001",
        "alipay_private_key": SecretStr(pem_private(alipay.app_key)),
        "alipay_public_key": pem_public(alipay.fake.key),
        "allinpay_appid": "00000051",
        "allinpay_private_key": SecretStr(pem_private(allinpay.merchant_key)),
        "allinpay_public_key": pem_public(allinpay.fake.key),
        "joinpay_merchant_no": "888100000000001",
        "joinpay_key": SecretStr(joinpay.key),
    }.items():
        monkeypatch.setattr(settings, name, value)
    for channel in ("alipay", "allinpay", "joinpay"):
        assert registry.configured(channel)
        assert registry.get_channel(channel).name == channel
