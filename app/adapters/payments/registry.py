"""Which adapters exist: built from settings, or installed (tests, demos) with their own
base URL and transport. A channel without its keys configured is simply not available."""

from __future__ import annotations

import hashlib

from app.adapters.payments.base import ChannelError, PaymentChannel, PaymentErrorCode
from app.infra.config import Settings, get_settings

KNOWN = ("wechatpay", "alipay", "allinpay", "joinpay", "sandbox")

_installed: dict[str, PaymentChannel] = {}
_built: dict[str, PaymentChannel] = {}


def install(adapter: PaymentChannel) -> None:
    _installed[adapter.name] = adapter


def reset() -> None:
    _installed.clear()
    _built.clear()


def configured(name: str, settings: Settings | None = None) -> bool:
    s = settings or get_settings()
    if name in _installed:
        return True
    if name == "sandbox":
        return s.sandbox_enabled and s.app_env != "prod"
    if name == "wechatpay":
        return bool(
            s.wechatpay_sp_mchid
            and s.wechatpay_serial_no
            and s.wechatpay_private_key.get_secret_value()
            and s.wechatpay_apiv3_key.get_secret_value()
        )
    if name == "alipay":
        return bool(
            s.alipay_app_id and s.alipay_private_key.get_secret_value() and s.alipay_public_key
        )
    if name == "allinpay":
        return bool(
            s.allinpay_appid and s.allinpay_private_key.get_secret_value() and s.allinpay_public_key
        )
    if name == "joinpay":
        return bool(s.joinpay_merchant_no and s.joinpay_key.get_secret_value())
    return False


def get_channel(name: str) -> PaymentChannel:
    if name in _installed:
        return _installed[name]
    if name in _built:
        return _built[name]
    s = get_settings()
    if name not in KNOWN or not configured(name, s):
        raise ChannelError(
            PaymentErrorCode.CHANNEL_NOT_CONFIGURED, f"payment channel {name!r} is not configured"
        )
    try:
        adapter = _build(name, s)
    except ValueError:
        # Never echo the key material that failed to load.
        raise ChannelError(
            PaymentErrorCode.CHANNEL_NOT_CONFIGURED, f"payment channel {name!r} keys do not load"
        ) from None
    _built[name] = adapter
    return adapter


async def aclose() -> None:
    """Close the adapters' kept HTTP clients (at shutdown)."""
    for adapter in list(_built.values()):
        http = getattr(adapter, "http", None)
        if http is not None:
            await http.aclose()


def sandbox_private_seed(settings: Settings) -> bytes:
    return hashlib.sha256(
        b"sandbox-provider:" + settings.sandbox_key_seed.get_secret_value().encode()
    ).digest()


def _build(name: str, s: Settings) -> PaymentChannel:
    from app.adapters.payments import crypto

    timeout = s.payment_timeout_s
    if name == "wechatpay":
        from app.adapters.payments.wechatpay import WeChatPay, WeChatPayConfig

        return WeChatPay(
            WeChatPayConfig(
                sp_mchid=s.wechatpay_sp_mchid,
                sp_appid=s.wechatpay_sp_appid or s.wechat_appid,
                app_appid=s.wechatpay_app_appid,
                serial_no=s.wechatpay_serial_no,
                private_key=crypto.load_private_key(s.wechatpay_private_key.get_secret_value()),
                apiv3_key=s.wechatpay_apiv3_key.get_secret_value().encode(),
                public_key_id=s.wechatpay_public_key_id,
                public_key=(
                    crypto.load_public_key(s.wechatpay_public_key)
                    if s.wechatpay_public_key
                    else None
                ),
                notify_window_s=s.payment_notify_window_s,
                sp_name=s.wechatpay_sp_name,
                cert_renew_before_s=s.wechatpay_cert_renew_before_s,
            ),
            s.wechatpay_api_base,
            timeout_s=timeout,
        )
    if name == "alipay":
        from app.adapters.payments.alipay import Alipay, AlipayConfig

        return Alipay(
            AlipayConfig(
                app_id=s.alipay_app_id,
                private_key=crypto.load_private_key(s.alipay_private_key.get_secret_value()),
                alipay_public_key=crypto.load_public_key(s.alipay_public_key),
                platform_user_id=s.alipay_platform_user_id,
            ),
            s.alipay_api_base,
            timeout_s=timeout,
        )
    if name == "allinpay":
        from app.adapters.payments.aggregators import Allinpay, AllinpayConfig

        return Allinpay(
            AllinpayConfig(
                appid=s.allinpay_appid,
                orgid=s.allinpay_orgid,
                private_key=crypto.load_private_key(s.allinpay_private_key.get_secret_value()),
                provider_public_key=crypto.load_public_key(s.allinpay_public_key),
                platform_cusid=s.allinpay_platform_cusid,
            ),
            s.allinpay_api_base,
            timeout_s=timeout,
        )
    if name == "joinpay":
        from app.adapters.payments.aggregators import Joinpay, JoinpayConfig

        return Joinpay(
            JoinpayConfig(
                merchant_no=s.joinpay_merchant_no,
                key=s.joinpay_key.get_secret_value(),
                platform_alt_mch_no=s.joinpay_platform_alt_mch_no,
            ),
            s.joinpay_api_base,
            timeout_s=timeout,
        )
    import httpx

    from app.dev import sandbox_provider
    from app.dev.sandbox import Sandbox, SandboxConfig

    # The sandbox provider lives in this process: the adapter reaches it in-process
    # (no server needed for the embedded default), over the same HTTP protocol.
    return Sandbox(
        SandboxConfig.from_settings(s),
        "http://sandbox.local/sandbox/api",
        transport=httpx.ASGITransport(app=sandbox_provider.provider_app()),
        timeout_s=timeout,
    )
