"""The order's hand-written SQL: the facts an order's creation reads, the insert with
its event (and a row written along, the first payment), the row lock, the payment's read
of who stands around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.queryset import QuerySet

from app.domain.orders.rules import PAID_STATES, SHANGHAI, _counter_key
from app.domain.settlement import Surroundings
from app.infra import outbox, sql
from app.infra.orm import from_row
from app.models.orders import Order, OrderOrigin, OrderStatus
from app.models.payments import CHANNEL_TABLE

# The order's key, the merchant, whether the buyer staffs it, the buyer's openid and
# the merchant's payment channels (`CHANNEL_TABLE`, one row each): everything an
# order's creation reads before it writes, in one round trip.
_ORDER_FACTS = (
    "SELECT m.status, m.owner_id, m.discount_bps, "
    "EXISTS (SELECT 1 FROM merchant_staff s WHERE s.merchant_id = m.id AND s.user_id = ?) "
    "AS staff, "
    "(SELECT o.id FROM orders o WHERE o.consumer_id = ? AND o.idempotency_key = ?) "
    "AS existing, (SELECT u.wechat_openid FROM users u WHERE u.id = ?) AS openid, "
    "c.kind, c.channel, c.flag, c.text, c.priority, c.id "
    "FROM (SELECT 1 AS one) AS x LEFT JOIN merchants m ON m.id = ? "
    f"LEFT JOIN ({CHANNEL_TABLE}) AS c ON 1 = 1 ORDER BY c.kind, c.priority, c.id"
)


@dataclass(frozen=True)
class Along:
    """A row written in the order's own INSERT statement (PostgreSQL: a data-modifying
    CTE named `p` after `o AS (INSERT INTO orders ... RETURNING *)`, returning `id` and
    `out_trade_no`), with its parameters in order: the first payment of a new order."""

    cte: str
    values: list[Any]


# `order.created`'s subject and payload, as SQL over the new row `o` (`_created_payload`
# in Python: the same keys)
_CREATED_SUBJECT = "'order:' || o.id"


_CREATED_PAYLOAD = (
    "jsonb_build_object('order_id', o.id, 'consumer_id', o.consumer_id, 'merchant_id', "
    "o.merchant_id, 'amount_fen', o.amount_fen, 'voucher_fen', o.voucher_fen, 'cash_fen', "
    "o.cash_fen, 'channel', o.channel, 'status', o.status)"
)


def _created_payload(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "consumer_id": order.consumer_id,
        "merchant_id": order.merchant_id,
        "amount_fen": order.amount_fen,
        "voucher_fen": order.voucher_fen,
        "cash_fen": order.cash_fen,
        "channel": order.channel,
        "status": str(order.status),  # a counter order's is `unconfirmed`
    }


async def _insert_order(
    row: dict[str, Any], conn: Any, along: Along | None, created: outbox.Event
) -> tuple[Order, tuple[int, str] | None]:
    """A new order row (hand-written: this runs for every order) and its `created`
    event, in one statement; the row `along` goes in it too (then its id and
    out_trade_no come back with the order)."""
    values = {"status": OrderStatus.CREATED.value, "origin": OrderOrigin.APP.value, **row,
              "refunded_fen": 0, "created_at": datetime.now(UTC)}  # fmt: skip
    insert = f"INSERT INTO orders ({', '.join(values)}) VALUES ({sql.marks(len(values))})"
    event_sql, event_values = outbox.derived_insert(
        created, _CREATED_SUBJECT, _CREATED_PAYLOAD, "o"
    )
    if along is None:
        found = await sql.fetch(
            conn,
            f"WITH o AS ({insert} RETURNING *), ev AS ({event_sql}) SELECT o.* FROM o",
            [*values.values(), *event_values],
        )
        return from_row(Order, found[0]), None
    found = await sql.fetch(
        conn,
        f"WITH o AS ({insert} RETURNING *), {along.cte}, ev AS ({event_sql}) "
        "SELECT o.*, p.id AS _along, p.out_trade_no AS _along_trade_no FROM o, p",
        [*values.values(), *along.values, *event_values],
    )
    return from_row(Order, found[0]), (found[0]["_along"], found[0]["_along_trade_no"])


async def _lock_order(order_id: int, conn: Any) -> Order | None:
    """The order row, locked to the end of the transaction (written by hand: the ORM's
    query building was a visible share of every payment)."""
    rows = await sql.fetch(conn, "SELECT * FROM orders WHERE id = ? FOR UPDATE", [order_id])
    return from_row(Order, rows[0]) if rows else None


async def _order_facts(
    consumer_id: int, merchant_id: int, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The facts (first row) and the merchant's channel table rows."""
    rows = await sql.fetch(
        connections.get("default"),
        _ORDER_FACTS,
        [consumer_id, consumer_id, key, consumer_id, merchant_id, merchant_id],
    )
    return rows[0], [r for r in rows if r["kind"] is not None]


