"""The sandbox provider: a small payment provider of our own, for dev, demos and
end-to-end tests (never mounted in prod).

It has an API (`/sandbox/api/...`, authenticated by the sandbox API key), a page to
"pay" (`/sandbox/pay/{out_trade_no}`), and, like a real provider, delivers an
Ed25519-signed notification to the order's notify URL asynchronously after the payer
pays or a refund completes. Its state lives in Redis under the payments prefix.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import secrets
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.adapters.payments import crypto, money, replay
from app.dev.sandbox_keys import provider_key, signed_message
from app.infra.config import get_settings
from app.infra.redis import get_redis, run_commands

log = logging.getLogger("app.dev.sandbox")

_notify_transport: httpx.AsyncBaseTransport | None = None
DELIVERY_ATTEMPTS = 3


def set_notify_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Where notifications go (tests: the app in-process; default: the network)."""
    global _notify_transport
    _notify_transport = transport


def _key(kind: str, ref: str) -> str:
    return replay.key("sandbox", kind, ref)


async def _load(kind: str, ref: str) -> dict[str, Any] | None:
    raw = await get_redis().get(_key(kind, ref))
    return json.loads(raw) if raw else None


async def _save(kind: str, ref: str, value: dict[str, Any], *, only_new: bool = False) -> bool:
    """Store; with `only_new`, only if nothing is stored under that ref (True if stored)."""
    command = ("SET", _key(kind, ref), json.dumps(value), "EX", 30 * 24 * 3600)
    done = (await run_commands(get_redis(), [(*command, "NX") if only_new else command]))[0]
    return bool(done)


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _authorized(request: Request) -> bool:
    expected = get_settings().sandbox_api_key.get_secret_value()
    return crypto.consteq(request.headers.get("x-sandbox-key", ""), expected)


