"""`payParams` typed per channel: what the client hands to its payment SDK.

The channel adapters (app/payments/) answer a payment's start with the fields their
provider's client SDK takes, stored on the order as they came. Here they become one
member of the `PayParams` union, chosen by their shape (an aggregator may hand out
WeChat's JSAPI fields, which are then `WechatJsapiPayParams` like WeChat Pay's own)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import strawberry


@strawberry.type(
    description=(
        "`wx.requestPayment` in the mini-program (WeChat JSAPI): pass these fields as "
        "they are (timeStamp, nonceStr, package, signType, paySign; appId is for a "
        "check of which mini-program the payment is for)."
    )
)
class WechatJsapiPayParams:
    channel: str
    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


@strawberry.type(
    description=(
        "WeChat Pay in the native app (OpenSDK `PayReq`): appId, partnerId, prepayId, "
        "packageValue = package, nonceStr, timeStamp, sign."
    )
)
class WechatAppPayParams:
    channel: str
    app_id: str
    partner_id: str
    prepay_id: str
    package: str
    nonce_str: str
    time_stamp: str
    sign: str


@strawberry.type(description="Alipay in the native app: the signed order string for `payV2`.")
class AlipayAppPayParams:
    channel: str
    order_string: str


@strawberry.type(
    description="Alipay's mini-program: the trade number for `my.tradePay({ tradeNO })`."
)
class AlipayTradePayParams:
    channel: str
    trade_no: str


@strawberry.type(
    description="An aggregator (allinpay, joinpay) that answered with a page to open: `payUrl`."
)
class AggregatorUrlPayParams:
    channel: str
    pay_url: str


@strawberry.type(
    description=(
        "An aggregator (allinpay, joinpay) that answered with its own pay info for its SDK: "
        "`payInfo`, its text as sent (JSON text when it sent an object)."
    )
)
class AggregatorInfoPayParams:
    channel: str
    pay_info: str


@strawberry.type(description="The local sandbox provider (not in prod): open payUrl to pay.")
class SandboxPayParams:
    channel: str
    pay_url: str
    out_trade_no: str


PayParams = Annotated[
    WechatJsapiPayParams
    | WechatAppPayParams
    | AlipayAppPayParams
    | AlipayTradePayParams
    | AggregatorUrlPayParams
    | AggregatorInfoPayParams
    | SandboxPayParams,
    strawberry.union("PayParams", description="What the client hands to its payment SDK."),
]

_JSAPI = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
_APP = ("appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign")


def pay_params_of(channel: str, params: Mapping[str, Any] | None) -> PayParams | None:
    """The typed form of an order's stored pay parameters (None: nothing to pay)."""
    if not params:
        return None
    p = {k: str(v) for k, v in params.items() if v is not None}
    if all(k in p for k in _JSAPI):
        return WechatJsapiPayParams(
            channel=channel,
            app_id=p["appId"],
            time_stamp=p["timeStamp"],
            nonce_str=p["nonceStr"],
            package=p["package"],
            sign_type=p["signType"],
            pay_sign=p["paySign"],
        )
    if all(k in p for k in _APP):
        return WechatAppPayParams(
            channel=channel,
            app_id=p["appid"],
            partner_id=p["partnerid"],
            prepay_id=p["prepayid"],
            package=p["package"],
            nonce_str=p["noncestr"],
            time_stamp=p["timestamp"],
            sign=p["sign"],
        )
    if "orderString" in p:
        return AlipayAppPayParams(channel=channel, order_string=p["orderString"])
    if "tradeNO" in p:
        return AlipayTradePayParams(channel=channel, trade_no=p["tradeNO"])
    if channel == "sandbox" and "payUrl" in p:
        return SandboxPayParams(
            channel=channel, pay_url=p["payUrl"], out_trade_no=p.get("outTradeNo", "")
        )
    if "payUrl" in p:
        return AggregatorUrlPayParams(channel=channel, pay_url=p["payUrl"])
    if "payinfo" in p and len(p) == 1:
        return AggregatorInfoPayParams(channel=channel, pay_info=p["payinfo"])
    return AggregatorInfoPayParams(
        channel=channel, pay_info=json.dumps(dict(params), ensure_ascii=False)
    )
