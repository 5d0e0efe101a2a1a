"""Which adapters exist: a table of channel name -> adapter class, each built from
settings by its own `from_settings`, or installed (tests, demos) with their own base URL
and transport. A channel without its keys configured is simply not available.

The sandbox channel is a dev stand-in (app/dev/): the entry points register it
(`app.dev.wiring.install`), production code never imports it."""

from __future__ import annotations

from typing import Protocol

from app.adapters.payments.aggregators import Allinpay, Joinpay
from app.adapters.payments.alipay import Alipay
from app.adapters.payments.base import ChannelError, PaymentChannel, PaymentErrorCode
from app.adapters.payments.wechatpay import WeChatPay
from app.infra.config import Settings, get_settings

KNOWN = ("wechatpay", "alipay", "allinpay", "joinpay", "sandbox")


class ChannelClass(Protocol):
    """An adapter class: whether settings configure it, and the adapter they build."""

    @staticmethod
    def configured(s: Settings) -> bool: ...

    @classmethod
    def from_settings(cls, s: Settings) -> PaymentChannel: ...


ADAPTERS: dict[str, ChannelClass] = {
    "wechatpay": WeChatPay,
    "alipay": Alipay,
    "allinpay": Allinpay,
    "joinpay": Joinpay,
}

_installed: dict[str, PaymentChannel] = {}
_built: dict[str, PaymentChannel] = {}


def register(name: str, adapter_class: ChannelClass) -> None:
    """Add a channel's adapter class to the table (the dev stand-ins, at start-up)."""
    assert name in KNOWN, name
    ADAPTERS[name] = adapter_class


def install(adapter: PaymentChannel) -> None:
    _installed[adapter.name] = adapter


def reset() -> None:
    _installed.clear()
    _built.clear()


def configured(name: str, settings: Settings | None = None) -> bool:
    if name in _installed:
        return True
    adapter_class = ADAPTERS.get(name)
    return adapter_class is not None and adapter_class.configured(settings or get_settings())


def get_channel(name: str) -> PaymentChannel:
    if name in _installed:
        return _installed[name]
    if name in _built:
        return _built[name]
    s = get_settings()
    adapter_class = ADAPTERS.get(name)
    if adapter_class is None or not adapter_class.configured(s):
        raise ChannelError(
            PaymentErrorCode.CHANNEL_NOT_CONFIGURED, f"payment channel {name!r} is not configured"
        )
    try:
        adapter = adapter_class.from_settings(s)
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