def signed_notification(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(event, separators=(",", ":")).encode()
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    sig = provider_key(get_settings()).sign(signed_message(ts, nonce, body))
    return {
        "Content-Type": "application/json",
        "X-Sandbox-Timestamp": ts,
        "X-Sandbox-Nonce": nonce,
        "X-Sandbox-Signature": base64.b64encode(sig).decode(),
    }, body


async def deliver(url: str, event: dict[str, Any]) -> bool:
    """POST a signed notification, retrying a few times like a provider would."""
    for attempt in range(DELIVERY_ATTEMPTS):
        headers, body = signed_notification(event)  # each attempt is signed afresh
        try:
            async with httpx.AsyncClient(transport=_notify_transport, timeout=5) as client:
                resp = await client.post(url, content=body, headers=headers)
            if resp.status_code < 300:
                return True
            log.info("sandbox notification answered HTTP %s", resp.status_code)
        except httpx.HTTPError as exc:
            log.info("sandbox notification not delivered: %s", type(exc).__name__)
        await asyncio.sleep(0.2 * (attempt + 1))
    return False


# ------------------------------------------------------------------ API


async def create_order(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    p = await request.json()
    amount = p.get("amount_fen")
    if not isinstance(amount, int) or amount <= 0:
        return _err(400, "INVALID_AMOUNT", "amount_fen must be a positive integer")
    split = p.get("split") or {}
    if split.get("merchant_fen", 0) + split.get("platform_fen", 0) != amount:
        return _err(400, "INVALID_SPLIT", "split does not add up to the amount")
    no = str(p["out_trade_no"])
    order = {
        "out_trade_no": no,
        "amount_fen": amount,
        "description": str(p.get("description", ""))[:120],
        "notify_url": p["notify_url"],
        "split": split,
        "state": "open",
        "txn_id": None,
        "refunded_fen": 0,
        "created_at": money.rfc3339(money.now_shanghai()),
    }
    # A new trade in one round trip; a repeat finds the first and must match it.
    if not await _save("order", no, order, only_new=True):
        old = await _load("order", no)
        if old is None or old["state"] != "open" or old["amount_fen"] != amount:
            return _err(409, "ORDER_EXISTS", "out_trade_no already used")
        order = old
    pay_url = f"{get_settings().public_base_url}/sandbox/pay/{no}"
    return JSONResponse({"pay_url": pay_url, "state": order["state"]})


async def get_order(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    order = await _load("order", request.path_params["no"])
    if order is None:
        return _err(404, "NOT_FOUND", "no such order")
    return JSONResponse(
        {"state": order["state"], "txn_id": order["txn_id"], "amount_fen": order["amount_fen"]}
    )


async def close_order(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    no = request.path_params["no"]
    order = await _load("order", no)
    if order is None:
        return _err(404, "NOT_FOUND", "no such order")
    if order["state"] == "paid":
        return _err(409, "ORDER_PAID", "order is paid")
    order["state"] = "closed"
    await _save("order", no, order)
    return JSONResponse({"state": "closed"})


async def create_refund(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    p = await request.json()
    no, key, amount = str(p["out_trade_no"]), str(p["out_refund_no"]), p.get("amount_fen")
    existing = await _load("refund", key)
    if existing is not None:
        return JSONResponse({"status": existing["status"], "refund_id": existing["refund_id"]})
    order = await _load("order", no)
    if order is None or order["state"] != "paid":
        return _err(409, "NOT_PAID", "order is not paid")
    if not isinstance(amount, int) or amount <= 0:
        return _err(400, "INVALID_AMOUNT", "amount_fen must be a positive integer")
    if order["refunded_fen"] + amount > order["amount_fen"]:
        return _err(400, "REFUND_EXCEEDS", "refunds would exceed the amount paid")
    order["refunded_fen"] += amount
    await _save("order", no, order)
    refund = {"refund_id": "SBR" + secrets.token_hex(8), "status": "success", "amount_fen": amount}
    await _save("refund", key, refund)
    event = {
        "event": "refund.succeeded",
        "out_trade_no": no,
        "out_refund_no": key,
        "amount_fen": amount,
    }
    return JSONResponse(
        {"status": "processing", "refund_id": refund["refund_id"]},
        background=BackgroundTask(deliver, p["notify_url"], event),
    )


async def get_refund(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    refund = await _load("refund", request.path_params["no"])
    if refund is None:
        return _err(404, "NOT_FOUND", "no such refund")
    return JSONResponse({"status": refund["status"], "refund_id": refund["refund_id"]})


async def create_split(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    p = await request.json()
    order = await _load("order", str(p["out_trade_no"]))
    if order is None or order["state"] != "paid":
        return _err(409, "NOT_PAID", "split only after a successful payment")
    if p["platform_fen"] != order["split"].get("platform_fen"):
        return _err(400, "INVALID_SPLIT", "split differs from the plan")
    key = str(p["out_split_no"])
    split = await _load("split", key) or {
        "split_id": "SBS" + secrets.token_hex(8),
        "status": "finished",
        "platform_fen": p["platform_fen"],
        "returned_fen": 0,
    }
    await _save("split", key, split)
    return JSONResponse({"status": split["status"], "split_id": split["split_id"]})


async def get_split(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    split = await _load("split", request.path_params["no"])
    if split is None:
        return _err(404, "NOT_FOUND", "no such split")
    return JSONResponse({"status": split["status"], "split_id": split["split_id"]})


async def return_split(request: Request) -> Response:
    if not _authorized(request):
        return _err(401, "UNAUTHORIZED", "bad sandbox API key")
    p = await request.json()
    key = request.path_params["no"]
    split = await _load("split", key)
    if split is None:
        return _err(404, "NOT_FOUND", "no such split")
    done = split.setdefault("returns", {})
    if p["out_return_no"] not in done:
        if split["returned_fen"] + p["amount_fen"] > split["platform_fen"]:
            return _err(400, "RETURN_EXCEEDS", "return exceeds the split")
        split["returned_fen"] += p["amount_fen"]
        done[p["out_return_no"]] = p["amount_fen"]
        await _save("split", key, split)
    return JSONResponse({"result": "success"})


# ------------------------------------------------------------------ the pay page

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Sandbox pay</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}</style></head>
<body><h1>Sandbox payment</h1><p>{description}</p><p>Amount: <b>¥{yuan}</b></p>
<p>Status: <b>{state}</b></p>{form}
<p><small>Sandbox channel: no real money moves.</small></p></body></html>"""


async def pay_page(request: Request) -> Response:
    order = await _load("order", request.path_params["no"])
    if order is None:
        return HTMLResponse("<h1>No such order</h1>", status_code=404)
    form = (
        '<form method="post"><button type="submit">Pay</button></form>'
        if order["state"] == "open"
        else ""
    )
    return HTMLResponse(
        PAGE.format(
            description=html.escape(order["description"]),
            yuan=money.fen_to_yuan(order["amount_fen"]),
            state=order["state"],
            form=form,
        )
    )


async def pay(request: Request) -> Response:
    """The payer pays: the order is paid at the provider, then the notification goes out."""
    no = request.path_params["no"]
    order = await _load("order", no)
    wants_json = "application/json" in request.headers.get("accept", "")
    if order is None:
        return _err(404, "NOT_FOUND", "no such order")
    if order["state"] == "closed":
        return _err(409, "ORDER_CLOSED", "order is closed")
    background = None
    if order["state"] == "open":
        order["state"] = "paid"
        order["txn_id"] = "SB" + money.compact_time(money.now_shanghai()) + secrets.token_hex(6)
        await _save("order", no, order)
        event = {
            "event": "payment.succeeded",
            "out_trade_no": no,
            "txn_id": order["txn_id"],
            "amount_fen": order["amount_fen"],
            "paid_at": money.rfc3339(money.now_shanghai()),
        }
        background = BackgroundTask(deliver, order["notify_url"], event)
    if wants_json:
        return JSONResponse(
            {"state": order["state"], "txn_id": order["txn_id"]}, background=background
        )
    return HTMLResponse(
        PAGE.format(
            description=html.escape(order["description"]),
            yuan=money.fen_to_yuan(order["amount_fen"]),
            state="paid — the merchant is being notified",
            form="",
        ),
        background=background,
    )


def provider_app() -> Starlette:
    """The provider on its own (what the sandbox adapter talks to in-process)."""
    return Starlette(routes=routes())


def routes() -> list[BaseRoute]:
    return [
        Route("/sandbox/api/orders", create_order, methods=["POST"]),
        Route("/sandbox/api/orders/{no}", get_order, methods=["GET"]),
        Route("/sandbox/api/orders/{no}/close", close_order, methods=["POST"]),
        Route("/sandbox/api/refunds", create_refund, methods=["POST"]),
        Route("/sandbox/api/refunds/{no}", get_refund, methods=["GET"]),
        Route("/sandbox/api/splits", create_split, methods=["POST"]),
        Route("/sandbox/api/splits/{no}", get_split, methods=["GET"]),
        Route("/sandbox/api/splits/{no}/returns", return_split, methods=["POST"]),
        Route("/sandbox/pay/{no}", pay_page, methods=["GET"]),
        Route("/sandbox/pay/{no}", pay, methods=["POST"]),
    ]
