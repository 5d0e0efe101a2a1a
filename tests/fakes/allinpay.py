"""A fake of an Allinpay-style (通联收银宝) aggregator: sorted-key RSA signing both
ways, unified order with split info, trxstatus 0000 paid / 2000 not paid, refunds,
form notifications."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.wechatpay import new_key, sign, verify

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORDER_NO = re.compile(r"[0-9A-Za-z_\-]{1,32}")
AMOUNT = re.compile(r"[1-9][0-9]{0,11}")  # whole fen, positive


def content(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and str(params[k]))


class AllinpayFake:
    # the split share the merchant's contract allows, of the amount (bps)
    max_split_bps = 3_000

    def __init__(self, *, appid: str, orgid: str, merchant_public_key) -> None:
        self.appid, self.orgid = appid, orgid
        self.merchant_public_key = merchant_public_key
        self.key = new_key()
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.fail_next: list[str] = []  # trxstatus / retcode to answer with
        self.app = Starlette(
            routes=[
                Route("/unitorder/pay", self.pay_api, methods=["POST"]),
                Route("/tranx/query", self.query, methods=["POST"]),
                Route("/tranx/close", self.close, methods=["POST"]),
                Route("/tranx/refund", self.refund, methods=["POST"]),
            ]
        )

    def _answer(self, data: dict[str, Any]) -> Response:
        data = {
            "retcode": "SUCCESS",
            "appid": self.appid,
            "randomstr": secrets.token_hex(6),
            **data,
        }
        data["sign"] = sign(self.key, content(data).encode())
        return JSONResponse(data)

    async def _params(self, request: Request) -> tuple[Response | None, dict[str, str]]:
        p = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if p.get("appid") != self.appid or not verify(
            self.merchant_public_key, content(p).encode(), p.get("sign", "")
        ):
            return JSONResponse({"retcode": "FAIL", "retmsg": "sign error"}), p
        if self.fail_next:
            status = self.fail_next.pop(0)
            if status == "FAIL":
                return JSONResponse({"retcode": "FAIL", "retmsg": "system busy"}), p
            return self._answer({"trxstatus": status, "errmsg": "injected"}), p
        return None, p

    def pay(self, reqsn: str) -> None:
        t = self.trades[reqsn]
        t["trxstatus"] = "0000"
        t["paytime"] = dt.datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")

    def notification(self, reqsn: str, *, key=None, **over: str) -> tuple[dict, bytes]:
        t = self.trades[reqsn]
        params = {
            "appid": self.appid, "cusid": t["cusid"], "trxcode": "VSP501", "trxid": t["trxid"],
            "trxamt": str(t["trxamt"]), "cusorderid": reqsn, "trxstatus": t["trxstatus"],
            "paytime": t.get("paytime", ""), "signtype": "RSA",
        }  # fmt: skip
        params.update(over)
        params["sign"] = sign(key or self.key, content(params).encode())
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode()

    def _malformed(self, p: dict[str, str], *numbers: str) -> Response | None:
        """收银宝's own parameter checks: merchant order numbers (reqsn, oldreqsn) at most
        32 characters of letters, digits, `_` and `-`; amounts (trxamt) whole fen."""
        for name in numbers:
            if name in p and not ORDER_NO.fullmatch(p[name]):
                return self._answer({"trxstatus": "3999", "errmsg": f"{name}格式错误"})
        if "trxamt" in p and not AMOUNT.fullmatch(p["trxamt"]):
            return self._answer({"trxstatus": "3999", "errmsg": "trxamt格式错误"})
        return None

    async def pay_api(self, request: Request) -> Response:
        err, p = await self._params(request)
        if err:
            return err
        if bad := self._malformed(p, "reqsn"):
            return bad
        reqsn = p["reqsn"]
        if reqsn in self.trades and self.trades[reqsn]["trxstatus"] == "0000":
            return self._answer({"trxstatus": "3999", "errmsg": "order paid"})
        split = json.loads(p.get("splitinfo") or "[]")
        if sum(s["amount"] for s in split) > int(p["trxamt"]):
            return self._answer({"trxstatus": "3999", "errmsg": "split exceeds amount"})
        if sum(s["amount"] for s in split) > int(p["trxamt"]) * self.max_split_bps // 10_000:
            return self._answer({"trxstatus": "3999", "errmsg": "分账金额超过分账比例"})
        t = self.trades.setdefault(reqsn, {
            "cusid": p["cusid"], "trxamt": int(p["trxamt"]), "trxstatus": "2000",
            "trxid": "AP" + secrets.token_hex(8), "split": split, "refunded": 0,
            "split_returned": 0,
        })  # fmt: skip
        payinfo = json.dumps({"appId": "wx-agg", "package": f"prepay_id={t['trxid']}"})
        return self._answer(
            {
                "trxstatus": "2000",
                "trxid": t["trxid"],
                "reqsn": reqsn,
                "payinfo": payinfo,
                "cusid": p["cusid"],
            }
        )

    async def query(self, request: Request) -> Response:
        err, p = await self._params(request)
        if err:
            return err
        if p["reqsn"] in self.refunds:
            r = self.refunds[p["reqsn"]]
            return self._answer(
                {"trxstatus": "0000", "trxid": r["trxid"], "trxamt": str(r["amount"])}
            )
        t = self.trades.get(p["reqsn"])
        if t is None:
            return self._answer({"trxstatus": "1001", "errmsg": "no such order"})
        return self._answer(
            {"trxstatus": t["trxstatus"], "trxid": t["trxid"], "trxamt": str(t["trxamt"])}
        )

    async def close(self, request: Request) -> Response:
        err, p = await self._params(request)
        if err:
            return err
        t = self.trades.get(p["oldreqsn"])
        if t is not None and t["trxstatus"] == "2000":
            t["trxstatus"] = "3088"
        return self._answer({"trxstatus": "0000"})

    async def refund(self, request: Request) -> Response:
        err, p = await self._params(request)
        if err:
            return err
        if bad := self._malformed(p, "reqsn", "oldreqsn"):
            return bad
        t = self.trades.get(p["oldreqsn"])
        if t is None or t["trxstatus"] != "0000":
            return self._answer({"trxstatus": "3999", "errmsg": "original not paid"})
        if p["reqsn"] not in self.refunds:
            amount = int(p["trxamt"])
            if t["refunded"] + amount > t["trxamt"]:
                return self._answer({"trxstatus": "3999", "errmsg": "refund exceeds"})
            back = sum(s["amount"] for s in json.loads(p.get("splitinfo") or "[]"))
            t["refunded"] += amount
            t["split_returned"] += back
            self.refunds[p["reqsn"]] = {"amount": amount, "trxid": "AR" + secrets.token_hex(8)}
        return self._answer({"trxstatus": "0000", "trxid": self.refunds[p["reqsn"]]["trxid"]})