async def counter_order_by_key(opened_by: str, idempotency_key: str) -> Order | None:
    """The counter order this opener made under this key, if any."""
    return await Order.get_or_none(counter_key=_counter_key(opened_by, idempotency_key))


def paid_on(merchant_id: int, day: date) -> QuerySet[Order]:
    """A store's orders paid on one day (Asia/Shanghai), refunded since or not."""
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return Order.filter(
        merchant_id=merchant_id,
        status__in=PAID_STATES,
        paid_at__gte=start,
        paid_at__lt=start + timedelta(days=1),
    )


@dataclass(frozen=True)
class _PaidMerchant:
    """What a payment needs of its merchant: lot recruiter, map position."""

    recruiter_user_id: int | None
    lat: float
    lng: float


# The order row, with who stands around its payment (two inviter levels, the bound
# store, the agents in office for the merchant's province, city and district) and its
# merchant, in one round trip: one row per agent found (at least one). The joined
# columns carry a `_` prefix, apart from the order's own.
_PAYING = (
    "SELECT o.*, u.inviter_id AS _i1, u2.inviter_id AS _i2, "
    "(SELECT b.merchant_id FROM consumer_bindings b WHERE b.consumer_id = o.consumer_id) "
    "AS _bound, m.recruiter_user_id AS _recruiter, m.lat AS _lat, m.lng AS _lng, "
    "a.id AS _agent, a.level AS _level "
    "FROM orders o JOIN users u ON u.id = o.consumer_id "
    "LEFT JOIN users u2 ON u2.id = u.inviter_id "
    "JOIN merchants m ON m.id = o.merchant_id "
    "LEFT JOIN agents a ON a.ended_at IS NULL AND ((a.level = 'province' "
    "AND a.region_code = substr(m.region_code, 1, 2) || '0000') "
    "OR (a.level = 'city' AND a.region_code = substr(m.region_code, 1, 4) || '00') "
    "OR (a.level = 'district' AND a.region_code = m.region_code)) "
    "WHERE o.id = ?"
)


async def _paying(
    order_id: int, conn: Any, *, lock: bool
) -> tuple[Order | None, Surroundings | None, _PaidMerchant | None]:
    """`_PAYING`, its order row locked to the end of the transaction when `lock`."""
    rows = await sql.fetch(conn, _PAYING + (" FOR UPDATE OF o" if lock else ""), [order_id])
    if not rows:
        return None, None, None
    row = rows[0]
    around = Surroundings(
        inviters=tuple(int(i) for i in (row["_i1"], row["_i2"]) if i is not None),
        bound_merchant_id=row["_bound"],
        agents=tuple(sorted((r["_level"], r["_agent"]) for r in rows if r["_agent"] is not None)),
    )
    merchant = _PaidMerchant(row["_recruiter"], float(row["_lat"]), float(row["_lng"]))
    return from_row(Order, row), around, merchant
