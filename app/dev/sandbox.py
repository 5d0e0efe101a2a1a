"""The sandbox channel: our adapter for the local sandbox provider
(`app.dev.sandbox_provider`). It speaks to the provider over HTTP like any other
channel and verifies the provider's Ed25519-signed notifications (timestamp window,
nonce replay memory), so the demo exercises the production verify-and-apply path."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.adapters.payments import replay
from app.adapters.payments.base import (
    ChannelError,
    Notice,
    NotificationRejected,
    NotifyReply,
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
from app.dev import sandbox_provider
from app.dev.sandbox_keys import provider_key, signed_message
from app.infra.config import Settings
from app.infra.inputs import ASCII_DIGITS


@dataclass
class SandboxConfig:
    api_key: str
    provider_public_key: Ed25519PublicKey
    notify_window_s: int = 300

    def __repr__(self) -> str:
        return "SandboxConfig(...)"

    @classmethod
    def from_settings(cls, s: Settings) -> SandboxConfig:
        return cls(
            api_key=s.sandbox_api_key.get_secret_value(),
            provider_public_key=provider_key(s).public_key(),
            notify_window_s=s.payment_notify_window_s,
        )


class Sandbox:
    name = "sandbox"
    splits_after_payment = True
    returns_split_with_refund = False

    def __init__(
        self,
        config: SandboxConfig,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.cfg = config
        self.http = ChannelHttp(self.name, base_url, transport=transport, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return "Sandbox(...)"

    @staticmethod
    def configured(s: Settings) -> bool:
        return s.sandbox_enabled and s.app_env != "prod"

    @classmethod
    def from_settings(cls, s: Settings) -> Sandbox:
        # The sandbox provider lives in this process: the adapter reaches it in-process
        # (no server needed for the embedded default), over the same HTTP protocol.
        return cls(
            SandboxConfig.from_settings(s),
            "http://sandbox.local/sandbox/api",
            transport=httpx.ASGITransport(app=sandbox_provider.provider_app()),
            timeout_s=s.payment_timeout_s,
        )

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict:
        resp = await self.http.send(
            method,
            path,
            content=json.dumps(payload).encode() if payload is not None else None,
            headers={"X-Sandbox-Key": self.cfg.api_key, "Content-Type": "application/json"},
        )
        data = json_or_error(self.name, resp)
        if resp.status_code >= 300:
            raise provider_refused(
                self.name,
                str(data.get("code") or f"HTTP_{resp.status_code}"),
                str(data.get("message") or ""),
                transient=resp.status_code >= 500,
            )
        return data

    async def create_payment(self, req: PayRequest) -> PaymentStart:
        data = await self._call(
            "POST",
            "/orders",
            {
                "out_trade_no": req.out_trade_no,
                "amount_fen": req.amount_fen,
                "description": req.description,
                "notify_url": req.notify_url,
                "merchant": req.provider_merchant_id,
                "split": {
                    "merchant_fen": req.split.merchant_fen,
                    "platform_fen": req.split.platform_fen,
                },
            },
        )
        return PaymentStart(
            {"payUrl": data["pay_url"], "outTradeNo": req.out_trade_no}, str(data["pay_url"])
        )

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery:
        try:
            data = await self._call("GET", f"/orders/{quote(out_trade_no)}")
        except ChannelError as exc:
            if exc.provider_code == "NOT_FOUND":
                return TradeQuery(TradeState.NOT_FOUND)
            raise
        state = {"paid": TradeState.PAID, "closed": TradeState.CLOSED}.get(
            str(data.get("state")), TradeState.NOT_PAID
        )
        return TradeQuery(state, data.get("txn_id"), data.get("amount_fen"))

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None:
        await self._call("POST", f"/orders/{quote(out_trade_no)}/close", {})

    async def refund(self, req: RefundRequest) -> RefundResult:
        data = await self._call(
            "POST",
            "/refunds",
            {
                "out_trade_no": req.out_trade_no,
                "out_refund_no": req.out_refund_no,
                "amount_fen": req.amount_fen,
                "notify_url": req.notify_url,
            },
        )
        return RefundResult(str(data["status"]), data.get("refund_id"))

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult:
        data = await self._call("GET", f"/refunds/{quote(out_refund_no)}")
        return RefundResult(str(data["status"]), data.get("refund_id"))

    async def prepare_split(self, provider_merchant_id: str) -> None:
        return None

    async def split(self, req: SplitRequest) -> SplitResult:
        data = await self._call(
            "POST",
            "/splits",
            {
                "out_trade_no": req.out_trade_no,
                "out_split_no": req.out_split_no,
                "platform_fen": req.platform_fen,
            },
        )
        return SplitResult(str(data["status"]), data.get("split_id"))

    async def query_split(self, req: SplitRequest) -> SplitResult:
        data = await self._call("GET", f"/splits/{quote(req.out_split_no)}")
        return SplitResult(str(data["status"]), data.get("split_id"))

    async def return_split(self, req: SplitReturnRequest) -> None:
        await self._call(
            "POST",
            f"/splits/{quote(req.out_split_no)}/returns",
            {"out_return_no": req.out_return_no, "amount_fen": req.amount_fen},
        )

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice:
        h = {k.lower(): v for k, v in headers.items()}
        ts, nonce, sig = (
            h.get("x-sandbox-timestamp", ""),
            h.get("x-sandbox-nonce", ""),
            h.get("x-sandbox-signature", ""),
        )
        if not (ts and nonce and sig):
            raise NotificationRejected("missing sandbox signature headers")
        if not ASCII_DIGITS.fullmatch(ts) or abs(time.time() - int(ts)) > self.cfg.notify_window_s:
            raise NotificationRejected("timestamp outside the 5-minute window")
        try:
            self.cfg.provider_public_key.verify(
                base64.b64decode(sig, validate=True), signed_message(ts, nonce, body)
            )
        except (InvalidSignature, ValueError):
            raise NotificationRejected("signature does not verify") from None
        if not await replay.first_time(self.name, nonce, 2 * self.cfg.notify_window_s):
            raise NotificationRejected("replayed nonce")
        try:
            data = json.loads(body)
        except ValueError:
            raise NotificationRejected("body is not JSON") from None
        event = data.get("event")
        if event == "payment.succeeded":
            return Notice(
                kind="payment",
                out_trade_no=str(data["out_trade_no"]),
                channel_txn_id=data.get("txn_id"),
                amount_fen=int(data["amount_fen"]),
                paid=True,
            )
        if event in {"refund.succeeded", "refund.failed"}:
            return Notice(
                kind="refund",
                out_trade_no=str(data["out_trade_no"]),
                out_refund_no=data.get("out_refund_no"),
                refund_status="success" if event == "refund.succeeded" else "failed",
                refund_fen=int(data.get("amount_fen") or 0),
            )
        raise NotificationRejected("unknown event")

    def reply(self, ok: bool, message: str = "") -> NotifyReply:
        if ok:
            return NotifyReply(200, b'{"ok":true}', "application/json")
        body = json.dumps({"ok": False, "message": message[:100]}).encode()
        return NotifyReply(400, body, "application/json")
