"""Consumption heat map (SPEC §8): paid orders and amounts per H3 cell per hour.

Kept incrementally: each paid order adds itself to one `HeatCell` row (its merchant's
cell at `BASE_RESOLUTION`, the hour it was paid) with an atomic upsert, and a refund
takes back what it removes, remembered per order in `GeoOrderFact`. A query sums
rows by cell over the window and rolls cells up to the asked resolution; orders are
never scanned at query time.

Cells are H3 on WGS-84 (true geography): merchant positions (GCJ-02) are converted
before indexing, and bounding boxes / cell centres convert at the edge.
Windows are whole hours: `since` is floored and `until` rounded up to the hour.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import h3
from tortoise import connections
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from app.infra.coords import CoordSystem, convert
from app.infra.errors import DomainError
from app.infra.sql import fetch
from app.models.geo import GeoOrderFact, HeatCell
from app.models.merchants import Merchant
from app.models.orders import Order

from .errors import DiscoveryErrorCode

BASE_RESOLUTION = 9  # ~0.1 km² hexagons
MIN_RESOLUTION = 4
MAX_PUBLIC_RESOLUTION = 8  # finer cells may isolate one shop: admins only
MAX_CELLS = 5000
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The window is counted in whole UTC hours: an instant at the calendar's ends, moved by
# its offset or rounded to the hour, would fall outside the calendar.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def week_period(at: datetime) -> str:
    y, w, _ = at.astimezone(SHANGHAI).isocalendar()
    return f"{y}-W{w:02d}"


def hour_of(at: datetime) -> int:
    return int(at.timestamp()) // 3600


def cell_of(gcj_lat: float, gcj_lng: float) -> str:
    wlat, wlng = convert(gcj_lat, gcj_lng, CoordSystem.GCJ02, CoordSystem.WGS84)
    return str(h3.latlng_to_cell(wlat, wlng, BASE_RESOLUTION))


_UPSERT_CELL = (
    "INSERT INTO geo_heat_cells (cell, hour, lat, lng, orders, amount_fen) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cell, hour) DO UPDATE SET "
    "orders = geo_heat_cells.orders + excluded.orders, "
    "amount_fen = geo_heat_cells.amount_fen + excluded.amount_fen"
)
_UPSERT_COUNTER = (
    "INSERT INTO geo_task_counters (merchant_id, metric, period, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (merchant_id, metric, period) DO UPDATE SET "
    "value = geo_task_counters.value + excluded.value RETURNING value"
)


async def bump_cell(conn: Any, cell: str, hour: int, orders: int, amount_fen: int) -> None:
    clat, clng = h3.cell_to_latlng(cell)
    await fetch(conn, _UPSERT_CELL, [cell, hour, clat, clng, orders, amount_fen])


async def bump_counter(conn: Any, merchant_id: int, metric: str, period: str, delta: int) -> int:
    rows = await fetch(conn, _UPSERT_COUNTER, [merchant_id, metric, period, delta])
    return int(rows[0]["value"])


@dataclass(frozen=True)
class Change:
    """What an order event changed: the caller updates Redis heat and task rewards."""

    merchant_id: int
    paid_at: datetime
    period: str
    orders_delta: int
    week_orders: int | None  # the merchant's orders served that week, after the change
    # the tasks already rewarded for that week, when the change read them (else unknown)
    rewarded: frozenset[str] | None = None


async def record_order(order_id: int) -> Change | None:
    """Bring the order's contribution in step with its row (paid, refunded): idempotent."""
    row = await Order.filter(id=order_id).values(
        "id", "merchant_id", "amount_fen", "refunded_fen", "paid_at"
    )
    if not row or row[0]["paid_at"] is None:
        return None
    o = row[0]
    async with in_transaction() as conn:
        fact = (
            await GeoOrderFact.filter(order_id=order_id).select_for_update().using_db(conn).first()
        )
        refunded = min(max(o["refunded_fen"], 0), o["amount_fen"])
        counted = refunded < o["amount_fen"]
        if fact is None:
            m = await Merchant.filter(id=o["merchant_id"]).using_db(conn).values("lat", "lng")
            cell = cell_of(float(m[0]["lat"]), float(m[0]["lng"]))
            paid_at = o["paid_at"]
            fact = await GeoOrderFact.create(
                order_id=order_id,
                merchant_id=o["merchant_id"],
                cell=cell,
                paid_at=paid_at,
                hour=hour_of(paid_at),
                period=week_period(paid_at),
                amount_fen=o["amount_fen"],
                refunded_fen=refunded,
                counted=counted,
                using_db=conn,
            )
            d_orders, d_amount = (1 if counted else 0), o["amount_fen"] - refunded
        else:
            d_orders = int(counted) - int(fact.counted)
            d_amount = fact.refunded_fen - refunded
            if d_orders == 0 and d_amount == 0:
                return None
            fact.refunded_fen, fact.counted = refunded, counted
            await fact.save(using_db=conn, update_fields=["refunded_fen", "counted"])
        await bump_cell(conn, fact.cell, fact.hour, d_orders, d_amount)
        week = None
        if d_orders:
            week = await bump_counter(
                conn, fact.merchant_id, "orders_served_week", fact.period, d_orders
            )
    return Change(fact.merchant_id, fact.paid_at, fact.period, d_orders, week)


