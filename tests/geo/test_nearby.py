"""Nearby merchants: index in step with merchants, radius edges, ranking, pagination."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from app.adapters.discovery import index
from app.adapters.discovery.ranking import WEIGHTS
from app.domain.policy import get_policy
from app.infra.coords import convert
from app.infra.redis import get_redis
from app.models.merchants import MerchantStatus
from app.services import discovery as hooks
from app.services.discovery import nearby
from tests.geo.factories import CENTRE, merchant, offset, paid_order, user


def ids(page):
    return [x.merchant_id for x in page.items]


async def test_radius_edges_just_inside_and_just_outside():
    # given merchants 2,999 m away (north and west) and 3,001 m away (east)
    inside = await merchant(at=offset(*CENTRE, north_m=2999))
    outside = await merchant(at=offset(*CENTRE, east_m=3001))
    west = await merchant(at=offset(*CENTRE, east_m=-2999))
    # when searching 3 km around the centre
    page = await nearby(*CENTRE, radius_m=3000)
    # then only the two inside are found, with their distances
    assert sorted(ids(page)) == sorted([inside.id, west.id])
    dist = {x.merchant_id: x.distance_m for x in page.items}
    assert abs(dist[inside.id] - 2999) < 1.0  # Redis stores 52-bit geohashes: < 1 m
    assert outside.id not in dist
    # and a 3,002 m radius takes the outside one in
    assert outside.id in ids(await nearby(*CENTRE, radius_m=3002))


async def test_suspended_merchant_leaves_and_reapproved_enters_at_once():
    m = await merchant(at=offset(*CENTRE, north_m=100))
    assert ids(await nearby(*CENTRE)) == [m.id]
    # when it is suspended (the merchant domain calls the hook after commit)
    m.status = MerchantStatus.SUSPENDED
    await m.save()
    await hooks.merchant_changed(m)
    # then it is gone from results and from the index
    assert ids(await nearby(*CENTRE)) == []
    assert await get_redis().hget(index.K_FEAT, str(m.id)) is None
    # and approved again, it is back
    m.status = MerchantStatus.APPROVED
    await m.save()
    await hooks.merchant_changed(m)
    assert ids(await nearby(*CENTRE)) == [m.id]


async def test_moved_merchant_leaves_old_area_and_enters_new():
    m = await merchant(at=offset(*CENTRE, north_m=500), category="food")
    far = offset(*CENTRE, north_m=20_000)
    lat, lng = far
    from decimal import Decimal

    m.lat, m.lng = Decimal(f"{lat:.7f}"), Decimal(f"{lng:.7f}")
    m.category = "bar"
    await m.save()
    await hooks.merchant_changed(m)
    assert ids(await nearby(*CENTRE)) == []
    assert ids(await nearby(*CENTRE, category="food")) == []
    assert ids(await nearby(*far, category="bar")) == [m.id]
    assert ids(await nearby(*far)) == [m.id]


async def test_input_in_wgs84_and_bd09_finds_the_same_merchant_at_the_same_distance():
    m = await merchant(at=offset(*CENTRE, east_m=800))
    wgs = convert(*CENTRE, "GCJ02", "WGS84")
    bd = convert(*CENTRE, "GCJ02", "BD09")
    d = {}
    for system, point in (("GCJ02", CENTRE), ("WGS84", wgs), ("BD09", bd)):
        page = await nearby(*point, system)
        assert ids(page) == [m.id]
        d[system] = page.items[0].distance_m
    assert max(d.values()) - min(d.values()) < 1.0


async def test_ranking_of_a_hand_built_case():
    # given four merchants (discount cap of the policy: dmax)
    dmax = get_policy().merchant.discount_max_bps
    consumer = await user()
    near_plain = await merchant(at=offset(*CENTRE, north_m=200), discount_bps=300, rating_x100=300)
    far_generous = await merchant(
        at=offset(*CENTRE, north_m=1500), discount_bps=dmax, rating_x100=500
    )
    mid_hot = await merchant(at=offset(*CENTRE, east_m=800), discount_bps=500, rating_x100=400)
    for _ in range(10):
        await paid_order(mid_hot, consumer, 5_000)
    farthest = await merchant(at=offset(*CENTRE, east_m=-2500), discount_bps=300, rating_x100=450)
    # when ranking
    now = time.time()
    page = await nearby(*CENTRE, now=now)

    # then the order follows the documented score, computed here by hand
    def hand(dist, d_bps, rating, heat):
        w = WEIGHTS
        return (
            w.distance * math.exp(-dist / w.decay_m)
            + w.discount * min(d_bps / dmax, 1)
            + w.heat * (1 - math.exp(-heat / w.heat_scale))
            + w.rating * rating / 500
        )

    expected = {
        near_plain.id: hand(200, 300, 300, 0),
        far_generous.id: hand(1500, dmax, 500, 0),
        mid_hot.id: hand(800, 500, 400, 10),
        farthest.id: hand(2500, 300, 450, 0),
    }
    assert ids(page) == sorted(expected, key=lambda k: -expected[k])
    for x in page.items:
        assert abs(x.score - expected[x.merchant_id]) < 1e-3
        assert x.parts.boost == 0


async def test_pages_are_stable_while_scrolling_and_drop_a_suspended_merchant():
    ms = [await merchant(at=offset(*CENTRE, north_m=100 * i), name=f"m{i}") for i in range(1, 8)]
    first = await nearby(*CENTRE, first=3, owner="user:1")
    assert first.has_next and first.total == 7
    # meanwhile a new merchant opens right here and one on page 2 is suspended
    newcomer = await merchant(at=CENTRE, discount_bps=2000)
    second_page_expected = [ms[3].id, ms[4].id, ms[5].id]
    m = ms[4]
    m.status = MerchantStatus.SUSPENDED
    await m.save()
    await hooks.merchant_changed(m)
    second = await nearby(*CENTRE, first=3, after=first.items[-1].position, owner="user:1")
    # then page 2 continues the first page's order, without the newcomer or the suspended
    assert ids(second) == [ms[3].id, ms[5].id]
    assert newcomer.id not in ids(first) + ids(second)
    assert second_page_expected[1] == m.id
    third = await nearby(*CENTRE, first=3, after=second.items[-1].position, owner="user:1")
    assert ids(third) == [ms[6].id] and not third.has_next


async def test_an_expired_snapshot_falls_back_to_the_cursor_position():
    ms = [await merchant(at=offset(*CENTRE, north_m=100 * i)) for i in range(1, 6)]
    first = await nearby(*CENTRE, first=2, owner="user:1")
    keys = [k async for k in get_redis().scan_iter(match="geo:v1:snap:*")]
    await get_redis().delete(*keys)
    second = await nearby(*CENTRE, first=2, after=first.items[-1].position, owner="user:1")
    assert ids(second) == [ms[2].id, ms[3].id]


async def test_rebuild_restores_a_lost_index():
    a = await merchant(at=offset(*CENTRE, north_m=300), category="food")
    b = await merchant(at=offset(*CENTRE, north_m=600), category="bar")
    await merchant(at=offset(*CENTRE, north_m=900), status=MerchantStatus.PENDING)
    consumer = await user()
    await paid_order(a, consumer, 1000, datetime.now(UTC) - timedelta(hours=1))
    before = await nearby(*CENTRE)
    r = get_redis()
    keys = [k async for k in r.scan_iter(match="geo:v1:*")]
    await r.delete(*keys)
    # a wiped Redis: the first query rebuilds it from the database
    assert ids(await nearby(*CENTRE)) == ids(before)
    counts = await index.rebuild()
    assert counts["merchants"] == 2 and counts["categories"] == 2
    after = await nearby(*CENTRE)
    assert ids(after) == ids(before) == [a.id, b.id]
    assert abs(after.items[0].parts.heat - before.items[0].parts.heat) < 1e-6
    assert ids(await nearby(*CENTRE, category="bar")) == [b.id]


async def test_a_change_in_the_feed_is_applied_by_the_next_search():
    ms = [await merchant(at=offset(*CENTRE, north_m=150 * i)) for i in range(1, 5)]
    now = time.time()
    a = await nearby(*CENTRE, now=now)
    # a change waiting in the feed is applied by the next search's one script
    m = ms[1]
    m.status = MerchantStatus.SUSPENDED
    await m.save()
    await hooks.merchant_changed(m)
    b = await nearby(*CENTRE, now=now)
    c = await nearby(*CENTRE, now=now)
    assert ids(a) == [x.id for x in ms]
    assert ids(b) == ids(c) == [ms[0].id, ms[2].id, ms[3].id]
    assert [x.distance_m for x in b.items] == [x.distance_m for x in c.items]
