"""The merchant dashboard (SPEC §8): sales, orders, customers, repurchase, points,
vouchers, per day, over a date range in Asia/Shanghai days (both ends included).

An order counts on the day it was paid, unless fully refunded; its sales are
`amount_fen - refunded_fen`. A customer is *new* if their first counted order at this
merchant ever falls in the range, otherwise *returning*. The repurchase rate is the
share of the range's customers with two or more counted orders in it (bps).
"Points issued" are the points of the consumer lots those orders created (cancelled
lots excluded); "vouchers redeemed" the voucher part of those orders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise.functions import Min

from app.infra.config import get_settings
from app.infra.errors import NotFound, PermissionDenied
from app.infra.inputs import date_range
from app.models.merchants import Merchant, MerchantStaff
from app.models.orders import HolderKind, LotStatus, Order, OrderStatus, PointLot

from .heatmap import SHANGHAI

COUNTED = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class Day:
    day: date
    sales_fen: int
    orders: int
    customers: int


@dataclass(frozen=True)
class MerchantStats:
    merchant_id: int
    date_from: date
    date_to: date
    sales_fen: int
    orders: int
    customers: int
    new_customers: int
    returning_customers: int
    repurchase_rate_bps: int
    points_issued: int  # centi-points, to consumers
    vouchers_redeemed_fen: int
    daily: list[Day]


async def can_read_stats(merchant_id: int, user_id: int, role: str) -> None:
    """Owner, staff and admins read a merchant's figures; nobody else."""
    if role == "admin":
        return
    m = await Merchant.filter(id=merchant_id).values("owner_id")
    if not m:
        raise NotFound("merchant", "merchantId")
    if m[0]["owner_id"] == user_id:
        return
    if role == "merchant_staff" and await MerchantStaff.exists(
        merchant_id=merchant_id, user_id=user_id
    ):
        return
    raise PermissionDenied("not your merchant", "merchantId")


async def merchant_stats(merchant_id: int, date_from: date, date_to: date) -> MerchantStats:
    date_range(date_from, date_to, get_settings().max_date_range_days, fields=("from", "to"))
    start = datetime(date_from.year, date_from.month, date_from.day, tzinfo=SHANGHAI)
    end = datetime(date_to.year, date_to.month, date_to.day, tzinfo=SHANGHAI) + timedelta(days=1)
    rows = await Order.filter(
        merchant_id=merchant_id, status__in=COUNTED, paid_at__gte=start, paid_at__lt=end
    ).values("id", "consumer_id", "amount_fen", "refunded_fen", "voucher_fen", "paid_at")

    per_day: dict[date, list] = defaultdict(lambda: [0, 0, set()])
    per_customer: dict[int, int] = defaultdict(int)
    sales = vouchers = 0
    for o in rows:
        net = o["amount_fen"] - o["refunded_fen"]
        sales += net
        vouchers += o["voucher_fen"]
        per_customer[o["consumer_id"]] += 1
        d = per_day[o["paid_at"].astimezone(SHANGHAI).date()]
        d[0] += net
        d[1] += 1
        d[2].add(o["consumer_id"])

    customers = set(per_customer)
    earlier: set[int] = set()
    if customers:
        firsts = (
            await Order.filter(
                merchant_id=merchant_id, status__in=COUNTED, consumer_id__in=list(customers)
            )
            .group_by("consumer_id")
            .annotate(first=Min("paid_at"))
            .values("consumer_id", "first")
        )
        earlier = {
            r["consumer_id"] for r in firsts if r["first"] is not None and r["first"] < start
        }
    repeaters = sum(1 for n in per_customer.values() if n >= 2)

    points = 0
    order_ids = [o["id"] for o in rows]
    for i in range(0, len(order_ids), 1000):
        lots = (
            await PointLot.filter(
                order_id__in=order_ids[i : i + 1000], holder_kind=HolderKind.CONSUMER
            )
            .exclude(status=LotStatus.CANCELLED)
            .values("points")
        )
        points += sum(int(x["points"]) for x in lots)

    daily = []
    day = date_from
    while day <= date_to:
        s, n, cs = per_day.get(day, (0, 0, set()))
        daily.append(Day(day=day, sales_fen=s, orders=n, customers=len(cs)))
        day += timedelta(days=1)
    return MerchantStats(
        merchant_id=merchant_id,
        date_from=date_from,
        date_to=date_to,
        sales_fen=sales,
        orders=len(rows),
        customers=len(customers),
        new_customers=len(customers - earlier),
        returning_customers=len(earlier),
        repurchase_rate_bps=(repeaters * 10_000 // len(customers)) if customers else 0,
        points_issued=points,
        vouchers_redeemed_fen=vouchers,
        daily=daily,
    )
