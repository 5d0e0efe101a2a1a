"""A fake of WeChat Pay API v3 (service-provider mode), the provider's side.

It checks the merchant's `WECHATPAY2-SHA256-RSA2048` Authorization header with the
merchant's public key, signs every answer with its platform key (certificate mode,
serial = certificate serial; or public-key mode, serial = PUB_KEY_ID_...), serves
/v3/certificates encrypted with the APIv3 key, keeps trades, refunds and profit-sharing
orders, and builds signed, AES-256-GCM-encrypted notifications for the tests to deliver.
Keys are generated here, per test.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import secrets
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

AUTH_RE = re.compile(r'(\w+)="([^"]*)"')
# The merchant's numbers as WeChat Pay v3 documents them: out_trade_no string[6,32] of
# digits, letters and _-*; out_refund_no, out_order_no, out_return_no string[1,64] of
# digits, letters and _-|*@.
TRADE_NO = re.compile(r"[0-9A-Za-z_\-*]{6,32}")
MERCHANT_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def pem_public(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(pub, message: bytes, signature: str) -> bool:
    try:
        pub.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:
        return False


def self_signed_cert(
    key: rsa.RSAPrivateKey, *, valid_from_days: float = -1, valid_to_days: float = 365
) -> tuple[str, str]:
    """A platform certificate valid from/to that many days from now: (serial as
    uppercase hex, PEM)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA fake")])
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now + dt.timedelta(days=valid_from_days))
        .not_valid_after(now + dt.timedelta(days=valid_to_days))
        .sign(key, hashes.SHA256())
    )
    return format(serial, "X"), cert.public_bytes(serialization.Encoding.PEM).decode()


