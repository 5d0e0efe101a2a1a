"""What an order moves in the ledger: the postings of a payment and a refund, and the
payment's guard.
"""

from __future__ import annotations

from typing import Any

from app.domain import ledger
from app.domain.ledger import Guard, In, Post, acct
from app.domain.orders.rules import _delta
from app.domain.settlement import Party, SettlementPlan
from app.models.ledger import Account, Asset
from app.models.orders import Order, OrderStatus


def _unpaid(order_id: int) -> Guard:
    """The order's row while it is unpaid: the guard of its payment's statement."""
    return Guard(
        "orders", order_id, (In("status", (OrderStatus.CREATED.value, OrderStatus.PAYING.value)),)
    )


def _party_target(p: Party) -> tuple[ledger.AccountName, ledger.AccountName | None]:
    """Where a party's CNY share goes, and the VOUCHER account it is paid into (if any)."""
    if p.kind == "platform":
        return acct.PLATFORM_REVENUE, None
    if p.kind == "agent":
        return acct.agent_payable(int(p.id)), None
    if p.kind == "pool":
        return acct.pool_available(str(p.id)), None
    if p.kind == "inviter":
        return acct.VOUCHER_RESERVE, acct.consumer_voucher(int(p.id))
    if p.kind == "bound_merchant":
        return acct.VOUCHER_RESERVE, acct.merchant_voucher(int(p.id))
    raise ValueError(f"unknown party {p.kind}")


def _payment_postings(order: Order, plan: SettlementPlan) -> list[Post]:
    """Cash in, vouchers retired, D split into pending shares, points and coins issued."""
    uid, mid = order.consumer_id, order.merchant_id
    transit = acct.ORDER_TRANSIT
    out = [
        Post(acct.channel_clearing(order.channel), transit, plan.cash_fen),
        Post(acct.VOUCHER_RESERVE, transit, plan.voucher_fen),
        Post(acct.consumer_voucher_held(uid), acct.issuer(Asset.VOUCHER), plan.voucher_fen),
        Post(transit, acct.merchant_payable(mid), plan.merchant_fen),
    ]
    for p in plan.parties:
        cny, voucher = _party_target(p)
        out.append(Post(transit, acct.pending(cny), p.fen))
        if voucher is not None:
            out.append(Post(acct.issuer(Asset.VOUCHER), acct.pending(voucher), p.fen))
    out += [
        Post(acct.issuer(Asset.POINTS), acct.consumer_points(uid, "pending"), plan.consumer_points),
        Post(acct.issuer(Asset.POINTS), acct.merchant_points(mid, "pending"), plan.merchant_points),
        Post(acct.issuer(Asset.GOLD_COINS), acct.consumer_gold_coins(uid), plan.gold_coins),
    ]
    return [p for p in out if p.amount]


async def _refund_postings(
    order: Order, plan: SettlementPlan, before: int, after: int, conn: Any
) -> list[Post]:
    uid, mid = order.consumer_id, order.merchant_id
    a, transit = plan.amount_fen, acct.ORDER_TRANSIT
    # The consumer gets exactly the amount refunded: cash in proportion (the cumulative
    # share_of, as the channel refund in app/services/refunds.py), the rest in vouchers.
    cash_back = _delta(plan.cash_fen, before, after, a)
    vouchers_back = (after - before) - cash_back
    out = [
        Post(transit, acct.channel_clearing(order.channel), cash_back),
        Post(transit, acct.VOUCHER_RESERVE, vouchers_back),
        Post(acct.issuer(Asset.VOUCHER), acct.consumer_voucher(uid), vouchers_back),
    ]
    # The merchant and every party give back their share of it, apportioned so that the
    # shares add up to it exactly and no step takes back more than a share has left.
    shares_before, shares_after = plan.refunded_shares(before), plan.refunded_shares(after)
    merchant_back = shares_after[0] - shares_before[0]
    for p, was, now in zip(plan.parties, shares_before[1:], shares_after[1:], strict=True):
        back = now - was
        cny, voucher = _party_target(p)
        out.append(Post(acct.pending(cny), transit, back))
        if voucher is not None:
            out.append(Post(acct.pending(voucher), acct.issuer(Asset.VOUCHER), back))
    out.append(Post(acct.merchant_payable(mid), transit, merchant_back))
    for holder, pts in (
        (acct.consumer_points(uid, "pending"), plan.consumer_points),
        (acct.merchant_points(mid, "pending"), plan.merchant_points),
    ):
        out.append(Post(holder, acct.issuer(Asset.POINTS), _delta(pts, before, after, a)))
    coins = _delta(plan.gold_coins, before, after, a)
    if coins:
        # Coins were credited at once and may be spent: take back what is there; the
        # rest is the platform's loss, never a negative user balance (SPEC §11).
        have = await _balance(acct.consumer_gold_coins(uid), conn)
        out.append(
            Post(acct.consumer_gold_coins(uid), acct.issuer(Asset.GOLD_COINS), min(coins, have))
        )
    return [p for p in out if p.amount]


async def _balance(name: ledger.AccountName, conn: Any) -> int:
    row = await Account.filter(name=name.name, asset=name.asset).using_db(conn).values("balance")
    return int(row[0]["balance"]) if row else 0
