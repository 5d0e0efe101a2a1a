"""Aggregated split-pay providers (聚合支付 with 分账): an Allinpay-style adapter (通联)
and a Joinpay-style adapter (汇聚). Both take form-encoded requests, sign them with a
per-provider rule, split in real time inside the payment itself (the split plan goes
with the unified order), answer JSON and notify with form fields; they share that
machinery here and differ in field names, signing and status codes.

- Allinpay-style: every non-empty field but `sign`, sorted by key, `k=v&...`,
  SHA256withRSA; amounts in fen (`trxamt`); `trxstatus` 0000 paid, 2000/2008 not paid.
- Joinpay-style: `hmac` = MD5 over the field *values* in the documented order followed
  by the merchant key (uppercase hex); amounts in yuan; split in `qe_AltInfo`;
  status 100 paid, 102 not paid, 101 failed.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

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

NOTIFY_WINDOW_S = 26 * 3600  # aggregators redeliver for about a day


class FormAggregator:
    """What the aggregators share: form POST, signed JSON answers, form notifications,
    real-time split (nothing to do after the payment), a plain `success` reply."""

    name = "aggregator"
    splits_after_payment = False
    returns_split_with_refund = True

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.http = ChannelHttp(self.name, base_url, transport=transport, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(...)"

    # subclasses: sign a request, check an answer's / notification's signature
    def sign(self, params: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError

    def verified(self, params: dict[str, Any], kind: str) -> bool:
        raise NotImplementedError

    async def post(self, path: str, params: dict[str, str], kind: str) -> dict[str, Any]:
        resp = await self.http.send("POST", path, data=self.sign(params))
        if resp.status_code != 200:
            raise provider_refused(
                self.name, f"HTTP_{resp.status_code}", "", transient=resp.status_code >= 500
            )
        data = json_or_error(self.name, resp)
        if not self.verified(data, kind):
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE,
                f"{self.name} answer does not carry a valid signature",
            )
        return data

    @staticmethod
    def form(body: bytes) -> dict[str, str]:
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise NotificationRejected("body is not utf-8 form data") from None

    @staticmethod
    def check_time(value: str, fmt: str) -> None:
        try:
            sent = datetime.strptime(value, fmt).replace(tzinfo=money.SHANGHAI)
        except ValueError:
            raise NotificationRejected("notification time missing or malformed") from None
        age = time.time() - sent.timestamp()
        if age > NOTIFY_WINDOW_S or age < -300:
            raise NotificationRejected("notification time outside the window")

    async def prepare_split(self, provider_merchant_id: str) -> None:
        return None

    async def split(self, req: SplitRequest) -> SplitResult:
        return SplitResult("finished")  # done by the provider inside the payment

    async def query_split(self, req: SplitRequest) -> SplitResult:
        return SplitResult("finished")

    async def return_split(self, req: SplitReturnRequest) -> None:
        return None  # taken back inside the refund call

    def reply(self, ok: bool, message: str = "") -> NotifyReply:
        return NotifyReply(200, b"success" if ok else b"fail")


# ---------------------------------------------------------------- Allinpay-style


def allinpay_content(params: dict[str, Any]) -> str:
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k != "sign" and str(params[k]) != ""
    )


@dataclass
class AllinpayConfig:
    appid: str
    orgid: str
    private_key: crypto.PrivateKey
    provider_public_key: crypto.PublicKey
    platform_cusid: str = ""

    def __repr__(self) -> str:
        return f"AllinpayConfig(appid={self.appid!r})"


_ALLIN_PAYTYPE = {ClientKind.MINIPROGRAM: "W06", ClientKind.APP: "W03", ClientKind.WEB: "W01"}


class Allinpay(FormAggregator):
    name = "allinpay"

    @staticmethod
    def configured(s: Settings) -> bool:
        return bool(
            s.allinpay_appid and s.allinpay_private_key.get_secret_value() and s.allinpay_public_key
        )

    @classmethod
    def from_settings(cls, s: Settings) -> Allinpay:
        return cls(
            AllinpayConfig(
                appid=s.allinpay_appid,
                orgid=s.allinpay_orgid,
                private_key=crypto.load_private_key(s.allinpay_private_key.get_secret_value()),
                provider_public_key=crypto.load_public_key(s.allinpay_public_key),
                platform_cusid=s.allinpay_platform_cusid,
            ),
            s.allinpay_api_base,
            timeout_s=s.payment_timeout_s,
        )

    def __init__(self, config: AllinpayConfig, base_url: str, **kw: Any) -> None:
        self.cfg = config
        super().__init__(base_url, **kw)

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        params = {
            **params,
            "appid": self.cfg.appid,
            "orgid": self.cfg.orgid,
            "version": "11",
            "randomstr": secrets.token_hex(8),
            "signtype": "RSA",
        }
        params["sign"] = crypto.rsa_sign(self.cfg.private_key, allinpay_content(params))
        return params

    def verified(self, params: dict[str, Any], kind: str) -> bool:
        if kind == "answer" and params.get("retcode") != "SUCCESS":
            return True  # a refusal of the request itself is not signed
        return crypto.rsa_verify(
            self.cfg.provider_public_key, allinpay_content(params), str(params.get("sign", ""))
        )

    async def _trx(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        data = await self.post(path, params, "answer")
        if data.get("retcode") != "SUCCESS":
            raise provider_refused(
                self.name, "FAIL", str(data.get("retmsg") or ""), transient=False
            )
        return data

    async def create_payment(self, req: PayRequest) -> PaymentStart:
        identifiers.check(self.name, "out_trade_no", req.out_trade_no)
        params = {
            "cusid": req.provider_merchant_id,
            "trxamt": str(req.amount_fen),
            "reqsn": req.out_trade_no,
            "paytype": _ALLIN_PAYTYPE[req.client],
            "body": req.description[:100],
            "validtime": str(req.expire_minutes),
            "notify_url": req.notify_url,
            "acct": req.payer_openid or "",
        }
        if req.split.platform_fen > 0:
            params["splitinfo"] = json.dumps(
                [{"cusid": self.cfg.platform_cusid, "amount": req.split.platform_fen}],
                separators=(",", ":"),
            )
        data = await self._trx("/unitorder/pay", params)
        status = str(data.get("trxstatus"))
        if status not in {"0000", "2000", "2008"}:
            raise provider_refused(
                self.name, status, str(data.get("errmsg") or ""), transient=False
            )
        try:
            pay_params = json.loads(data.get("payinfo") or "{}")
        except ValueError:
            pay_params = {"payinfo": data.get("payinfo")}
        return PaymentStart(pay_params, str(data.get("trxid") or ""))

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery:
        data = await self._trx(
            "/tranx/query", {"cusid": provider_merchant_id, "reqsn": out_trade_no}
        )
        status = str(data.get("trxstatus"))
        amount = data.get("trxamt")
        state = (
            TradeState.PAID
            if status == "0000"
            else TradeState.NOT_PAID
            if status in {"2000", "2008"}
            else TradeState.NOT_FOUND
            if status == "1001"
            else TradeState.CLOSED
        )
        return TradeQuery(state, data.get("trxid"), int(amount) if amount else None)

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None:
        await self._trx("/tranx/close", {"cusid": provider_merchant_id, "oldreqsn": out_trade_no})

    async def refund(self, req: RefundRequest) -> RefundResult:
        identifiers.check(self.name, "out_refund_no", req.out_refund_no)
        params = {
            "cusid": req.provider_merchant_id,
            "trxamt": str(req.amount_fen),
            "reqsn": req.out_refund_no,
            "oldreqsn": req.out_trade_no,
        }
        if req.split_return_fen > 0:
            params["splitinfo"] = json.dumps(
                [{"cusid": self.cfg.platform_cusid, "amount": req.split_return_fen}],
                separators=(",", ":"),
            )
        data = await self._trx("/tranx/refund", params)
        status = str(data.get("trxstatus"))
        if status not in {"0000", "2000", "2008"}:
            raise provider_refused(
                self.name, status, str(data.get("errmsg") or ""), transient=False
            )
        return RefundResult("success" if status == "0000" else "processing", data.get("trxid"))

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult:
        data = await self._trx(
            "/tranx/query", {"cusid": provider_merchant_id, "reqsn": out_refund_no}
        )
        status = str(data.get("trxstatus"))
        return RefundResult(
            "success"
            if status == "0000"
            else "processing"
            if status in {"2000", "2008"}
            else "failed",
            data.get("trxid"),
        )

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice:
        params = self.form(body)
        if not params.get("sign"):
            raise NotificationRejected("missing signature")
        if not self.verified(params, "notify"):
            raise NotificationRejected("signature does not verify")
        if params.get("appid") != self.cfg.appid:
            raise NotificationRejected("appid mismatch")
        self.check_time(params.get("paytime", ""), "%Y%m%d%H%M%S")
        try:
            amount = int(params.get("trxamt", ""))
        except ValueError:
            raise NotificationRejected("trxamt malformed") from None
        if params.get("trxcode") == "VSP503":  # a refund
            return Notice(
                kind="refund",
                out_trade_no=params.get("srctrxid_reqsn", ""),
                out_refund_no=params.get("cusorderid"),
                refund_status="success" if params.get("trxstatus") == "0000" else "failed",
                refund_fen=amount,
            )
        return Notice(
            kind="payment",
            out_trade_no=params.get("cusorderid", ""),
            channel_txn_id=params.get("trxid"),
            amount_fen=amount,
            paid=params.get("trxstatus") == "0000",
        )


# ---------------------------------------------------------------- Joinpay-style

PAY_FIELDS = (
    "p0_Version", "p1_MerchantNo", "p2_OrderNo", "p3_Amount", "p4_Cur", "p5_ProductName",
    "p6_ProductDesc", "p7_Mp", "p8_ReturnUrl", "p9_NotifyUrl", "q1_FrpCode",
    "q2_MerchantBankCode", "q4_IsShowPic", "q5_OpenId", "q6_AuthCode", "q7_AppId",
    "q8_TerminalNo", "q9_TransactionModel", "qa_TradeMerchantNo", "qb_buyerId",
    "qe_AltInfo", "qf_AltUrl",
)  # fmt: skip
PAY_ANSWER_FIELDS = (
    "r0_Version", "r1_MerchantNo", "r2_OrderNo", "r3_Amount", "r4_Cur", "r5_Mp",
    "r6_FrpCode", "r7_TrxNo", "r8_MerchantBankCode", "r9_SubMerchantNo", "ra_Code",
    "rb_CodeMsg", "rc_Result", "rd_Pic",
)  # fmt: skip
QUERY_FIELDS = ("p0_Version", "p1_MerchantNo", "p2_OrderNo")
QUERY_ANSWER_FIELDS = (
    "r1_MerchantNo", "r2_OrderNo", "r3_Amount", "r4_ProductName", "r5_TrxNo",
    "r6_BankTrxNo", "r7_Fee", "r8_FrpCode", "ra_Status", "rb_Code", "rc_CodeMsg",
    "rd_OpenId", "re_DiscountAmount", "rh_cardType", "rj_BankCode",
)  # fmt: skip
REFUND_FIELDS = (
    "p1_MerchantNo", "p2_OrderNo", "p3_RefundOrderNo", "p4_RefundAmount", "p5_RefundReason",
    "p6_NotifyUrl", "p7_AltRefundInfo",
)  # fmt: skip
REFUND_ANSWER_FIELDS = (
    "r1_MerchantNo", "r2_OrderNo", "r3_RefundOrderNo", "r4_RefundAmount_str",
    "r5_RefundTrxNo", "ra_Status", "rb_Code", "rc_CodeMsg",
)  # fmt: skip
REFUND_QUERY_FIELDS = ("p1_MerchantNo", "p2_RefundOrderNo", "p3_Version")
NOTIFY_FIELDS = (
    "r1_MerchantNo", "r2_OrderNo", "r3_Amount", "r4_Cur", "r5_Mp", "r6_Status", "r7_TrxNo",
    "r8_BankOrderNo", "r9_BankTrxNo", "ra_PayTime", "rb_DealTime", "rc_BankCode",
)  # fmt: skip
REFUND_NOTIFY_FIELDS = (
    "r1_MerchantNo", "r2_OrderNo", "r3_RefundOrderNo", "r4_RefundAmount_str",
    "r5_RefundTrxNo", "ra_Status",
)  # fmt: skip


def joinpay_hmac(params: dict[str, Any], fields: tuple[str, ...], key: str) -> str:
    """MD5 over the values in the documented order, then the key (uppercase hex)."""
    return crypto.md5_upper("".join(str(params.get(f, "")) for f in fields) + key)


@dataclass
class JoinpayConfig:
    merchant_no: str
    key: str
    platform_alt_mch_no: str = ""

    def __repr__(self) -> str:
        return f"JoinpayConfig(merchant_no={self.merchant_no!r})"


_JOIN_FRP = {ClientKind.MINIPROGRAM: "WEIXIN_XCX", ClientKind.APP: "WEIXIN_APP3",
             ClientKind.WEB: "WEIXIN_GZH"}  # fmt: skip


class Joinpay(FormAggregator):
    name = "joinpay"

    @staticmethod
    def configured(s: Settings) -> bool:
        return bool(s.joinpay_merchant_no and s.joinpay_key.get_secret_value())

    @classmethod
    def from_settings(cls, s: Settings) -> Joinpay:
        return cls(
            JoinpayConfig(
                merchant_no=s.joinpay_merchant_no,
                key=s.joinpay_key.get_secret_value(),
                platform_alt_mch_no=s.joinpay_platform_alt_mch_no,
            ),
            s.joinpay_api_base,
            timeout_s=s.payment_timeout_s,
        )

    def __init__(self, config: JoinpayConfig, base_url: str, **kw: Any) -> None:
        self.cfg = config
        super().__init__(base_url, **kw)

    _fields = {
        "/trade/uniPayApi.action": PAY_FIELDS,
        "/trade/queryOrder.action": QUERY_FIELDS,
        "/trade/refund.action": REFUND_FIELDS,
        "/trade/queryRefund.action": REFUND_QUERY_FIELDS,
    }
    _answer_fields = {
        "pay": PAY_ANSWER_FIELDS,
        "query": QUERY_ANSWER_FIELDS,
        "refund": REFUND_ANSWER_FIELDS,
        "notify": NOTIFY_FIELDS,
        "refund_notify": REFUND_NOTIFY_FIELDS,
    }

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        fields = self._fields[params.pop("_path")]
        params = {k: v for k, v in params.items() if v != ""}
        params["hmac"] = joinpay_hmac(params, fields, self.cfg.key)
        return params

    def verified(self, params: dict[str, Any], kind: str) -> bool:
        given = str(params.get("hmac", ""))
        return bool(given) and crypto.consteq(
            given.upper(), joinpay_hmac(params, self._answer_fields[kind], self.cfg.key)
        )

    async def _post(self, path: str, params: dict[str, str], kind: str) -> dict[str, Any]:
        return await self.post(path, {**params, "_path": path}, kind)

    async def create_payment(self, req: PayRequest) -> PaymentStart:
        identifiers.check(self.name, "out_trade_no", req.out_trade_no)
        params = {
            "p0_Version": "2.1",
            "p1_MerchantNo": self.cfg.merchant_no,
            "p2_OrderNo": req.out_trade_no,
            "p3_Amount": money.fen_to_yuan(req.amount_fen),
            "p4_Cur": "1",
            "p5_ProductName": req.description[:90],
            "p9_NotifyUrl": req.notify_url,
            "q1_FrpCode": _JOIN_FRP[req.client],
            "q5_OpenId": req.payer_openid or "",
            "qa_TradeMerchantNo": req.provider_merchant_id,
        }
        if req.split.platform_fen > 0:
            # 实时分账: the platform's share goes to its alt merchant with the payment.
            params["qe_AltInfo"] = json.dumps(
                [
                    {
                        "altMchNo": self.cfg.platform_alt_mch_no,
                        "altAmount": money.fen_to_yuan(req.split.platform_fen),
                    }
                ],
                separators=(",", ":"),
            )
        data = await self._post("/trade/uniPayApi.action", params, "pay")
        if str(data.get("ra_Code")) != "100":
            code = str(data.get("ra_Code") or "UNKNOWN")
            raise provider_refused(
                self.name, code, str(data.get("rb_CodeMsg") or ""), transient=code == "999"
            )
        try:
            pay_params = json.loads(data.get("rc_Result") or "{}")
        except ValueError:
            pay_params = {"payUrl": data.get("rc_Result")}
        return PaymentStart(pay_params, str(data.get("r7_TrxNo") or ""))

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery:
        data = await self._post(
            "/trade/queryOrder.action",
            {"p0_Version": "2.1", "p1_MerchantNo": self.cfg.merchant_no,
             "p2_OrderNo": out_trade_no},
            "query",
        )  # fmt: skip
        if str(data.get("rb_Code")) != "100":
            if str(data.get("rb_Code")) == "10080002":  # order does not exist
                return TradeQuery(TradeState.NOT_FOUND)
            raise provider_refused(
                self.name,
                str(data.get("rb_Code")),
                str(data.get("rc_CodeMsg") or ""),
                transient=False,
            )
        status = str(data.get("ra_Status"))
        state = {"100": TradeState.PAID, "102": TradeState.NOT_PAID}.get(status, TradeState.CLOSED)
        amount = data.get("r3_Amount")
        return TradeQuery(
            state, data.get("r5_TrxNo"), money.yuan_to_fen(str(amount)) if amount else None
        )

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None:
        return None  # orders expire at the provider; reconciliation only closes ours

    async def refund(self, req: RefundRequest) -> RefundResult:
        identifiers.check(self.name, "out_refund_no", req.out_refund_no)
        params = {
            "p1_MerchantNo": self.cfg.merchant_no,
            "p2_OrderNo": req.out_trade_no,
            "p3_RefundOrderNo": req.out_refund_no,
            "p4_RefundAmount": money.fen_to_yuan(req.amount_fen),
            "p5_RefundReason": req.reason or "refund",
            "p6_NotifyUrl": req.notify_url,
        }
        if req.split_return_fen > 0:
            params["p7_AltRefundInfo"] = json.dumps(
                [
                    {
                        "altMchNo": self.cfg.platform_alt_mch_no,
                        "altAmount": money.fen_to_yuan(req.split_return_fen),
                    }
                ],
                separators=(",", ":"),
            )
        data = await self._post("/trade/refund.action", params, "refund")
        if str(data.get("rb_Code")) != "100":
            raise provider_refused(
                self.name,
                str(data.get("rb_Code")),
                str(data.get("rc_CodeMsg") or ""),
                transient=False,
            )
        status = {"100": "success", "101": "failed"}.get(str(data.get("ra_Status")), "processing")
        return RefundResult(status, data.get("r5_RefundTrxNo"))

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult:
        data = await self._post(
            "/trade/queryRefund.action",
            {"p1_MerchantNo": self.cfg.merchant_no, "p2_RefundOrderNo": out_refund_no,
             "p3_Version": "2.1"},
            "refund",
        )  # fmt: skip
        status = {"100": "success", "101": "failed"}.get(str(data.get("ra_Status")), "processing")
        return RefundResult(status, data.get("r5_RefundTrxNo"))

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice:
        params = self.form(body)
        refund = "r3_RefundOrderNo" in params
        if not self.verified(params, "refund_notify" if refund else "notify"):
            raise NotificationRejected("hmac does not verify")
        if params.get("r1_MerchantNo") != self.cfg.merchant_no:
            raise NotificationRejected("merchant number mismatch")
        if refund:
            try:
                fen = money.yuan_to_fen(params.get("r4_RefundAmount_str", ""))
            except ValueError:
                raise NotificationRejected("refund amount malformed") from None
            return Notice(
                kind="refund",
                out_trade_no=params.get("r2_OrderNo", ""),
                out_refund_no=params.get("r3_RefundOrderNo"),
                refund_status={"100": "success", "101": "failed"}.get(
                    params.get("ra_Status", ""), "processing"
                ),
                refund_fen=fen,
            )
        self.check_time(params.get("ra_PayTime", ""), "%Y-%m-%d %H:%M:%S")
        try:
            fen = money.yuan_to_fen(params.get("r3_Amount", ""))
        except ValueError:
            raise NotificationRejected("amount malformed") from None
        return Notice(
            kind="payment",
            out_trade_no=params.get("r2_OrderNo", ""),
            channel_txn_id=params.get("r7_TrxNo"),
            amount_fen=fen,
            paid=params.get("r6_Status") == "100",
        )
