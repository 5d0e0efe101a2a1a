"""Heat map: cells kept incrementally, summing to the orders in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
import pytest

from app.adapters.discovery import heatmap as hm
from app.commands.geo import reconcile_orders
from app.infra.coords import convert
from app.models.geo import GeoOrderFact, HeatCell
from app.models.orders import Order
from tests.geo.factories import CENTRE, merchant, offset, paid_event, paid_order, refund, user

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
BOX = dict(south=31.0, west=121.2, north=31.5, east=121.8, coord_system="GCJ02")


async def _map(since, until, resolution=9):
    return await hm.heatmap(**BOX, resolution=resolution, since=since, until=until)


async def test_cells_sum_to_the_orders_in_the_window():
    c1, c2 = await user(), await user()
    a = await merchant(at=CENTRE)
    b = await merchant(at=offset(*CENTRE, north_m=2000, east_m=1500))
    far = await merchant(at=(39.915, 116.404))  # Beijing: outside the box
    orders = [
        await paid_order(a, c1, 1_000, T0 + timedelta(hours=1)),
        await paid_order(a, c2, 2_500, T0 + timedelta(hours=5, minutes=30)),
        await paid_order(b, c1, 4_000, T0 + timedelta(hours=2)),
        await paid_order(b, c2, 700, T0 + timedelta(days=3)),  # after the window
        await paid_order(a, c1, 900, T0 - timedelta(hours=1)),  # before it
        await paid_order(far, c1, 5_000, T0 + timedelta(hours=1)),
    ]
    # when asking for the first day over Shanghai
    h = await _map(T0, T0 + timedelta(days=1))
    # then the cells hold exactly the orders in the box and the window, hand-counted
    inside = [o for o in orders[:3]]
    assert h.total_orders == len(inside) == 3
    assert h.total_amount_fen == sum(o.amount_fen for o in inside) == 7_500
    wa = convert(float(a.lat), float(a.lng), "GCJ02", "WGS84")
    cell_a = h3.latlng_to_cell(*wa, 9)
    by_cell = {c.cell: c for c in h.cells}
    assert by_cell[cell_a].orders == 2 and by_cell[cell_a].amount_fen == 3_500
    # coarser cells roll the same orders up
    coarse = await _map(T0, T0 + timedelta(days=1), resolution=6)
    assert coarse.total_orders == 3 and coarse.total_amount_fen == 7_500
    assert all(h3.get_resolution(c.cell) == 6 for c in coarse.cells)
    # and a window of a single hour sees only that hour
    one = await _map(T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert (one.total_orders, one.total_amount_fen) == (1, 4_000)


async def test_refunds_take_back_and_repeated_hooks_count_once():
    c = await user()
    a = await merchant(at=CENTRE)
    o1 = await paid_order(a, c, 10_000, T0 + timedelta(hours=1))
    o2 = await paid_order(a, c, 3_000, T0 + timedelta(hours=1))
    from app.services import discovery as hooks

    await hooks.order_paid(o1)  # a retry: nothing more
    await hooks.on_order_events([paid_event(o1, a)])  # its event delivered again: nothing more
    await refund(o1, 4_000)  # partial: the order still counts, the amount shrinks
    await hooks.order_refunded(o1, 4_000)  # a retry of the same refund
    await refund(o2, 3_000)  # full: the order no longer counts
    h = await _map(T0, T0 + timedelta(days=1))
    assert (h.total_orders, h.total_amount_fen) == (1, 6_000)
    rows = await HeatCell.all().values("orders", "amount_fen")
    assert sum(r["orders"] for r in rows) == 1 and sum(r["amount_fen"] for r in rows) == 6_000


async def test_rebuild_reconciles_orders_the_hooks_missed():
    c = await user()
    a = await merchant(at=CENTRE)
    o1 = await paid_order(a, c, 1_000, T0 + timedelta(hours=1), hook=False)
    o2 = await paid_order(a, c, 2_000, T0 + timedelta(hours=1))
    await Order.filter(id=o2.id).update(refunded_fen=500, status="partially_refunded")
    assert await GeoOrderFact.filter(order_id=o1.id).count() == 0
    assert await reconcile_orders() == 2
    assert await reconcile_orders() == 0  # idempotent
    h = await _map(T0, T0 + timedelta(days=1))
    assert (h.total_orders, h.total_amount_fen) == (2, 2_500)


@pytest.mark.postgres
async def test_concurrent_hooks_of_one_order_count_it_once():
    import asyncio

    from app.services import discovery as hooks

    c = await user()
    a = await merchant(at=CENTRE)
    o = await paid_order(a, c, 2_000, T0 + timedelta(hours=1), hook=False)
    # when the hook of one payment runs several times at once, by both paths
    await asyncio.gather(
        *(
            hooks.on_order_events([paid_event(o, a)]) if i % 2 else hooks.order_paid(o)
            for i in range(6)
        )
    )
    # then the order is in the heat map once
    h = await _map(T0, T0 + timedelta(days=1))
    assert (h.total_orders, h.total_amount_fen) == (1, 2_000)
    assert await GeoOrderFact.filter(order_id=o.id).count() == 1


async def test_a_payment_through_mark_paid_reaches_map_heat_and_week_counter():
    from app.adapters.discovery import index
    from app.models.geo import MerchantTaskCounter
    from tests import factories as f

    m = await f.make_merchant(at=CENTRE)
    c = await f.make_user()
    # when an order is created and paid through the order domain
    o = await f.paid_order(c, m, 1_234)
    # then its hour's cell, the merchant's heat and its weekly counter all count it once
    h = await _map(o.paid_at - timedelta(hours=1), o.paid_at + timedelta(hours=1))
    assert (h.total_orders, h.total_amount_fen) == (1, 1_234)
    counter = await MerchantTaskCounter.get(merchant_id=m.id, metric="orders_served_week")
    assert counter.value == 1
    from app.infra.redis import get_redis

    assert float(await get_redis().hget(index.K_HEAT, str(m.id)) or 0) > 0


async def test_heat_is_measured_from_the_current_epoch_even_after_it_moved():
    import math

    from app.adapters.discovery import index
    from app.adapters.discovery.ranking import heat_weight
    from app.infra.redis import get_redis

    r = get_redis()
    paid = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    await r.set(index.K_HEAT_EPOCH, str(int(paid.timestamp()) - 3600))
    await index.add_heat(1, paid)  # this process now knows that epoch
    first = float(await r.hget(index.K_HEAT, "1"))
    assert math.isclose(first, heat_weight(paid.timestamp(), paid.timestamp() - 3600))
    # when a rebuild moves the epoch (and rewrites the sums) behind this process's back
    moved = paid.timestamp() + 7200
    await r.set(index.K_HEAT_EPOCH, str(int(moved)))
    await r.hset(index.K_HEAT, "1", str(heat_weight(paid.timestamp(), moved)))
    await index.add_heat(1, paid)
    # then the new order still counts as measured from the new epoch
    assert math.isclose(
        float(await r.hget(index.K_HEAT, "1")), 2 * heat_weight(paid.timestamp(), moved)
    )
    # and a refund takes back exactly what its order added
    await index.add_heat(1, paid, sign=-1)
    assert math.isclose(
        float(await r.hget(index.K_HEAT, "1")), heat_weight(paid.timestamp(), moved)
    )
