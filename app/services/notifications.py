"""`POST /pay/notify/{channel}`: verify, store raw, apply exactly once, answer in the
provider's form.

What anyone can send is refused before anything is stored: an unknown channel (404,
`UNKNOWN_CHANNEL`) and a header that is not printable ASCII or is over
`MAX_HEADER_CHARS` (400, `MALFORMED_HEADER`) — no provider sends either. A notification
that fails verification is answered as the provider expects (or 400
`MALFORMED_NOTIFICATION` when the adapter cannot even read it) and its body is kept
only while the channel's budget of unverified bodies lasts
(`notify_unverified_stored_per_channel` per window: enough to see what a misconfigured
key or a probing client sends, never a store anyone can fill). A verified notification
is stored always, before it is applied.

Outcomes stored on the notification row:
- `applied`: this notification changed state (order paid, refund done)
- `duplicate`: already applied; answered success, nothing done
- `ignored`: verified but nothing to apply (e.g. a trade state that is not success)
- `rejected`: failed verification or does not match the payment; answered failure
- `retry`: cannot be applied yet (refund before its record, unknown order); answered
  failure so the provider delivers it again later
- `stray`: a verified payment its order could no longer take (closed meanwhile):
  answered success, the payment refunded whole at the channel (`refunds.refund_stray`)
- `conflict`: verified but contradicts our state otherwise; answered success and logged
  for operations, since redelivery cannot fix it
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from app.adapters.payments import registry
from app.adapters.payments.base import ChannelError, Notice, NotificationRejected, NotifyReply
from app.infra import limits
from app.infra.errors import DomainError
from app.infra.i18n import language_of, translate
from app.models.payments import (
    ChannelRefund,
    Payment,
    PaymentNotification,
    RefundStatus,
    SplitStatus,
)
from app.services.payments import apply_paid

log = logging.getLogger("app.adapters.payments")

_DROP_HEADERS = {"authorization", "cookie"}


@dataclass
class NotifyOutcome:
    reply: NotifyReply
    outcome: str
    split_payment_id: int | None = None


async def handle_notification(channel: str, headers: dict[str, str], body: bytes) -> NotifyOutcome:
    try:
        adapter = registry.get_channel(channel)
    except ChannelError:
        return _refused(404, "UNKNOWN_CHANNEL", "unknown channel", headers)
    if any(_malformed(name, value) for name, value in headers.items()):
        return _refused(
            400, "MALFORMED_HEADER", "a header is not printable ASCII or too long", headers
        )
    try:
        notice = await adapter.parse_notification(headers, body)
    except NotificationRejected as rej:
        await _keep_rejected(channel, headers, body, rej.reason)
        return NotifyOutcome(adapter.reply(False, rej.reason), "rejected")
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        # an adapter tripping over a field it could not read: the sender's mistake
        await _keep_rejected(channel, headers, body, "malformed notification")
        return _refused(
            400, "MALFORMED_NOTIFICATION", "the notification could not be read", headers
        )
    row = await PaymentNotification.create(
        channel=channel,
        headers=_stored_headers(headers),
        body=_stored_body(body),
        verified=True,
        kind=notice.kind,
        out_trade_no=notice.out_trade_no[:64],
    )
    try:
        if notice.kind == "payment":
            outcome, reason, split_id = await _apply_payment(channel, notice, row)
        else:
            outcome, reason = await _apply_refund(channel, notice, row)
            split_id = None
    except Exception:
        log.exception("%s notification %s could not be applied", channel, row.id)
        await _finish(row, "retry", "internal error while applying")
        return NotifyOutcome(adapter.reply(False, "retry later"), "retry")
    await _finish(row, outcome, reason)
    ok = outcome in {"applied", "duplicate", "ignored", "conflict", "stray"}
    if outcome in {"rejected", "conflict"}:
        log.warning("%s notification %s %s: %s", channel, row.id, outcome, reason)
    return NotifyOutcome(
        adapter.reply(ok, ("retry later: " if outcome == "retry" else "") + reason),
        outcome,
        split_id,
    )


MAX_HEADER_CHARS = 2048


def _malformed(name: str, value: str) -> bool:
    if name.lower() in _DROP_HEADERS:
        return False
    return len(value) > MAX_HEADER_CHARS or not (value.isascii() and value.isprintable())


def _refused(status: int, code: str, message: str, headers: dict[str, str]) -> NotifyOutcome:
    # No provider speaks here, so no provider's form: the JSON error of any route.
    language = language_of(headers.get("accept-language"))
    body = orjson.dumps({"code": code, "message": translate(message, language)})
    return NotifyOutcome(NotifyReply(status, body, "application/json"), "rejected")


def _stored_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v[:512] for k, v in headers.items() if k.lower() not in _DROP_HEADERS}


def _stored_body(body: bytes) -> str:
    # (PostgreSQL text holds no NUL)
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def _keep_rejected(channel: str, headers: dict[str, str], body: bytes, reason: str) -> None:
    """An unverified notification's body, while the channel's budget for them lasts."""
    log.info("%s notification rejected: %s", channel, reason)
    if await limits.within(limits.unverified_notification_budget(channel)):
        await PaymentNotification.create(
            channel=channel,
            headers=_stored_headers(headers),
            body=_stored_body(body),
            outcome="rejected",
            reason=reason[:255],
        )


async def _finish(row: PaymentNotification, outcome: str, reason: str) -> None:
    row.outcome = outcome
    row.reason = reason[:255]
    await row.save()


async def _apply_payment(
    channel: str, notice: Notice, row: PaymentNotification
) -> tuple[str, str, int | None]:
    row.ref = (notice.channel_txn_id or "")[:64] or None
    payment = await Payment.get_or_none(out_trade_no=notice.out_trade_no)
    if payment is None:
        return "retry", "no payment with this out_trade_no (yet)", None
    row.order_id = payment.order_id
    if payment.channel != channel:
        return "rejected", "payment belongs to another channel", None
    if not notice.paid:
        return "ignored", "trade not successful", None
    if not notice.channel_txn_id:
        return "rejected", "no transaction id", None
    if notice.amount_fen is None or notice.amount_fen != payment.amount_fen:
        return "rejected", "amount mismatch", None
    try:
        outcome = await apply_paid(payment, notice.channel_txn_id, notice.amount_fen)
    except DomainError as exc:
        if exc.code == "AMOUNT_MISMATCH":
            return "rejected", "amount mismatch", None
        return "conflict", f"{exc.code}: {exc.message}", None
    if outcome == "stray":
        return "stray", "the order no longer takes payments: refunded in full", None
    if outcome == "applied":
        fresh = await Payment.get(id=payment.id)
        split = fresh.id if fresh.split_status == SplitStatus.PENDING else None
        return "applied", "order paid", split
    return "duplicate", "already applied", None


async def _apply_refund(channel: str, notice: Notice, row: PaymentNotification) -> tuple[str, str]:
    row.ref = (notice.out_refund_no or "")[:64] or None
    refund = await ChannelRefund.get_or_none(refund_key=notice.out_refund_no or "")
    if refund is None:
        # A refund we have not recorded (yet): out of order; let the provider retry.
        return "retry", "refund not known (yet)"
    payment = await Payment.get(id=refund.payment_id)
    row.order_id = payment.order_id
    if payment.channel != channel or payment.out_trade_no != notice.out_trade_no:
        return "rejected", "refund does not belong to this payment"
    if notice.refund_fen is not None and notice.refund_fen != refund.amount_fen:
        return "rejected", "refund amount mismatch"
    if refund.status in (RefundStatus.SUCCESS, RefundStatus.FAILED):
        return "duplicate", "already applied"
    if notice.refund_status == "processing":
        return "ignored", "refund still processing"
    new = RefundStatus.SUCCESS if notice.refund_status == "success" else RefundStatus.FAILED
    won = (
        await ChannelRefund.filter(id=refund.id)
        .exclude(status__in=[RefundStatus.SUCCESS, RefundStatus.FAILED])
        .update(status=new, done_at=datetime.now(UTC))
    )
    if not won:
        return "duplicate", "already applied"
    if new == RefundStatus.FAILED:
        log.warning("refund %s failed at %s: needs operations", refund.id, channel)
    return "applied", f"refund {new}"
