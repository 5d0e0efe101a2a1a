"""A fake of the Alipay open gateway (RSA2), the provider's side.

It reads a request as the gateway does: parameters from the URL's query and the form
body together, decoded in the charset the URL names (GBK when the URL names none, as
Alipay's help says for POST), so a body whose signature only holds in another encoding
is refused as `isv.invalid-signature`. It verifies the signature with the app public
key, answers in Alipay's `{"<method>_response": {...}, "sign": ...}` shape signed with
its own key over the exact node text, keeps trades, refunds (by out_request_no) and
royalty settlements, and builds signed async notifications (form-encoded) for the tests
to deliver.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.wechatpay import new_key, sign, verify

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Alipay's documents: out_trade_no 64 chars of letters, digits and _; order.settle's
# out_request_no 32 of the same; a refund's out_request_no 64 chars.
TRADE_NO = re.compile(r"[0-9A-Za-z_]{1,64}")
SETTLE_NO = re.compile(r"[0-9A-Za-z_]{1,32}")


def content(params: dict[str, str], exclude: tuple[str, ...]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k])


def fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def yuan(fen_: int) -> str:
    return f"{fen_ // 100}.{fen_ % 100:02d}"


class AlipayFake:
    # 交易分账 takes at most 30% of the order unless the merchant applied for more
    max_royalty_bps = 3_000

    def __init__(self, *, app_id: str, app_public_key, platform_user_id: str) -> None:
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.platform_user_id = platform_user_id
        self.key = new_key()  # Alipay's own key
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[tuple[str, str], dict[str, Any]] = {}
        self.settles: dict[str, dict[str, Any]] = {}
        self.bound: set[str] = set()
        self.methods: list[str] = []
        self.fail_next: list[tuple[str, str]] = []  # (code, sub_code)
        self.charsets: list[str] = []  # the charset each request was read in
        self.app = Starlette(routes=[Route("/gateway.do", self.gateway, methods=["POST", "GET"])])

    # ---------------------------------------------------------- test controls

    def pay(self, out_trade_no: str) -> None:
        t = self.trades[out_trade_no]
        t["trade_status"] = "TRADE_SUCCESS"
        t["gmt_payment"] = dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    def notification(self, out_trade_no: str, *, key=None, **over: str) -> tuple[dict, bytes]:
        t = self.trades[out_trade_no]
        params = {
            "notify_time": dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": t["trade_no"],
            "out_trade_no": out_trade_no,
            "trade_status": t["trade_status"],
            "total_amount": yuan(t["total"]),
            "receipt_amount": yuan(t["total"]),
            "buyer_id": t.get("buyer_id") or "",
            "gmt_payment": t.get("gmt_payment", ""),
        }
        params.update(over)
        params["sign"] = sign(key or self.key, content(params, ("sign", "sign_type")).encode())
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode()

    def refund_notification(self, out_trade_no: str, out_request_no: str) -> tuple[dict, bytes]:
        t = self.trades[out_trade_no]
        return self.notification(
            out_trade_no,
            out_biz_no=out_request_no,
            refund_fee=yuan(t["refunded"]),
            gmt_refund=dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            trade_status="TRADE_CLOSED" if t["refunded"] == t["total"] else "TRADE_SUCCESS",
        )

    # ---------------------------------------------------------- protocol

    def _answer(
        self, method: str, node: dict[str, Any], signed: bool = True, charset: str = "utf-8"
    ) -> Response:
        name = method.replace(".", "_") + "_response"
        node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sig = sign(self.key, node_text.encode(charset)) if signed else ""
        text = '{"' + name + '":' + node_text + (f',"sign":"{sig}"' if signed else "") + "}"
        return Response(
            text.encode(charset), headers={"Content-Type": f"application/json;charset={charset}"}
        )

    def _fail(
        self, method: str, code: str, sub_code: str, msg: str = "Business Failed"
    ) -> Response:
        return self._answer(
            method, {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_code}
        )

    async def gateway(self, request: Request) -> Response:
        query = (request.scope.get("query_string") or b"").decode("latin-1")
        body = (await request.body()).decode("latin-1")
        charset = dict(parse_qsl(query, encoding="latin-1")).get("charset") or "GBK"
        self.charsets.append(charset)
        readable = True
        try:
            params = dict(
                parse_qsl(query, keep_blank_values=True, encoding=charset, errors="strict")
            )
            params.update(
                parse_qsl(body, keep_blank_values=True, encoding=charset, errors="strict")
            )
        except (UnicodeDecodeError, LookupError):  # not text in that charset: cannot verify
            readable = False
            params = dict(parse_qsl(query + "&" + body, encoding="latin-1"))
        method = str(params.get("method", ""))
        self.methods.append(method)
        if params.get("app_id") != self.app_id:
            return self._answer(
                method,
                {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"},
                signed=False,
            )
        try:
            signed = content(params, ("sign",)).encode(charset) if readable else b""
        except (UnicodeEncodeError, LookupError):
            signed = b""
        if not verify(self.app_public_key, signed, params.get("sign", "")):
            return self._answer(
                method,
                {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"},
                signed=False,
            )
        if self.fail_next:
            code, sub = self.fail_next.pop(0)
            return self._fail(method, code, sub)
        biz = json.loads(params.get("biz_content") or "{}")
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._fail(method, "40004", "isv.invalid-method")
        return handler(method, biz, params)

    def m_alipay_trade_create(self, method, biz, params) -> Response:
        no = biz["out_trade_no"]
        if not TRADE_NO.fullmatch(no):
            return self._fail(method, "40004", "ACQ.INVALID_PARAMETER")
        if no in self.trades and self.trades[no]["trade_status"] != "WAIT_BUYER_PAY":
            return self._fail(method, "40004", "ACQ.TRADE_HAS_SUCCESS")
        if not biz.get("buyer_id"):
            return self._fail(method, "40004", "ACQ.BUYER_NOT_EXIST")
        trade = self.trades.get(no) or {
            "trade_no": dt.datetime.now(SHANGHAI).strftime("%Y%m%d") + secrets.token_hex(10),
            "total": fen(biz["total_amount"]),
            "trade_status": "WAIT_BUYER_PAY",
            "buyer_id": biz["buyer_id"],
            "notify_url": params.get("notify_url"),
            "royalty_freeze": (biz.get("extend_params") or {}).get("royalty_freeze") == "true",
            "sub_merchant": (biz.get("sub_merchant") or {}).get("merchant_id"),
            "refunded": 0,
        }
        self.trades[no] = trade
        return self._answer(
            method,
            {"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": trade["trade_no"]},
        )

    def m_alipay_trade_query(self, method, biz, params) -> Response:
        t = self.trades.get(biz.get("out_trade_no", ""))
        if t is None:
            return self._fail(method, "40004", "ACQ.TRADE_NOT_EXIST")
        return self._answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": biz["out_trade_no"],
                "trade_no": t["trade_no"],
                "trade_status": t["trade_status"],
                "total_amount": yuan(t["total"]),
            },
        )

    def m_alipay_trade_close(self, method, biz, params) -> Response:
        t = self.trades.get(biz.get("out_trade_no", ""))
        if t is None:
            return self._fail(method, "40004", "ACQ.TRADE_NOT_EXIST")
        if t["trade_status"] != "WAIT_BUYER_PAY":
            return self._fail(method, "40004", "ACQ.TRADE_STATUS_ERROR")
        t["trade_status"] = "TRADE_CLOSED"
        return self._answer(method, {"code": "10000", "msg": "Success"})

    def m_alipay_trade_refund(self, method, biz, params) -> Response:
        no = biz["out_trade_no"]
        t = self.trades.get(no)
        if t is None or t["trade_status"] not in {"TRADE_SUCCESS", "TRADE_CLOSED"}:
            return self._fail(method, "40004", "ACQ.TRADE_STATUS_ERROR")
        key = (no, biz["out_request_no"])
        if not 1 <= len(key[1]) <= 64:
            return self._fail(method, "40004", "ACQ.INVALID_PARAMETER")
        if key in self.refunds:
            return self._answer(
                method,
                {
                    "code": "10000",
                    "msg": "Success",
                    "fund_change": "N",
                    "trade_no": t["trade_no"],
                    "refund_fee": yuan(t["refunded"]),
                },
            )
        amount = fen(biz["refund_amount"])
        if t["refunded"] + amount > t["total"]:
            return self._fail(method, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
        royalty = sum(fen(r["amount"]) for r in biz.get("refund_royalty_parameters") or [])
        t["refunded"] += amount
        if t["refunded"] == t["total"]:
            t["trade_status"] = "TRADE_CLOSED"
        self.refunds[key] = {"amount": amount, "royalty_returned": royalty}
        return self._answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "fund_change": "Y",
                "trade_no": t["trade_no"],
                "refund_fee": yuan(t["refunded"]),
            },
        )

    def m_alipay_trade_fastpay_refund_query(self, method, biz, params) -> Response:
        r = self.refunds.get((biz["out_trade_no"], biz["out_request_no"]))
        node = {"code": "10000", "msg": "Success"}
        if r is not None:
            node.update(refund_status="REFUND_SUCCESS", refund_amount=yuan(r["amount"]))
        return self._answer(method, node)

    def m_alipay_trade_royalty_relation_bind(self, method, biz, params) -> Response:
        for r in biz["receiver_list"]:
            self.bound.add(r["account"])
        return self._answer(method, {"code": "10000", "msg": "Success", "result_code": "SUCCESS"})

    def m_alipay_trade_order_settle(self, method, biz, params) -> Response:
        if not SETTLE_NO.fullmatch(str(biz.get("out_request_no", ""))):
            return self._fail(method, "40004", "ACQ.INVALID_PARAMETER")
        t = next((t for t in self.trades.values() if t["trade_no"] == biz["trade_no"]), None)
        if t is None or t["trade_status"] != "TRADE_SUCCESS":
            return self._fail(method, "40004", "ACQ.TRADE_STATUS_ERROR")
        if not t["royalty_freeze"]:
            return self._fail(method, "40004", "ACQ.TRADE_SETTLE_ERROR")
        for r in biz["royalty_parameters"]:
            if r["trans_in"] not in self.bound:
                return self._fail(method, "40004", "ACQ.ROYALTY_RECEIVER_NOT_BIND")
        amount = sum(fen(r["amount"]) for r in biz["royalty_parameters"])
        if amount > t["total"]:
            return self._fail(method, "40004", "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR")
        if amount > t["total"] * self.max_royalty_bps // 10_000:
            return self._fail(
                method, "40004", "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR", "分账金额超过最高分账比例"
            )
        s = self.settles.setdefault(
            biz["out_request_no"],
            {
                "settle_no": "2026" + secrets.token_hex(8),
                "amount": amount,
                "state": "SUCCESS",
                "trade_no": biz["trade_no"],
            },
        )
        return self._answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": biz["trade_no"],
                "settle_no": s["settle_no"],
            },
        )

    def m_alipay_trade_order_settle_query(self, method, biz, params) -> Response:
        s = self.settles.get(biz.get("out_request_no", ""))
        if s is None:
            return self._fail(method, "40004", "ACQ.TRADE_SETTLE_NOT_EXIST")
        return self._answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "settle_no": s["settle_no"],
                "royalty_detail_list": [{"state": s["state"], "amount": yuan(s["amount"])}],
            },
        )
