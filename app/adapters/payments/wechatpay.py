"""WeChat Pay API v3, service-provider mode (服务商模式, `sub_mchid` = the merchant).

Requests carry a `WECHATPAY2-SHA256-RSA2048` Authorization header signed with the
merchant API key; answers and notifications are verified with the platform key named by
`Wechatpay-Serial`: a platform certificate (downloaded from /v3/certificates and
decrypted with the APIv3 key, refreshed when an unknown serial shows up) or, in the
public-key mode, the configured `PUB_KEY_ID_...` key. Notification resources are
AEAD_AES_256_GCM encrypted with the APIv3 key.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from app.adapters.payments import crypto, identifiers, money, replay
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
from app.infra.inputs import ASCII_DIGITS

SIGN_TYPE = "WECHATPAY2-SHA256-RSA2048"
PUB_KEY_PREFIX = "PUB_KEY_ID_"
# Codes WeChat documents as "try again": they count against the channel's health.
TRANSIENT_CODES = {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "SYSTEMERROR"}
_TRADE_STATES = {
    "SUCCESS": TradeState.PAID,
    "REFUND": TradeState.REFUNDED,
    "NOTPAY": TradeState.NOT_PAID,
    "USERPAYING": TradeState.NOT_PAID,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.CLOSED,
}


@dataclass
class WeChatPayConfig:
    sp_mchid: str
    sp_appid: str
    serial_no: str
    private_key: crypto.PrivateKey
    apiv3_key: bytes
    app_appid: str = ""
    public_key_id: str = ""
    public_key: crypto.PublicKey | None = None
    notify_window_s: int = 300
    refresh_interval_s: float = 60.0
    sp_name: str = ""  # 商户全称: the receiver name WeChat requires for MERCHANT_ID
    cert_renew_before_s: float = 7 * 24 * 3600

    def __repr__(self) -> str:  # never print keys
        return f"WeChatPayConfig(sp_mchid={self.sp_mchid!r}, serial_no={self.serial_no!r})"


class WeChatPay:
    name = "wechatpay"
    splits_after_payment = True
    returns_split_with_refund = False

    @staticmethod
    def configured(s: Settings) -> bool:
        return bool(
            s.wechatpay_sp_mchid
            and s.wechatpay_serial_no
            and s.wechatpay_private_key.get_secret_value()
            and s.wechatpay_apiv3_key.get_secret_value()
        )

    @classmethod
    def from_settings(cls, s: Settings) -> WeChatPay:
        return cls(
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
            timeout_s=s.payment_timeout_s,
        )

    def __init__(
        self,
        config: WeChatPayConfig,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if len(config.apiv3_key) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")
        self.cfg = config
        self.http = ChannelHttp(self.name, base_url, transport=transport, timeout_s=timeout_s)
        self._platform_keys: dict[str, crypto.PublicKey] = {}
        # A platform certificate's key is used only inside its validity window, as the
        # SDKs do; configured public keys have none.
        self._windows: dict[str, tuple[datetime, datetime]] = {}
        if config.public_key_id and config.public_key is not None:
            self._platform_keys[config.public_key_id] = config.public_key
        self._last_refresh = 0.0

    def __repr__(self) -> str:
        return f"WeChatPay({self.cfg!r})"

    # ------------------------------------------------------------ signing

    def authorization(self, method: str, path: str, body: str) -> str:
        ts = str(int(time.time()))
        nonce = secrets.token_hex(16)
        message = f"{method}\n{path}\n{ts}\n{nonce}\n{body}\n"
        sig = crypto.rsa_sign(self.cfg.private_key, message)
        return (
            f'{SIGN_TYPE} mchid="{self.cfg.sp_mchid}",nonce_str="{nonce}",'
            f'signature="{sig}",timestamp="{ts}",serial_no="{self.cfg.serial_no}"'
        )

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, serial: str = ""
    ) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload else ""
        headers = {
            "Authorization": self.authorization(method, path, body),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "multistore-points",
        }
        if serial or self.cfg.public_key_id:
            # the key a sensitive field was encrypted with
            headers["Wechatpay-Serial"] = serial or self.cfg.public_key_id
        resp = await self.http.send(method, path, content=body.encode() or None, headers=headers)
        if resp.status_code >= 300:
            err = json_or_error(self.name, resp) if resp.content else {}
            code = str(err.get("code") or f"HTTP_{resp.status_code}")
            raise provider_refused(
                self.name,
                code,
                str(err.get("message") or ""),
                transient=resp.status_code >= 500 or code in TRANSIENT_CODES,
            )
        await self._verify_response(resp, path)
        if resp.status_code == 204 or not resp.content:
            return {}
        return json_or_error(self.name, resp)

    async def _verify_response(self, resp: httpx.Response, path: str) -> None:
        h = resp.headers
        ok = h.get("Wechatpay-Signature-Type", SIGN_TYPE) == SIGN_TYPE and await self._verify(
            h.get("Wechatpay-Serial", ""),
            h.get("Wechatpay-Timestamp", ""),
            h.get("Wechatpay-Nonce", ""),
            h.get("Wechatpay-Signature", ""),
            resp.content,
            allow_refresh=path != "/v3/certificates",
        )
        if not ok:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE,
                "wechatpay answer is not signed by a known platform key",
            )

    async def _verify(
        self, serial: str, ts: str, nonce: str, signature: str, body: bytes, allow_refresh: bool
    ) -> bool:
        key = await self.platform_key(serial, allow_refresh=allow_refresh)
        if key is None:
            return False
        message = f"{ts}\n{nonce}\n".encode() + body + b"\n"
        return crypto.rsa_verify(key, message, signature)

    # ------------------------------------------------------------ platform keys

    def _usable(self, serial: str) -> crypto.PublicKey | None:
        """The key of `serial` if known and, for a certificate, inside its window."""
        window = self._windows.get(serial)
        if window is not None and not window[0] <= datetime.now(UTC) <= window[1]:
            return None
        return self._platform_keys.get(serial)

    async def _renew_if_ending(self) -> None:
        """Download certificates ahead of time when the newest one is about to expire
        (WeChat issues the next one before the current one ends)."""
        if not self._windows or self.cfg.public_key_id:
            return
        ends = max(w[1] for w in self._windows.values())
        if (ends - datetime.now(UTC)).total_seconds() > self.cfg.cert_renew_before_s:
            return
        if time.monotonic() - self._last_refresh < self.cfg.refresh_interval_s:
            return
        # on failure the current certificate still serves; the next call tries again
        with contextlib.suppress(ChannelError):
            await self.refresh_certificates()

    async def platform_key(self, serial: str, *, allow_refresh: bool = True) -> Any:
        if allow_refresh:
            await self._renew_if_ending()
        key = self._usable(serial)
        if key is not None or not serial or not allow_refresh:
            return key
        if serial.startswith(PUB_KEY_PREFIX):
            return None  # public keys are configured, never downloaded
        if time.monotonic() - self._last_refresh < self.cfg.refresh_interval_s:
            return None  # an unknown serial does not buy a download every time
        await self.refresh_certificates()
        return self._usable(serial)

    async def refresh_certificates(self) -> list[str]:
        """Download the platform certificates (decrypted with the APIv3 key)."""
        self._last_refresh = time.monotonic()
        path = "/v3/certificates"
        body = ""
        resp = await self.http.send(
            "GET",
            path,
            headers={
                "Authorization": self.authorization("GET", path, body),
                "Accept": "application/json",
            },
        )
        if resp.status_code != 200:
            raise provider_refused(self.name, f"HTTP_{resp.status_code}", "", transient=True)
        data = json_or_error(self.name, resp)
        fresh: dict[str, crypto.PublicKey] = {}
        windows: dict[str, tuple[datetime, datetime]] = {}
        now = datetime.now(UTC)
        for item in data.get("data") or []:
            enc = item.get("encrypt_certificate") or {}
            try:
                pem = crypto.aes_gcm_decrypt(
                    self.cfg.apiv3_key,
                    enc.get("nonce", ""),
                    enc.get("associated_data", ""),
                    enc.get("ciphertext", ""),
                )
                cert = x509.load_pem_x509_certificate(pem)
            except ValueError:
                continue
            pub = cert.public_key()
            window = (cert.not_valid_before_utc, cert.not_valid_after_utc)
            if isinstance(pub, crypto.PublicKey) and window[0] <= now <= window[1]:
                fresh[str(item.get("serial_no"))] = pub
                windows[str(item.get("serial_no"))] = window
        # The download itself must be signed by one of the certificates it carries.
        h = resp.headers
        signer = fresh.get(h.get("Wechatpay-Serial", ""))
        message = f"{h.get('Wechatpay-Timestamp', '')}\n{h.get('Wechatpay-Nonce', '')}\n".encode()
        if signer is None or not crypto.rsa_verify(
            signer, message + resp.content + b"\n", h.get("Wechatpay-Signature", "")
        ):
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE, "wechatpay certificate download not signed"
            )
        self._platform_keys.update(fresh)
        self._windows.update(windows)
        return sorted(fresh)

    async def encryption_key(self) -> tuple[str, crypto.PublicKey]:
        """The platform key sensitive fields are encrypted with, and its serial: the
        configured public key, else the valid certificate that expires last."""
        if self.cfg.public_key_id and self.cfg.public_key is not None:
            return self.cfg.public_key_id, self.cfg.public_key
        await self._renew_if_ending()
        if not any(self._usable(s) for s in self._windows):
            await self.refresh_certificates()
        usable = [s for s in self._windows if self._usable(s) is not None]
        if not usable:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE, "wechatpay has no valid platform certificate"
            )
        serial = max(usable, key=lambda s: self._windows[s][1])
        return serial, self._platform_keys[serial]

    async def encrypt_field(self, text: str) -> tuple[str, str]:
        """A sensitive field (RSAES-OAEP, SHA-1 and MGF1-SHA-1, as WeChat Pay v3
        specifies) under the platform key, and the serial to send with it."""
        serial, key = await self.encryption_key()
        cipher = key.encrypt(
            text.encode(),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
        return serial, base64.b64encode(cipher).decode()

    # ------------------------------------------------------------ payments

    def _appid(self, client: ClientKind) -> str:
        return self.cfg.app_appid if client == ClientKind.APP else self.cfg.sp_appid

    async def create_payment(self, req: PayRequest) -> PaymentStart:
        appid = self._appid(req.client)
        if not appid:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_NOT_CONFIGURED, "wechatpay has no appid for this client"
            )
        identifiers.check(self.name, "out_trade_no", req.out_trade_no)
        payload: dict[str, Any] = {
            "sp_appid": appid,
            "sp_mchid": self.cfg.sp_mchid,
            "sub_mchid": req.provider_merchant_id,
            "description": req.description[:127],
            "out_trade_no": req.out_trade_no,
            "time_expire": money.rfc3339(money.expire_at(req.expire_minutes)),
            "notify_url": req.notify_url,
            # Funds stay frozen for the split (分账) that follows a success.
            "settle_info": {"profit_sharing": req.split.platform_fen > 0},
            "amount": {"total": req.amount_fen, "currency": "CNY"},
        }
        if req.client == ClientKind.APP:
            data = await self._call("POST", "/v3/pay/partner/transactions/app", payload)
        else:
            if not req.payer_openid:
                raise ChannelError(
                    PaymentErrorCode.CHANNEL_ERROR,
                    "wechatpay JSAPI needs the payer's openid",
                    field="channel",
                )
            payload["payer"] = {"sp_openid": req.payer_openid}
            data = await self._call("POST", "/v3/pay/partner/transactions/jsapi", payload)
        prepay_id = str(data.get("prepay_id") or "")
        if not prepay_id:
            raise ChannelError(PaymentErrorCode.CHANNEL_BAD_RESPONSE, "wechatpay sent no prepay_id")
        return PaymentStart(self.client_params(req.client, appid, prepay_id), prepay_id)

    def client_params(self, client: ClientKind, appid: str, prepay_id: str) -> dict[str, Any]:
        ts = str(int(time.time()))
        nonce = secrets.token_hex(16)
        if client == ClientKind.APP:
            sign = crypto.rsa_sign(self.cfg.private_key, f"{appid}\n{ts}\n{nonce}\n{prepay_id}\n")
            return {
                "appid": appid,
                "partnerid": self.cfg.sp_mchid,
                "prepayid": prepay_id,
                "package": "Sign=WXPay",
                "noncestr": nonce,
                "timestamp": ts,
                "sign": sign,
            }
        package = f"prepay_id={prepay_id}"
        sign = crypto.rsa_sign(self.cfg.private_key, f"{appid}\n{ts}\n{nonce}\n{package}\n")
        # Exactly what wx.requestPayment takes.
        return {
            "appId": appid,
            "timeStamp": ts,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": sign,
        }

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery:
        path = (
            f"/v3/pay/partner/transactions/out-trade-no/{quote(out_trade_no)}"
            f"?sp_mchid={self.cfg.sp_mchid}&sub_mchid={quote(provider_merchant_id)}"
        )
        try:
            data = await self._call("GET", path)
        except ChannelError as exc:
            if exc.provider_code == "ORDER_NOT_EXIST":
                return TradeQuery(TradeState.NOT_FOUND)
            raise
        state = _TRADE_STATES.get(str(data.get("trade_state")), TradeState.NOT_PAID)
        amount = (data.get("amount") or {}).get("total")
        return TradeQuery(state, data.get("transaction_id"), int(amount) if amount else None)

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None:
        path = f"/v3/pay/partner/transactions/out-trade-no/{quote(out_trade_no)}/close"
        await self._call(
            "POST", path, {"sp_mchid": self.cfg.sp_mchid, "sub_mchid": provider_merchant_id}
        )

    # ------------------------------------------------------------ refunds

    async def refund(self, req: RefundRequest) -> RefundResult:
        identifiers.check(self.name, "out_refund_no", req.out_refund_no)
        payload: dict[str, Any] = {
            "sub_mchid": req.provider_merchant_id,
            "out_trade_no": req.out_trade_no,
            "out_refund_no": req.out_refund_no,
            "notify_url": req.notify_url,
            "amount": {"refund": req.amount_fen, "total": req.total_fen, "currency": "CNY"},
        }
        if req.channel_txn_id:
            payload["transaction_id"] = req.channel_txn_id
            del payload["out_trade_no"]
        if req.reason:
            payload["reason"] = req.reason[:80]
        data = await self._call("POST", "/v3/refund/domestic/refunds", payload)
        return RefundResult(_refund_status(data.get("status")), data.get("refund_id"))

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult:
        path = (
            f"/v3/refund/domestic/refunds/{quote(out_refund_no)}"
            f"?sub_mchid={quote(provider_merchant_id)}"
        )
        data = await self._call("GET", path)
        return RefundResult(_refund_status(data.get("status")), data.get("refund_id"))

    # ------------------------------------------------------------ profit sharing (分账)

    async def prepare_split(self, provider_merchant_id: str) -> None:
        """Register the platform (the service provider) as receiver for this sub-merchant.
        WeChat requires the receiver's full name for MERCHANT_ID, encrypted."""
        if not self.cfg.sp_name:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_NOT_CONFIGURED,
                "wechatpay profit sharing needs the service provider's full name",
            )
        serial, name = await self.encrypt_field(self.cfg.sp_name)
        await self._call(
            "POST",
            "/v3/profitsharing/receivers/add",
            {
                "sub_mchid": provider_merchant_id,
                "appid": self.cfg.sp_appid,
                "type": "MERCHANT_ID",
                "account": self.cfg.sp_mchid,
                "name": name,
                "relation_type": "SERVICE_PROVIDER",
            },
            serial=serial,
        )

    async def split(self, req: SplitRequest) -> SplitResult:
        identifiers.check(self.name, "out_order_no", req.out_split_no)
        if req.platform_fen <= 0:
            await self._call(
                "POST",
                "/v3/profitsharing/orders/unfreeze",
                {
                    "sub_mchid": req.provider_merchant_id,
                    "transaction_id": req.channel_txn_id,
                    "out_order_no": req.out_split_no,
                    "description": "no platform share",
                },
            )
            return SplitResult("finished")
        data = await self._call(
            "POST",
            "/v3/profitsharing/orders",
            {
                "sub_mchid": req.provider_merchant_id,
                "appid": self.cfg.sp_appid,
                "transaction_id": req.channel_txn_id,
                "out_order_no": req.out_split_no,
                "receivers": [
                    {
                        "type": "MERCHANT_ID",
                        "account": self.cfg.sp_mchid,
                        "amount": req.platform_fen,
                        "description": "platform share",
                    }
                ],
                # The rest goes to the merchant at once.
                "unfreeze_unsplit": True,
            },
        )
        return SplitResult(_split_status(data.get("state")), data.get("order_id"))

    async def query_split(self, req: SplitRequest) -> SplitResult:
        path = (
            f"/v3/profitsharing/orders/{quote(req.out_split_no)}"
            f"?sub_mchid={quote(req.provider_merchant_id)}"
            f"&transaction_id={quote(req.channel_txn_id)}"
        )
        data = await self._call("GET", path)
        return SplitResult(_split_status(data.get("state")), data.get("order_id"))

    async def return_split(self, req: SplitReturnRequest) -> None:
        identifiers.check(self.name, "out_order_no", req.out_split_no)
        identifiers.check(self.name, "out_return_no", req.out_return_no)
        data = await self._call(
            "POST",
            "/v3/profitsharing/return-orders",
            {
                "sub_mchid": req.provider_merchant_id,
                "out_order_no": req.out_split_no,
                "out_return_no": req.out_return_no,
                "return_mchid": self.cfg.sp_mchid,
                "amount": req.amount_fen,
                "description": "refund",
            },
        )
        if data.get("result") == "FAILED":
            raise provider_refused(
                self.name, str(data.get("fail_reason") or "RETURN_FAILED"), "", transient=False
            )

    # ------------------------------------------------------------ notifications

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice:
        h = {k.lower(): v for k, v in headers.items()}
        serial = h.get("wechatpay-serial", "")
        signature = h.get("wechatpay-signature", "")
        ts = h.get("wechatpay-timestamp", "")
        nonce = h.get("wechatpay-nonce", "")
        if not (serial and signature and ts and nonce):
            raise NotificationRejected("missing Wechatpay signature headers")
        if signature.startswith("WECHATPAY/SIGNTEST/"):
            raise NotificationRejected("signature probe (WECHATPAY/SIGNTEST) refused")
        stype = h.get("wechatpay-signature-type", SIGN_TYPE)
        if stype != SIGN_TYPE:
            raise NotificationRejected("unsupported signature type")
        if not ASCII_DIGITS.fullmatch(ts) or abs(time.time() - int(ts)) > self.cfg.notify_window_s:
            raise NotificationRejected("timestamp outside the 5-minute window")
        try:
            verified = await self._verify(serial, ts, nonce, signature, body, allow_refresh=True)
        except ChannelError:
            raise NotificationRejected("platform certificates could not be refreshed") from None
        if not verified:
            if await self.platform_key(serial, allow_refresh=False) is None:
                raise NotificationRejected("unknown platform serial")
            raise NotificationRejected("signature does not verify")
        if not await replay.first_time(self.name, nonce, 2 * self.cfg.notify_window_s):
            raise NotificationRejected("replayed nonce")
        try:
            envelope = json.loads(body)
            res = envelope["resource"]
            if res.get("algorithm") != "AEAD_AES_256_GCM":
                raise NotificationRejected("unsupported resource algorithm")
            plain = crypto.aes_gcm_decrypt(
                self.cfg.apiv3_key, res["nonce"], res.get("associated_data", ""), res["ciphertext"]
            )
            data = json.loads(plain)
        except NotificationRejected:
            raise
        except (ValueError, KeyError, TypeError):
            raise NotificationRejected("resource does not decrypt") from None
        if data.get("sp_mchid") != self.cfg.sp_mchid:
            raise NotificationRejected("sp_mchid mismatch")
        event = str(envelope.get("event_type", ""))
        if event.startswith("TRANSACTION."):
            if data.get("sp_appid") not in {self.cfg.sp_appid, self.cfg.app_appid} - {""}:
                raise NotificationRejected("appid mismatch")
            amount = data.get("amount") or {}
            return Notice(
                kind="payment",
                out_trade_no=str(data.get("out_trade_no", "")),
                channel_txn_id=data.get("transaction_id"),
                amount_fen=int(amount["total"]) if "total" in amount else None,
                paid=data.get("trade_state") == "SUCCESS",
                extra={"sub_mchid": data.get("sub_mchid")},
            )
        if event.startswith("REFUND."):
            amount = data.get("amount") or {}
            return Notice(
                kind="refund",
                out_trade_no=str(data.get("out_trade_no", "")),
                channel_txn_id=data.get("transaction_id"),
                out_refund_no=data.get("out_refund_no"),
                refund_status=_refund_status(data.get("refund_status")),
                refund_fen=int(amount["refund"]) if "refund" in amount else None,
                extra={"refund_id": data.get("refund_id")},
            )
        raise NotificationRejected(f"unknown event type {event[:40]}")

    def reply(self, ok: bool, message: str = "") -> NotifyReply:
        if ok:
            return NotifyReply(204, b"")
        body = json.dumps({"code": "FAIL", "message": message[:100] or "failed"}).encode()
        return NotifyReply(500 if message.startswith("retry") else 400, body, "application/json")

    # ------------------------------------------------------------ split cap (SPEC §9)

    async def split_cap_bps(self, provider_merchant_id: str) -> int:
        """The most the sub-merchant lets the platform take of a payment by profit
        sharing: `max_ratio`, in bps of the amount (查询最大分账比例)."""
        data = await self._call(
            "GET", f"/v3/profitsharing/merchant-configs/{quote(provider_merchant_id)}"
        )
        ratio = data.get("max_ratio")
        if not isinstance(ratio, int) or isinstance(ratio, bool) or not 0 <= ratio <= 10_000:
            raise ChannelError(
                PaymentErrorCode.CHANNEL_BAD_RESPONSE, "wechatpay sent no valid max_ratio"
            )
        return ratio


def _refund_status(value: Any) -> str:
    return {
        "SUCCESS": "success",
        "CLOSED": "failed",
        "ABNORMAL": "failed",
        "PROCESSING": "processing",
    }.get(str(value), "processing")


def _split_status(value: Any) -> str:
    return {"FINISHED": "finished", "PROCESSING": "processing"}.get(str(value), "processing")
