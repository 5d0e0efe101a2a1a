"""Alipay (RSA2): signed gateway requests, `alipay.trade.create` for the mini-program,
the app order string, async notification verification, refunds with `out_request_no`,
royalty (分账) relation bind and `alipay.trade.order.settle`.

Signing: every parameter but `sign` (and empty ones), sorted by key, joined `k=v&...`,
SHA256withRSA with the app private key. As the official SDKs send it, every common
parameter (charset included) goes in the gateway URL's query and only `biz_content` in
the form body, sent as `application/x-www-form-urlencoded;charset=utf-8`: Alipay reads
the charset from the URL and takes GBK when it is not there, so a UTF-8 body with
Chinese text would not verify. Answers carry `sign` over the exact text of the
`<method>_response` node, verified with the Alipay public key. Notifications exclude
`sign` and `sign_type` from the signed string; we answer the text `success`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from app.adapters.payments import crypto, identifiers, money
from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    Notice,
    NotificationRejected,
    NotifyReply,
    PaymentErrorCode,
    PaymentStart,
    PayRequest,
    RefundRequest,
    RefundResult,
    SplitRequest,
    SplitResult,
    SplitReturnRequest,
    TradeQuery,
    TradeState,
)
from app.adapters.payments.http import ChannelHttp, json_or_error, provider_refused
from app.infra.config import Settings

TRANSIENT_SUB_CODES = {"ACQ.SYSTEM_ERROR", "ISP.UNKNOW-ERROR", "AOP.SYSTEM_ERROR"}
# Alipay redelivers for about 25 hours; its notify_time is the first attempt's.
NOTIFY_WINDOW_S = 26 * 3600
CHARSET = "utf-8"
# what the body of a request carries; everything else goes in the URL's query
_BODY_PARAMS = ("biz_content",)
_TRADE_STATES = {
    "TRADE_SUCCESS": TradeState.PAID,
    "TRADE_FINISHED": TradeState.PAID,
    "WAIT_BUYER_PAY": TradeState.NOT_PAID,
    "TRADE_CLOSED": TradeState.CLOSED,
}


def sign_content(params: dict[str, str], exclude: tuple[str, ...] = ("sign",)) -> str:
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != ""
    )


def response_node(text: str, node: str) -> str | None:
    """The exact text of `"<node>": {...}` in Alipay's answer (what its sign covers)."""
    marker = f'"{node}"'
    i = text.find(marker)
    if i < 0:
        return None
    j = text.index(":", i + len(marker)) + 1
    while text[j] in " \t\r\n":
        j += 1
    _, end = json.JSONDecoder().raw_decode(text, j)
    return text[j:end]


@dataclass
class AlipayConfig:
    app_id: str
    private_key: crypto.PrivateKey
    alipay_public_key: crypto.PublicKey
    platform_user_id: str = ""

    def __repr__(self) -> str:
        return f"AlipayConfig(app_id={self.app_id!r})"