class WeChatPayFake:
    def __init__(
        self,
        *,
        sp_mchid: str,
        sp_appid: str,
        merchant_public_key,
        merchant_serial: str,
        apiv3_key: bytes,
        public_key_mode: bool = False,
        sp_name: str = "",
    ) -> None:
        self.sp_mchid = sp_mchid
        self.sp_name = sp_name  # the full name a MERCHANT_ID receiver must be added with
        self.sp_appid = sp_appid
        self.merchant_public_key = merchant_public_key
        self.merchant_serial = merchant_serial
        self.apiv3_key = apiv3_key
        self.public_key_mode = public_key_mode
        self.platform_key = new_key()
        self.serial, self.cert_pem = self_signed_cert(self.platform_key)
        self.certs: dict[str, tuple[rsa.RSAPrivateKey, str]] = {
            self.serial: (self.platform_key, self.cert_pem)
        }
        self.pub_key_id = "PUB_KEY_ID_0114" + secrets.token_hex(8).upper()
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.splits: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, dict[str, Any]] = {}
        self.receivers: set[tuple[str, str]] = set()
        self.receiver_names: dict[tuple[str, str], str] = {}  # decrypted, as WeChat keeps them
        self.requests: list[tuple[str, str]] = []
        self.signed_requests: list[tuple[str, str, bytes, str]] = []  # method, path, body, auth
        self.certificate_downloads = 0
        self.fail_next: list[tuple[int, str]] = []  # (HTTP status, WeChat code)
        self.delay_s = 0.0
        self.app = Starlette(
            routes=[
                Route("/v3/certificates", self.certificates, methods=["GET"]),
                Route("/v3/pay/partner/transactions/jsapi", self.prepay, methods=["POST"]),
                Route("/v3/pay/partner/transactions/app", self.prepay, methods=["POST"]),
                Route(
                    "/v3/pay/partner/transactions/out-trade-no/{no}",
                    self.query_trade,
                    methods=["GET"],
                ),
                Route(
                    "/v3/pay/partner/transactions/out-trade-no/{no}/close",
                    self.close_trade,
                    methods=["POST"],
                ),
                Route("/v3/refund/domestic/refunds", self.refund, methods=["POST"]),
                Route("/v3/refund/domestic/refunds/{no}", self.query_refund, methods=["GET"]),
                Route("/v3/profitsharing/receivers/add", self.add_receiver, methods=["POST"]),
                Route("/v3/profitsharing/orders", self.split, methods=["POST"]),
                Route("/v3/profitsharing/orders/unfreeze", self.unfreeze, methods=["POST"]),
                Route("/v3/profitsharing/orders/{no}", self.query_split, methods=["GET"]),
                Route("/v3/profitsharing/return-orders", self.split_return, methods=["POST"]),
            ]
        )
        self._serve_split_caps()

    # ---------------------------------------------------------- test controls

    @property
    def signing(self) -> tuple[str, rsa.RSAPrivateKey]:
        if self.public_key_mode:
            return self.pub_key_id, self.platform_key
        return self.serial, self.platform_key

    def rotate_certificate(self, *, valid_from_days: float = -1, valid_to_days: float = 365) -> str:
        """A new platform certificate becomes current (the old one stays downloadable).
        With dates in the past it is an expired one, served and signed with as if
        current: what a misconfigured or replayed answer looks like."""
        self.platform_key = new_key()
        self.serial, self.cert_pem = self_signed_cert(
            self.platform_key, valid_from_days=valid_from_days, valid_to_days=valid_to_days
        )
        self.certs[self.serial] = (self.platform_key, self.cert_pem)
        return self.serial

    def private_key_of(self, serial: str) -> rsa.RSAPrivateKey | None:
        """The platform private key behind a serial the merchant encrypted with."""
        if serial == self.pub_key_id and self.public_key_mode:
            return self.platform_key
        entry = self.certs.get(serial)
        return entry[0] if entry else None

    def pay(self, out_trade_no: str, *, payer_total: int | None = None) -> None:
        """The consumer pays in WeChat."""
        t = self.trades[out_trade_no]
        t["trade_state"] = "SUCCESS"
        t["transaction_id"] = t.get("transaction_id") or "4200" + secrets.token_hex(10)
        t["success_time"] = dt.datetime.now(dt.UTC).isoformat()

    def transaction_resource(self, out_trade_no: str, **overrides: Any) -> dict[str, Any]:
        t = self.trades[out_trade_no]
        res = {
            "sp_appid": t["sp_appid"],
            "sp_mchid": self.sp_mchid,
            "sub_mchid": t["sub_mchid"],
            "out_trade_no": out_trade_no,
            "transaction_id": t.get("transaction_id"),
            "trade_type": t["trade_type"],
            "trade_state": t["trade_state"],
            "trade_state_desc": "ok",
            "success_time": t.get("success_time"),
            "amount": {"total": t["total"], "payer_total": t["total"], "currency": "CNY"},
            "payer": {"sp_openid": t.get("openid")},
        }
        res.update(overrides)
        return res

    def refund_resource(self, out_refund_no: str, **overrides: Any) -> dict[str, Any]:
        r = self.refunds[out_refund_no]
        res = {
            "sp_mchid": self.sp_mchid,
            "sub_mchid": r["sub_mchid"],
            "out_trade_no": r["out_trade_no"],
            "transaction_id": r["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": r["refund_id"],
            "refund_status": r["status"],
            "amount": {"total": r["total"], "refund": r["refund"]},
        }
        res.update(overrides)
        return res

    def notification(
        self,
        event_type: str,
        resource: dict[str, Any],
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        serial: str | None = None,
        signing_key: rsa.RSAPrivateKey | None = None,
        signature: str | None = None,
        apiv3_key: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a notification, as WeChat would POST it."""
        res_nonce = secrets.token_hex(6)
        ad = "transaction" if event_type.startswith("TRANSACTION") else "refund"
        ct = AESGCM(apiv3_key or self.apiv3_key).encrypt(
            res_nonce.encode(), json.dumps(resource).encode(), ad.encode()
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(8),
                "create_time": dt.datetime.now(dt.UTC).isoformat(),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "ok",
                "resource": {
                    "original_type": ad,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ct).decode(),
                    "associated_data": ad,
                    "nonce": res_nonce,
                },
            }
        ).encode()
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(16)
        cur_serial, cur_key = self.signing
        sig = signature or sign(signing_key or cur_key, f"{ts}\n{nonce}\n".encode() + body + b"\n")
        headers = {
            "Wechatpay-Serial": serial or cur_serial,
            "Wechatpay-Signature": sig,
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }
        return headers, body

    def payment_notification(self, out_trade_no: str, **kw: Any) -> tuple[dict[str, str], bytes]:
        overrides = kw.pop("resource", {})
        return self.notification(
            "TRANSACTION.SUCCESS", self.transaction_resource(out_trade_no, **overrides), **kw
        )

    def refund_notification(self, out_refund_no: str, **kw: Any) -> tuple[dict[str, str], bytes]:
        r = self.refunds[out_refund_no]
        r["status"] = "SUCCESS"
        return self.notification("REFUND.SUCCESS", self.refund_resource(out_refund_no), **kw)

    # ---------------------------------------------------------- protocol

    def _answer(self, status: int, data: dict[str, Any] | None = None) -> Response:
        body = json.dumps(data).encode() if data is not None else b""
        serial, key = self.signing
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        return Response(
            body,
            status_code=status,
            media_type="application/json" if data is not None else None,
            headers={
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Wechatpay-Serial": serial,
                "Wechatpay-Timestamp": ts,
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": sign(key, f"{ts}\n{nonce}\n".encode() + body + b"\n"),
            },
        )

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._answer(status, {"code": code, "message": message})

    async def _authenticate(self, request: Request) -> tuple[Response | None, dict[str, Any]]:
        body = await request.body()
        if self.delay_s:  # slow, but it does do the work (the caller may not hear of it)
            await asyncio.sleep(self.delay_s)
        self.requests.append((request.method, request.url.path))
        header = request.headers.get("authorization", "")
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return self._error(401, "SIGN_ERROR", "missing authorization"), {}
        parts = dict(AUTH_RE.findall(header))
        # The signed path is the one on the wire, percent-encoding and all (WeChat's
        # own clients sign the encoded URL): never one rebuilt from the decoded path.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string") or b""
        path = raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        self.signed_requests.append((request.method, path, body, header))
        message = (
            (
                f"{request.method}\n{path}\n{parts.get('timestamp')}\n{parts.get('nonce_str')}\n"
            ).encode()
            + body
            + b"\n"
        )
        if (
            parts.get("mchid") != self.sp_mchid
            or parts.get("serial_no") != self.merchant_serial
            or abs(time.time() - int(parts.get("timestamp") or 0)) > 300
            or not verify(self.merchant_public_key, message, parts.get("signature", ""))
        ):
            return self._error(401, "SIGN_ERROR", "signature verification failed"), {}
        if self.fail_next:
            status, code = self.fail_next.pop(0)
            return self._error(status, code, "injected failure"), {}
        return None, (json.loads(body) if body else {})

    async def certificates(self, request: Request) -> Response:
        err, _ = await self._authenticate(request)
        if err:
            return err
        self.certificate_downloads += 1
        data = []
        for serial, (_, pem) in self.certs.items():
            nonce = secrets.token_hex(6)
            ct = AESGCM(self.apiv3_key).encrypt(nonce.encode(), pem.encode(), b"certificate")
            cert = x509.load_pem_x509_certificate(pem.encode())
            data.append(
                {
                    "serial_no": serial,
                    "effective_time": cert.not_valid_before_utc.isoformat(),
                    "expire_time": cert.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": base64.b64encode(ct).decode(),
                    },
                }
            )
        return self._answer(200, {"data": data})

    async def prepay(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        app_pay = request.url.path.endswith("/app")
        if p.get("sp_mchid") != self.sp_mchid or not p.get("sub_mchid"):
            return self._error(400, "PARAM_ERROR", "sp_mchid/sub_mchid")
        if not app_pay and p.get("sp_appid") != self.sp_appid:
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
        if not app_pay and not (p.get("payer") or {}).get("sp_openid"):
            return self._error(400, "PARAM_ERROR", "payer.sp_openid is required")
        if not TRADE_NO.fullmatch(str(p.get("out_trade_no", ""))):
            return self._error(400, "PARAM_ERROR", "out_trade_no format")
        total = (p.get("amount") or {}).get("total")
        if not isinstance(total, int) or total <= 0:
            return self._error(400, "PARAM_ERROR", "amount.total")
        no = p["out_trade_no"]
        old = self.trades.get(no)
        if old and old["trade_state"] != "NOTPAY":
            return self._error(
                400,
                "ORDERPAID" if old["trade_state"] == "SUCCESS" else "ORDER_CLOSED",
                "order state",
            )
        if old and old["total"] != total:
            return self._error(400, "INVALID_REQUEST", "out_trade_no reused with other params")
        prepay_id = old["prepay_id"] if old else "wx" + secrets.token_hex(14)
        self.trades[no] = {
            "sp_appid": p.get("sp_appid"),
            "sub_mchid": p["sub_mchid"],
            "total": total,
            "trade_state": "NOTPAY",
            "trade_type": "APP" if app_pay else "JSAPI",
            "prepay_id": prepay_id,
            "openid": (p.get("payer") or {}).get("sp_openid"),
            "notify_url": p.get("notify_url"),
            "profit_sharing": (p.get("settle_info") or {}).get("profit_sharing", False),
            "refunded": 0,
        }
        return self._answer(200, {"prepay_id": prepay_id})

    async def query_trade(self, request: Request) -> Response:
        err, _ = await self._authenticate(request)
        if err:
            return err
        no = request.path_params["no"]
        if no not in self.trades:
            return self._error(404, "ORDER_NOT_EXIST", "order does not exist")
        return self._answer(200, self.transaction_resource(no))

    async def close_trade(self, request: Request) -> Response:
        err, _ = await self._authenticate(request)
        if err:
            return err
        t = self.trades.get(request.path_params["no"])
        if t is None:
            return self._error(404, "ORDER_NOT_EXIST", "order does not exist")
        if t["trade_state"] == "SUCCESS":
            return self._error(400, "ORDERPAID", "order paid")
        t["trade_state"] = "CLOSED"
        return self._answer(204)

    async def refund(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        no = p.get("out_trade_no")
        if not no:
            no = next(
                (
                    k
                    for k, t in self.trades.items()
                    if t.get("transaction_id") == p.get("transaction_id")
                ),
                None,
            )
        t = self.trades.get(no or "")
        if t is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "order does not exist")
        if t["trade_state"] not in {"SUCCESS", "REFUND"}:
            return self._error(403, "TRADE_ERROR", "order not paid")
        amount = p.get("amount") or {}
        key = p["out_refund_no"]
        if not MERCHANT_NO.fullmatch(str(key)):
            return self._error(400, "PARAM_ERROR", "out_refund_no format")
        if key in self.refunds:
            r = self.refunds[key]
            return self._answer(
                200, {"refund_id": r["refund_id"], "out_refund_no": key, "status": r["status"]}
            )
        if (
            amount.get("total") != t["total"]
            or t["refunded"] + amount.get("refund", 0) > t["total"]
        ):
            return self._error(400, "INVALID_REQUEST", "refund amount exceeds the order")
        t["refunded"] += amount["refund"]
        t["trade_state"] = "REFUND"
        self.refunds[key] = {
            "out_trade_no": no,
            "transaction_id": t["transaction_id"],
            "sub_mchid": p.get("sub_mchid"),
            "refund_id": "5030" + secrets.token_hex(10),
            "status": "PROCESSING",
            "total": t["total"],
            "refund": amount["refund"],
        }
        r = self.refunds[key]
        return self._answer(
            200, {"refund_id": r["refund_id"], "out_refund_no": key, "status": "PROCESSING"}
        )

    async def query_refund(self, request: Request) -> Response:
        err, _ = await self._authenticate(request)
        if err:
            return err
        r = self.refunds.get(request.path_params["no"])
        if r is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "refund does not exist")
        return self._answer(200, {"refund_id": r["refund_id"], "status": r["status"]})

    async def add_receiver(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        # 添加分账接收方: `name` is required for MERCHANT_ID (the merchant's full name),
        # encrypted with RSAES-OAEP under the platform key the Wechatpay-Serial header names.
        name = p.get("name")
        if p.get("type") == "MERCHANT_ID" and not name:
            return self._error(400, "PARAM_ERROR", "name is required for MERCHANT_ID")
        if name:
            key = self.private_key_of(request.headers.get("wechatpay-serial", ""))
            if key is None:
                return self._error(400, "PARAM_ERROR", "Wechatpay-Serial names no platform key")
            try:
                plain = key.decrypt(
                    base64.b64decode(name),
                    padding.OAEP(
                        mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
                    ),
                ).decode()
            except (ValueError, TypeError):
                return self._error(400, "PARAM_ERROR", "name does not decrypt")
            if p.get("type") == "MERCHANT_ID" and plain != self.sp_name:
                return self._error(400, "PARAM_ERROR", "name does not match the merchant")
            self.receiver_names[(p["sub_mchid"], p["account"])] = plain
        self.receivers.add((p["sub_mchid"], p["account"]))
        return self._answer(200, {"sub_mchid": p["sub_mchid"], "account": p["account"]})

    def _paid_trade(self, txn_id: str) -> dict[str, Any] | None:
        return next(
            (
                t
                for t in self.trades.values()
                if t.get("transaction_id") == txn_id and t["trade_state"] in {"SUCCESS", "REFUND"}
            ),
            None,
        )

    async def split(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        if not MERCHANT_NO.fullmatch(str(p.get("out_order_no", ""))):
            return self._error(400, "PARAM_ERROR", "out_order_no format")
        t = self._paid_trade(p.get("transaction_id", ""))
        if t is None:
            return self._error(400, "ORDER_NOT_PAID", "the transaction is not paid")
        if not t["profit_sharing"]:
            return self._error(403, "NO_AUTH", "order not created for profit sharing")
        for r in p["receivers"]:
            if (p["sub_mchid"], r["account"]) not in self.receivers:
                return self._error(400, "RECEIVER_INVALID", "receiver not added")
        total = sum(r["amount"] for r in p["receivers"])
        if total > t["total"]:
            return self._error(400, "PARAM_ERROR", "split exceeds the order")
        if total > t["total"] * self.max_ratio(p["sub_mchid"]) // 10_000:
            return self._error(400, "INVALID_REQUEST", "分账金额超出最大分账比例")
        no = p["out_order_no"]
        if no not in self.splits:
            self.splits[no] = {
                "order_id": "3008" + secrets.token_hex(10),
                "transaction_id": p["transaction_id"],
                "receivers": p["receivers"],
                "amount": total,
                "returned": 0,
                "state": "FINISHED",
            }
        s = self.splits[no]
        return self._answer(
            200, {"order_id": s["order_id"], "out_order_no": no, "state": s["state"]}
        )

    async def unfreeze(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        if not MERCHANT_NO.fullmatch(str(p.get("out_order_no", ""))):
            return self._error(400, "PARAM_ERROR", "out_order_no format")
        if self._paid_trade(p.get("transaction_id", "")) is None:
            return self._error(400, "ORDER_NOT_PAID", "the transaction is not paid")
        no = p["out_order_no"]
        self.splits.setdefault(
            no,
            {
                "order_id": "3008" + secrets.token_hex(10),
                "amount": 0,
                "returned": 0,
                "receivers": [],
                "state": "FINISHED",
                "transaction_id": p["transaction_id"],
            },
        )
        return self._answer(200, {"order_id": self.splits[no]["order_id"], "state": "FINISHED"})

    async def query_split(self, request: Request) -> Response:
        err, _ = await self._authenticate(request)
        if err:
            return err
        s = self.splits.get(request.path_params["no"])
        if s is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "no such split order")
        return self._answer(200, {"order_id": s["order_id"], "state": s["state"]})

    async def split_return(self, request: Request) -> Response:
        err, p = await self._authenticate(request)
        if err:
            return err
        s = self.splits.get(p.get("out_order_no", ""))
        if s is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "no such split order")
        key = p["out_return_no"]
        if not MERCHANT_NO.fullmatch(str(key)):
            return self._error(400, "PARAM_ERROR", "out_return_no format")
        if key not in self.returns:
            if s["returned"] + p["amount"] > s["amount"]:
                return self._error(400, "NOT_ENOUGH", "return exceeds the split")
            s["returned"] += p["amount"]
            self.returns[key] = {"amount": p["amount"], "out_order_no": p["out_order_no"]}
        return self._answer(
            200, {"out_return_no": key, "result": "SUCCESS", "amount": self.returns[key]["amount"]}
        )

    # ---------------------------------------------------------- split caps

    DEFAULT_MAX_RATIO = 3_000  # WeChat Pay's default: 30% of the order

    def _serve_split_caps(self) -> None:
        # what each sub-merchant authorised the service provider to take (bps)
        self.max_ratios: dict[str, int] = {}
        self.config_queries = 0
        self.app.router.routes.append(
            Route(
                "/v3/profitsharing/merchant-configs/{sub_mchid}",
                self.merchant_config,
                methods=["GET"],
            )
        )

    def max_ratio(self, sub_mchid: str) -> int:
        return self.max_ratios.get(sub_mchid, self.DEFAULT_MAX_RATIO)

    async def merchant_config(self, request: Request) -> Response:
        """查询最大分账比例: the ratio the sub-merchant authorised, in bps."""
        err, _ = await self._authenticate(request)
        if err:
            return err
        self.config_queries += 1
        sub = request.path_params["sub_mchid"]
        return self._answer(200, {"sub_mchid": sub, "max_ratio": self.max_ratio(sub)})