# Newly paid orders' facts, heat cells and their merchants' weekly counters in one
# statement, from their `order.paid` events (`record_order` does the same in steps, from
# the order row, and handles every later change). Nothing is written for an order that
# has a fact already: its event delivered again, or a refund's event applied first.
# Read back with them: each merchant's count for the week after these orders and the
# tasks already rewarded that week, so a reward is looked up only when a threshold is
# newly in reach. Rows are locked in one order by every writer — cells (by cell and
# hour), then counters (by merchant and week: `geo_w` starts once `geo_c` is complete) —
# as `record_order` takes a cell before a counter, so concurrent batches and refunds
# queue and never deadlock.
_PAID_ORDERS = (
    "WITH v AS (SELECT DISTINCT ON (order_id) * FROM unnest(?::bigint[], ?::bigint[], "
    "?::text[], ?::timestamptz[], ?::bigint[], ?::text[], ?::bigint[], ?::float8[], "
    "?::float8[]) AS v(order_id, merchant_id, cell, paid_at, hour, period, amount_fen, "
    "lat, lng) ORDER BY order_id), "
    "geo_f AS (INSERT INTO geo_order_facts (order_id, merchant_id, cell, paid_at, hour, "
    "period, amount_fen, refunded_fen, counted, created_at) "
    "SELECT order_id, merchant_id, cell, paid_at, hour, period, amount_fen, 0, TRUE, "
    "?::timestamptz FROM v ORDER BY order_id ON CONFLICT (order_id) DO NOTHING "
    "RETURNING order_id, merchant_id, cell, hour, period, amount_fen), "
    "geo_c AS (INSERT INTO geo_heat_cells (cell, hour, lat, lng, orders, amount_fen) "
    "SELECT f.cell, f.hour, min(v.lat), min(v.lng), count(*), sum(f.amount_fen)::bigint "
    "FROM geo_f f JOIN v USING (order_id) GROUP BY f.cell, f.hour ORDER BY f.cell, f.hour "
    "ON CONFLICT (cell, hour) DO UPDATE SET orders = geo_heat_cells.orders + excluded.orders, "
    "amount_fen = geo_heat_cells.amount_fen + excluded.amount_fen RETURNING 1), "
    "geo_w AS (INSERT INTO geo_task_counters (merchant_id, metric, period, value) "
    "SELECT merchant_id, 'orders_served_week', period, count(*) FROM geo_f "
    "WHERE (SELECT count(*) FROM geo_c) >= 0 GROUP BY merchant_id, period "
    "ORDER BY merchant_id, period ON CONFLICT (merchant_id, metric, period) DO UPDATE SET "
    "value = geo_task_counters.value + excluded.value RETURNING merchant_id, period, value) "
    "SELECT f.order_id, w.value AS week, (SELECT string_agg(r.task_code, ',') "
    "FROM geo_task_rewards r WHERE r.merchant_id = w.merchant_id AND r.period = w.period) "
    "AS rewarded FROM geo_f f JOIN geo_w w USING (merchant_id, period)"
)


@dataclass(frozen=True)
class PaidOrder:
    """What an `order.paid` event tells the heat map."""

    order_id: int
    merchant_id: int
    amount_fen: int
    paid_at: datetime
    merchant_lat: float
    merchant_lng: float


@functools.lru_cache(maxsize=65_536)
def _cell_at(gcj_lat: float, gcj_lng: float) -> tuple[str, float, float]:
    """A merchant's cell and the cell's centre (a shop pays from where it stands)."""
    cell = cell_of(gcj_lat, gcj_lng)
    clat, clng = h3.cell_to_latlng(cell)
    return cell, clat, clng


