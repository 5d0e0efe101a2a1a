"""A fake of a Joinpay-style (汇聚) aggregator: ordered-value MD5 `hmac` with the merchant
key both ways, uni-pay with `qe_AltInfo` real-time split, status 100 paid / 102 not paid,
refunds, form notifications."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.adapters.payments.aggregators import (
    NOTIFY_FIELDS,
    PAY_ANSWER_FIELDS,
    PAY_FIELDS,
    QUERY_ANSWER_FIELDS,
    QUERY_FIELDS,
    REFUND_ANSWER_FIELDS,
    REFUND_FIELDS,
    REFUND_NOTIFY_FIELDS,
    REFUND_QUERY_FIELDS,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# the parameter rules of Joinpay: merchant order and refund numbers at most 30 characters
# of letters, digits, `_` and `-`; amounts in yuan with at most two decimals
ORDER_NO = re.compile(r"[0-9A-Za-z_\-]{1,30}")
AMOUNT = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?")


def mac(params: dict[str, Any], fields: tuple[str, ...], key: str) -> str:
    text = "".join(str(params.get(f, "")) for f in fields) + key
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def yuan(f: int) -> str:
    return f"{f // 100}.{f % 100:02d}"


class JoinpayFake:
    # the alt (split) share the merchant's contract allows, of the amount (bps)
    max_alt_bps = 3_000

    def __init__(self, *, merchant_no: str, key: str) -> None:
        self.merchant_no, self.key = merchant_no, key
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.fail_next: list[str] = []  # ra_Code values
        self.app = Starlette(
            routes=[
                Route("/trade/uniPayApi.action", self.pay_api, methods=["POST"]),
                Route("/trade/queryOrder.action", self.query, methods=["POST"]),
                Route("/trade/refund.action", self.refund, methods=["POST"]),
                Route("/trade/queryRefund.action", self.query_refund, methods=["POST"]),
            ]
        )

    def _answer(self, data: dict[str, Any], fields: tuple[str, ...]) -> Response:
        data = {"r1_MerchantNo": self.merchant_no, **data}
        data["hmac"] = mac(data, fields, self.key)
        return JSONResponse(data)

    async def _params(self, request: Request, fields) -> tuple[bool, dict[str, str]]:
        p = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        ok = p.get("p1_MerchantNo") == self.merchant_no and p.get("hmac") == mac(
            p, fields, self.key
        )
        return ok, p

    def pay(self, order_no: str) -> None:
        t = self.trades[order_no]
        t["status"] = "100"
        t["paytime"] = dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    def notification(self, order_no: str, *, key: str | None = None, **over) -> tuple[dict, bytes]:
        t = self.trades[order_no]
        params = {
            "r1_MerchantNo": self.merchant_no, "r2_OrderNo": order_no,
            "r3_Amount": yuan(t["amount"]), "r4_Cur": "1", "r5_Mp": "",
            "r6_Status": t["status"], "r7_TrxNo": t["trx_no"], "r8_BankOrderNo": "",
            "r9_BankTrxNo": "", "ra_PayTime": t.get("paytime", ""),
            "rb_DealTime": t.get("paytime", ""), "rc_BankCode": "WEIXIN_XCX",
        }  # fmt: skip
        params.update(over)
        params["hmac"] = mac(params, NOTIFY_FIELDS, key or self.key)
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode()

    def refund_notification(self, refund_no: str) -> tuple[dict, bytes]:
        r = self.refunds[refund_no]
        params = {
            "r1_MerchantNo": self.merchant_no, "r2_OrderNo": r["order_no"],
            "r3_RefundOrderNo": refund_no, "r4_RefundAmount_str": yuan(r["amount"]),
            "r5_RefundTrxNo": r["trx_no"], "ra_Status": "100",
        }  # fmt: skip
        params["hmac"] = mac(params, REFUND_NOTIFY_FIELDS, self.key)
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode()

    async def pay_api(self, request: Request) -> Response:
        ok, p = await self._params(request, PAY_FIELDS)
        if not ok:
            return self._answer(
                {"ra_Code": "10080017", "rb_CodeMsg": "hmac error"}, PAY_ANSWER_FIELDS
            )
        if self.fail_next:
            code = self.fail_next.pop(0)
            return self._answer({"ra_Code": code, "rb_CodeMsg": "injected"}, PAY_ANSWER_FIELDS)
        if not ORDER_NO.fullmatch(p["p2_OrderNo"]) or not AMOUNT.fullmatch(p["p3_Amount"]):
            return self._answer(
                {"ra_Code": "10080001", "rb_CodeMsg": "参数格式错误"}, PAY_ANSWER_FIELDS
            )
        no, amount = p["p2_OrderNo"], fen(p["p3_Amount"])
        alt = json.loads(p.get("qe_AltInfo") or "[]")
        if sum(fen(a["altAmount"]) for a in alt) > amount:
            return self._answer(
                {"ra_Code": "10080025", "rb_CodeMsg": "alt amount exceeds"}, PAY_ANSWER_FIELDS
            )
        if sum(fen(a["altAmount"]) for a in alt) > amount * self.max_alt_bps // 10_000:
            return self._answer(
                {"ra_Code": "10080025", "rb_CodeMsg": "分账金额超过分账比例"}, PAY_ANSWER_FIELDS
            )
        t = self.trades.setdefault(no, {
            "amount": amount, "status": "102", "trx_no": "JP" + secrets.token_hex(8),
            "alt": alt, "sub_merchant": p.get("qa_TradeMerchantNo"), "refunded": 0,
            "alt_returned": 0,
        })  # fmt: skip
        return self._answer({
            "r0_Version": "2.1", "r2_OrderNo": no, "r3_Amount": p["p3_Amount"], "r4_Cur": "1",
            "r6_FrpCode": p.get("q1_FrpCode"), "r7_TrxNo": t["trx_no"], "ra_Code": "100",
            "rb_CodeMsg": "ok", "rc_Result": json.dumps({"package": f"prepay_id={t['trx_no']}"}),
        }, PAY_ANSWER_FIELDS)  # fmt: skip

    async def query(self, request: Request) -> Response:
        ok, p = await self._params(request, QUERY_FIELDS)
        t = self.trades.get(p.get("p2_OrderNo", ""))
        if not ok:
            return self._answer({"rb_Code": "10080017"}, QUERY_ANSWER_FIELDS)
        if t is None:
            return self._answer(
                {"rb_Code": "10080002", "rc_CodeMsg": "no such order"}, QUERY_ANSWER_FIELDS
            )
        return self._answer(
            {
                "r2_OrderNo": p["p2_OrderNo"],
                "r3_Amount": yuan(t["amount"]),
                "r5_TrxNo": t["trx_no"],
                "ra_Status": t["status"],
                "rb_Code": "100",
            },
            QUERY_ANSWER_FIELDS,
        )

    async def refund(self, request: Request) -> Response:
        ok, p = await self._params(request, REFUND_FIELDS)
        if not ok:
            return self._answer({"rb_Code": "10080017"}, REFUND_ANSWER_FIELDS)
        t = self.trades.get(p["p2_OrderNo"])
        if t is None or t["status"] != "100":
            return self._answer(
                {"rb_Code": "10080030", "rc_CodeMsg": "not paid"}, REFUND_ANSWER_FIELDS
            )
        key = p["p3_RefundOrderNo"]
        if not ORDER_NO.fullmatch(key) or not AMOUNT.fullmatch(p["p4_RefundAmount"]):
            return self._answer(
                {"rb_Code": "10080001", "rc_CodeMsg": "参数格式错误"}, REFUND_ANSWER_FIELDS
            )
        if key not in self.refunds:
            amount = fen(p["p4_RefundAmount"])
            if t["refunded"] + amount > t["amount"]:
                return self._answer(
                    {"rb_Code": "10080031", "rc_CodeMsg": "refund exceeds"}, REFUND_ANSWER_FIELDS
                )
            back = sum(fen(a["altAmount"]) for a in json.loads(p.get("p7_AltRefundInfo") or "[]"))
            t["refunded"] += amount
            t["alt_returned"] += back
            self.refunds[key] = {
                "amount": amount,
                "order_no": p["p2_OrderNo"],
                "trx_no": "JR" + secrets.token_hex(8),
                "status": "102",
            }
        r = self.refunds[key]
        return self._answer(
            {
                "r2_OrderNo": p["p2_OrderNo"],
                "r3_RefundOrderNo": key,
                "r4_RefundAmount_str": yuan(r["amount"]),
                "r5_RefundTrxNo": r["trx_no"],
                "ra_Status": r["status"],
                "rb_Code": "100",
            },
            REFUND_ANSWER_FIELDS,
        )

    async def query_refund(self, request: Request) -> Response:
        ok, p = await self._params(request, REFUND_QUERY_FIELDS)
        r = self.refunds.get(p.get("p2_RefundOrderNo", ""))
        if not ok or r is None:
            return self._answer({"rb_Code": "10080002"}, REFUND_ANSWER_FIELDS)
        return self._answer(
            {
                "r3_RefundOrderNo": p["p2_RefundOrderNo"],
                "r5_RefundTrxNo": r["trx_no"],
                "ra_Status": r["status"],
                "rb_Code": "100",
            },
            REFUND_ANSWER_FIELDS,
        )
