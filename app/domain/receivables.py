"""What a merchant owes the platform when a channel's split cap leaves part of D with it
(SPEC §9 "Split caps"), and how it is netted — inside the ledger, never moved outside
the channel.

The ledger credits the merchant `A − D` and the parties `D` whatever the channel does;
the plan behind that expects the channel to hand the platform `min(D, C)` of the cash
(the rest of D comes out of the voucher part the platform holds). When the channel's
cap lets the platform take only `P < min(D, C)`, the merchant keeps the difference at
the channel. That difference is recorded, once the order is settled and its split is
final, as a claim on the merchant:

    merchant:N:receivable → channel:<channel>:clearing      (the unsplit part)

`merchant:N:receivable` is a claim account (like a channel's clearing account): its
negative balance is what the merchant owes. It is netted when a later order of the
merchant settles, out of what the platform owes the merchant for it — the voucher part
the channel does not pay the merchant (`V − (D − min(D, C))`, what is left of it after
refunds):

    merchant:N:payable → merchant:N:receivable              (min(owed, still owed to us))

Amounts are integer fen. Refunds are mirrored exactly as the channel makes them: the
platform gives back `share_of(P, cash refunded, C)` of its split, so what is left
unsplit is `(m − share_of(m, r, C)) − (P − returned)` with `m = min(D, C)`.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.domain import ledger
from app.domain.ledger import Entry, Post, acct
from app.domain.settlement import SettlementPlan, share_of
from app.infra import sql
from app.infra.orm import from_row
from app.models.orders import Order
from app.models.payments import (
    ChannelRefund,
    Payment,
    PaymentStatus,
    RefundStatus,
    SplitStatus,
)

# split states after which the platform's channel share no longer changes
_SPLIT_FINAL = (SplitStatus.NONE, SplitStatus.FINISHED)


def _left(total: int, refunded: int, whole: int) -> int:
    return total - share_of(total, refunded, whole)


async def unsplit_fen(order: Order, conn: BaseDBAsyncClient) -> int | None:
    """What of the platform's planned channel share the cap left with the merchant,
    after refunds; None while the split may still change (not final yet)."""
    payment = await Payment.filter(order_id=order.id).using_db(conn).first()
    if payment is None:
        return 0  # paid wholly with vouchers: no channel, nothing split
    if payment.status != PaymentStatus.PAID:
        return None
    if payment.split_status not in _SPLIT_FINAL:
        return None
    planned = min(order.discount_fen, payment.amount_fen)
    refunds = (
        await ChannelRefund.filter(payment_id=payment.id)
        .exclude(status=RefundStatus.FAILED)
        .using_db(conn)
    )
    cash_refunded = sum(r.amount_fen for r in refunds)
    returned = sum(r.split_return_fen for r in refunds)
    kept_planned = _left(planned, cash_refunded, payment.amount_fen)
    return max(0, kept_planned - (payment.platform_fen - returned))


def owed_for_vouchers(plan: SettlementPlan, refunded_fen: int) -> int:
    """What the platform owes the merchant for a settled order beyond what the channel
    paid it: the voucher part, less what of D the plan takes from it, after refunds;
    never more than the merchant's share still on its payable account."""
    a = plan.amount_fen
    from_vouchers = plan.discount_fen - min(plan.discount_fen, plan.cash_fen)
    owed = _left(plan.voucher_fen, refunded_fen, a) - _left(from_vouchers, refunded_fen, a)
    merchant_left = plan.merchant_fen - plan.refunded_shares(refunded_fen)[0]
    return max(0, min(owed, merchant_left))


async def _owed_by_merchant(merchant_id: int, conn: BaseDBAsyncClient) -> int:
    """The merchant's debt, its claim account's row locked to the end of the
    transaction: two settlements at one merchant never net the same fen twice."""
    name = acct.merchant_receivable(merchant_id)
    rows = await sql.fetch(
        conn,
        "SELECT balance FROM ledger_accounts WHERE name = ? AND asset = ? FOR UPDATE",
        [name.name, name.asset.value],
    )
    return max(0, -int(rows[0]["balance"])) if rows else 0


async def netting(order: Order, plan: SettlementPlan, conn: BaseDBAsyncClient) -> list[Post]:
    """The postings that net the merchant's debt from what this order's settlement
    makes the platform owe it (to ride in the settlement's entry)."""
    owed = await _owed_by_merchant(order.merchant_id, conn)
    if not owed:
        return []
    net = min(owed, owed_for_vouchers(plan, order.refunded_fen))
    mid = order.merchant_id
    return [Post(acct.merchant_payable(mid), acct.merchant_receivable(mid), net)]


async def record(order: Order, conn: BaseDBAsyncClient) -> None:
    """Record a settled order's unsplit part as the merchant's debt, once (by key),
    when its split is final."""
    unsplit = await unsplit_fen(order, conn)
    if not unsplit:
        return
    await _owed_by_merchant(order.merchant_id, conn)  # the claim's lock first, as netting
    await ledger.post(
        Entry(
            "split_receivable",
            f"order:{order.id}",
            [
                Post(
                    acct.merchant_receivable(order.merchant_id),
                    acct.channel_clearing(order.channel),
                    unsplit,
                )
            ],
            idem_key=f"order:{order.id}:receivable",
        ),
        conn=conn,
    )


async def record_after_split(order_id: int) -> None:
    """A split that finished after its order settled: the settlement could not record
    the debt then (the split could still change), so it is recorded now."""
    async with in_transaction() as conn:
        rows = await sql.fetch(conn, "SELECT * FROM orders WHERE id = ? FOR UPDATE", [order_id])
        if not rows or rows[0]["settled_at"] is None:
            return  # settlement will record it
        await record(from_row(Order, rows[0]), conn)