class Alipay:
    name = "alipay"
    splits_after_payment = True
    returns_split_with_refund = True

    @staticmethod
    def configured(s: Settings) -> bool:
        return bool(
            s.alipay_app_id and s.alipay_private_key.get_secret_value() and s.alipay_public_key
        )

    @classmethod
    def from_settings(cls, s: Settings) -> Alipay:
        return cls(
            AlipayConfig(
                app_id=s.alipay_app_id,
                private_key=crypto.load_private_key(s.alipay_private_key.get_secret_value()),
                alipay_public_key=crypto.load_public_key(s.alipay_public_key),
                platform_user_id=s.alipay_platform_user_id,
            ),
            s.alipay_api_base,
            timeout_s=s.payment_timeout_s,
        )

    def __init__(
        self,
        config: AlipayConfig,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.cfg = config
        self.http = ChannelHttp(self.name, base_url, transport=transport, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"Alipay({self.cfg!r})"

    def signed_params(
        self, method: str, biz: dict[str, Any], notify_url: str = ""
    ) -> dict[str, str]:
        params = {
            "app_id": self.cfg.app_id,
            "method": method,
            "format": "JSON",
            "charset": CHARSET,
            "sign_type": "RSA2",
            "timestamp": money.plain_time(money.now_shanghai()),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify_url:
            params["notify_url"] = notify_url
        params["sign"] = crypto.rsa_sign(self.cfg.private_key, sign_content(params))
        return params

    async def _call(self, method: str, biz: dict[str, Any], notify_url: str = "") -> dict:
        params = self.signed_params(method, biz, notify_url)
        query = {k: v for k, v in params.items() if k not in _BODY_PARAMS}
        body = {k: v for k, v in params.items() if k in _BODY_PARAMS}
        resp = await self.http.send(
            "POST",
            "?" + urlencode(query, encoding=CHARSET),
            content=urlencode(body, encoding=CHARSET).encode(),
            headers={"Content-Type": f"application/x-www-form-urlencoded;charset={CHARSET}"},
        )
        if resp.status_code != 200:
            raise provider_refused(
                self.name, f"HTTP_{resp.status_code}", "", transient=resp.status_code >= 500
            )
        node_name = method.replace(".", "_") + "_response"
        text = resp.text
        data = json_or_error(self.name, resp)
        node = response_node(text, node_name)
        if node is None:
            raise ChannelError(PaymentErrorCode.CHANNEL_BAD_RESPONSE, "alipay answer has no body")
        body = json.loads(node)
        # An error from the gateway itself (bad app id, bad sign) is signed only sometimes.
        # A refusal is treated as a refusal either way; a success must be signed.
        signed = crypto.rsa_verify(self.cfg.alipay_public_key, node, str(data.get("sign", "")))
        if not signed and body.get("code") == "10000":
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE,
                "alipay answer does not carry a valid signature",
            )
        code = str(body.get("code", ""))
        if code != "10000":
            sub = str(body.get("sub_code") or code)
            raise provider_refused(
                self.name,
                sub,
                str(body.get("sub_msg") or body.get("msg") or ""),
                transient=code == "20000" or sub in TRANSIENT_SUB_CODES,
            )
        return body

    # ------------------------------------------------------------ payments

    async def create_payment(self, req: PayRequest) -> PaymentStart:
        identifiers.check(self.name, "out_trade_no", req.out_trade_no)
        biz: dict[str, Any] = {
            "out_trade_no": req.out_trade_no,
            "total_amount": money.fen_to_yuan(req.amount_fen),
            "subject": req.description[:256],
            "time_expire": money.plain_time(money.expire_at(req.expire_minutes)),
        }
        if req.provider_merchant_id:
            biz["sub_merchant"] = {"merchant_id": req.provider_merchant_id}
        if req.split.platform_fen > 0:
            biz["extend_params"] = {"royalty_freeze": "true"}
        if req.client == ClientKind.APP:
            biz["product_code"] = "QUICK_MSECURITY_PAY"
            params = self.signed_params("alipay.trade.app.pay", biz, req.notify_url)
            # The app hands this string to the Alipay SDK as is.
            return PaymentStart({"orderString": urlencode(params)}, req.out_trade_no)
        if not req.payer_openid:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_ERROR, "alipay mini-program pay needs the buyer id"
            )
        biz["product_code"] = "JSAPI_PAY"
        biz["buyer_id"] = req.payer_openid
        body = await self._call("alipay.trade.create", biz, req.notify_url)
        trade_no = str(body.get("trade_no") or "")
        if not trade_no:
            raise ChannelError(PaymentErrorCode.CHANNEL_BAD_RESPONSE, "alipay sent no trade_no")
        return PaymentStart({"tradeNO": trade_no}, trade_no)

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery:
        try:
            body = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        except ChannelError as exc:
            if exc.provider_code == "ACQ.TRADE_NOT_EXIST":
                return TradeQuery(TradeState.NOT_FOUND)
            raise
        state = _TRADE_STATES.get(str(body.get("trade_status")), TradeState.NOT_PAID)
        total = body.get("total_amount")
        return TradeQuery(state, body.get("trade_no"), money.yuan_to_fen(total) if total else None)

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None:
        try:
            await self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        except ChannelError as exc:
            if exc.provider_code != "ACQ.TRADE_NOT_EXIST":
                raise

    # ------------------------------------------------------------ refunds

    async def refund(self, req: RefundRequest) -> RefundResult:
        identifiers.check(self.name, "out_request_no", req.out_refund_no)
        biz: dict[str, Any] = {
            "out_trade_no": req.out_trade_no,
            "refund_amount": money.fen_to_yuan(req.amount_fen),
            "out_request_no": req.out_refund_no,
        }
        if req.reason:
            biz["refund_reason"] = req.reason[:256]
        if req.split_return_fen > 0:
            biz["refund_royalty_parameters"] = [
                {
                    "trans_out_type": "userId",
                    "trans_out": self.cfg.platform_user_id,
                    "amount": money.fen_to_yuan(req.split_return_fen),
                }
            ]
        body = await self._call("alipay.trade.refund", biz)
        # fund_change=Y: money moved now; N on a repeat of the same out_request_no.
        return RefundResult("success", str(body.get("trade_no") or "") or None)

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult:
        body = await self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_refund_no},
        )
        status = "success" if body.get("refund_status") == "REFUND_SUCCESS" else "processing"
        return RefundResult(status, body.get("trade_no"))

    # ------------------------------------------------------------ royalty (分账)

    async def prepare_split(self, provider_merchant_id: str) -> None:
        await self._call(
            "alipay.trade.royalty.relation.bind",
            {
                "receiver_list": [
                    {"type": "userId", "account": self.cfg.platform_user_id, "memo": "platform"}
                ],
                "out_request_no": identifiers.derive(
                    self.name, "settle_request_no", provider_merchant_id or "default", "BIND"
                ),
            },
        )

    async def split(self, req: SplitRequest) -> SplitResult:
        identifiers.check(self.name, "settle_request_no", req.out_split_no)
        body = await self._call(
            "alipay.trade.order.settle",
            {
                "out_request_no": req.out_split_no,
                "trade_no": req.channel_txn_id,
                "royalty_parameters": [
                    {
                        "trans_in_type": "userId",
                        "trans_in": self.cfg.platform_user_id,
                        "amount": money.fen_to_yuan(req.platform_fen),
                    }
                ],
                "extend_params": {"royalty_finish": "true"},
            },
        )
        return SplitResult("processing", body.get("settle_no"))

    async def query_split(self, req: SplitRequest) -> SplitResult:
        body = await self._call(
            "alipay.trade.order.settle.query",
            {"out_request_no": req.out_split_no, "trade_no": req.channel_txn_id},
        )
        states = {str(d.get("state")) for d in body.get("royalty_detail_list") or []}
        if states and states <= {"SUCCESS"}:
            return SplitResult("finished", body.get("settle_no"))
        if "FAIL" in states:
            return SplitResult("failed", body.get("settle_no"))
        return SplitResult("processing", body.get("settle_no"))

    async def return_split(self, req: SplitReturnRequest) -> None:
        return None  # part of the refund call (refund_royalty_parameters)

    # ------------------------------------------------------------ notifications

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice:
        try:
            # The form is percent-encoded ASCII; its values are in the charset it names.
            text = body.decode("ascii")
            charset = dict(parse_qsl(text, encoding="latin-1")).get("charset") or CHARSET
            params = dict(
                parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
            )
        except (UnicodeDecodeError, LookupError):
            raise NotificationRejected("body is not form data in its charset") from None
        sig = params.get("sign", "")
        # sign_type is part of every notification: a missing one is not taken as RSA2
        if not sig or params.get("sign_type") != "RSA2":
            raise NotificationRejected("missing or unsupported signature")
        if not crypto.rsa_verify(
            self.cfg.alipay_public_key, sign_content(params, ("sign", "sign_type")), sig
        ):
            raise NotificationRejected("signature does not verify")
        if params.get("app_id") != self.cfg.app_id:
            raise NotificationRejected("appid mismatch")
        try:
            sent = datetime.strptime(params.get("notify_time", ""), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=money.SHANGHAI
            )
        except ValueError:
            raise NotificationRejected("notify_time missing or malformed") from None
        age = time.time() - sent.timestamp()
        if age > NOTIFY_WINDOW_S or age < -300:
            raise NotificationRejected("notify_time outside the window")
        status = params.get("trade_status", "")
        try:
            total = money.yuan_to_fen(params.get("total_amount", ""))
        except ValueError:
            raise NotificationRejected("total_amount malformed") from None
        if params.get("out_biz_no"):
            try:
                refund_fen = money.yuan_to_fen(params.get("refund_fee", "0"))
            except ValueError:
                raise NotificationRejected("refund_fee malformed") from None
            return Notice(
                kind="refund",
                out_trade_no=params.get("out_trade_no", ""),
                channel_txn_id=params.get("trade_no"),
                out_refund_no=params["out_biz_no"],
                refund_status="success",
                # refund_fee is cumulative over the trade: not this refund's amount.
                refund_fen=None,
                extra={"refund_fee_total": refund_fen},
            )
        return Notice(
            kind="payment",
            out_trade_no=params.get("out_trade_no", ""),
            channel_txn_id=params.get("trade_no"),
            amount_fen=total,
            paid=status in {"TRADE_SUCCESS", "TRADE_FINISHED"},
        )

    def reply(self, ok: bool, message: str = "") -> NotifyReply:
        return NotifyReply(200, b"success" if ok else b"fail")