async def record_paid(orders: Sequence[PaidOrder]) -> list[Change]:
    """`record_order` for orders just paid, in one statement: a change for each order
    that had no fact yet (the others are left out)."""
    if not orders:
        return []
    cells = [_cell_at(o.merchant_lat, o.merchant_lng) for o in orders]
    periods = [week_period(o.paid_at) for o in orders]
    rows = await fetch(
        connections.get("default"),
        _PAID_ORDERS,
        [
            [o.order_id for o in orders],
            [o.merchant_id for o in orders],
            [c[0] for c in cells],
            [o.paid_at for o in orders],
            [hour_of(o.paid_at) for o in orders],
            periods,
            [o.amount_fen for o in orders],
            [c[1] for c in cells],
            [c[2] for c in cells],
            datetime.now(UTC),
        ],
    )
    new = {int(r["order_id"]): r for r in rows}
    changes = []
    for o, period in zip(orders, periods, strict=True):
        row = new.pop(o.order_id, None)  # (an order given twice counts once)
        if row is None:
            continue
        done = row["rewarded"]
        rewarded = frozenset(done.split(",")) if done else frozenset()
        changes.append(Change(o.merchant_id, o.paid_at, period, 1, int(row["week"]), rewarded))
    return changes


@dataclass(frozen=True)
class Cell:
    cell: str
    lat: float  # centre, in the asked output system
    lng: float
    orders: int
    amount_fen: int


@dataclass(frozen=True)
class Heatmap:
    resolution: int
    since: datetime
    until: datetime
    cells: list[Cell]

    @property
    def total_orders(self) -> int:
        return sum(c.orders for c in self.cells)

    @property
    def total_amount_fen(self) -> int:
        return sum(c.amount_fen for c in self.cells)


async def heatmap(
    *,
    south: float,
    west: float,
    north: float,
    east: float,
    coord_system: CoordSystem | str,
    resolution: int,
    since: datetime,
    until: datetime | None = None,
    output: CoordSystem | str = CoordSystem.GCJ02,
    max_resolution: int = BASE_RESOLUTION,
) -> Heatmap:
    if not MIN_RESOLUTION <= resolution <= max_resolution:
        raise DomainError(
            "INVALID",
            f"resolution must be between {MIN_RESOLUTION} and {max_resolution}",
            "resolution",
        )
    if not (south < north and west < east):
        raise DomainError(DiscoveryErrorCode.INVALID_LOCATION, "empty bounding box", "bbox")
    until = until or datetime.now(UTC)
    if since.tzinfo is None or until.tzinfo is None:
        raise DomainError("INVALID", "since and until need a time zone", "since")
    for name, at in (("since", since), ("until", until)):
        if not EARLIEST <= at <= LATEST:
            raise DomainError("INVALID", f"{name} is outside the calendar", name)
    if since >= until:
        raise DomainError("INVALID", "since must be before until", "since")
    s, w = convert(south, west, coord_system, CoordSystem.WGS84)
    n, e = convert(north, east, coord_system, CoordSystem.WGS84)
    h0, h1 = hour_of(since), -(-int(until.timestamp()) // 3600)
    rows = (
        await HeatCell.filter(
            hour__gte=h0, hour__lt=h1, lat__gte=s, lat__lte=n, lng__gte=w, lng__lte=e
        )
        .group_by("cell")
        .annotate(n=Sum("orders"), amt=Sum("amount_fen"))
        .values("cell", "n", "amt")
    )
    acc: dict[str, list[int]] = {}
    for r in rows:
        key = (
            r["cell"] if resolution == BASE_RESOLUTION else h3.cell_to_parent(r["cell"], resolution)
        )
        a = acc.setdefault(key, [0, 0])
        a[0] += int(r["n"] or 0)
        a[1] += int(r["amt"] or 0)
    cells = []
    for key, (orders, amount) in sorted(acc.items()):
        if orders == 0 and amount == 0:
            continue
        clat, clng = h3.cell_to_latlng(key)
        olat, olng = convert(clat, clng, CoordSystem.WGS84, output)
        cells.append(Cell(key, olat, olng, orders, amount))
    if len(cells) > MAX_CELLS:
        raise DomainError(
            DiscoveryErrorCode.AREA_TOO_LARGE,
            f"more than {MAX_CELLS} cells: use a coarser resolution or a smaller box",
            "resolution",
        )
    return Heatmap(
        resolution=resolution,
        since=datetime.fromtimestamp(h0 * 3600, UTC),
        until=datetime.fromtimestamp(h1 * 3600, UTC),
        cells=cells,
    )
