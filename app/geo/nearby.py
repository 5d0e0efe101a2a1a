"""Nearby merchants (SPEC §8): one GEOSEARCH, one batch read, ranked in memory.

1. The client's position is converted to GCJ-02 (what merchants are stored in).
2. One pipelined round trip: GEOSEARCH (up to `MAX_CANDIDATES` nearest ids within the
   radius + a few metres) and the change-feed entries this process has not applied yet
   (cache.py). Membership is always Redis's, fresh.
3. Distances are computed here from the stored coordinates (haversine on Redis's
   sphere), so the radius edge is decided identically on Redis and on the in-process
   stand-in; the score (ranking.py) comes from the process's in-memory inputs, which
   the change feed keeps exact. Ties break by id.
4. One more round trip: the page's display fields, and the full ranked id list kept
   under a random token for `SNAPSHOT_TTL_S`; later pages read it, so the order does
   not shift while the user scrolls. A merchant suspended meanwhile drops out of later
   pages at once. If the snapshot has expired, the ranking is recomputed and continues
   after the cursor's (score, id) position.

No database query on this path (except once, if this Redis never had an index: then the
first query builds it from the database).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from app.domain.policy import get_policy
from app.errors import DomainError
from app.redis import get_redis
from app.schema.pagination import decode_cursor, encode_cursor, page_size

from . import index
from .cache import BACKLOG, CACHE
from .coords import EARTH_RADIUS_M, CoordSystem, convert, haversine_m
from .errors import DiscoveryErrorCode
from .ranking import WEIGHTS, ScoreParts, heat_now

DEFAULT_RADIUS_M = 3000
MAX_RADIUS_M = 10_000
MAX_CANDIDATES = 1000
RADIUS_SLACK_M = 5.0  # Redis geohashes are exact to < 1 m; the edge is decided here
SNAPSHOT_TTL_S = 600


@dataclass(frozen=True)
class NearbyItem:
    merchant_id: int
    name: str
    address: str
    category: str
    lat: float  # GCJ-02
    lng: float
    discount_bps: int
    rating_x100: int
    distance_m: float
    parts: ScoreParts
    boost_until: int
    cursor: str

    @property
    def score(self) -> float:
        return self.parts.total


@dataclass(frozen=True)
class NearbyPage:
    items: list[NearbyItem]
    has_next: bool
    total: int


def check_location(lat: float, lng: float, field: str = "location") -> None:
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise DomainError(DiscoveryErrorCode.INVALID_LOCATION, "coordinates must be numbers", field)
    if not (-85.0 <= lat <= 85.0 and -180.0 <= lng <= 180.0):
        raise DomainError(
            DiscoveryErrorCode.INVALID_LOCATION, "latitude or longitude out of range", field
        )


def _key(score_total: float, mid: int) -> tuple[float, int]:
    return (-round(score_total, 9), mid)


async def nearby(
    lat: float,
    lng: float,
    coord_system: CoordSystem | str = CoordSystem.GCJ02,
    *,
    radius_m: int = DEFAULT_RADIUS_M,
    category: str | None = None,
    first: int | None = 20,
    after: str | None = None,
    now: float | None = None,
) -> NearbyPage:
    """Approved merchants within `radius_m` of the point, best first."""
    check_location(lat, lng)
    if not 1 <= radius_m <= MAX_RADIUS_M:
        raise DomainError("INVALID", f"radiusM must be between 1 and {MAX_RADIUS_M}", "radiusM")
    n = page_size(first)
    now = time.time() if now is None else now
    glat, glng = convert(lat, lng, coord_system, CoordSystem.GCJ02)
    if after is not None:
        token, offset, cur_score, cur_id = _parse_cursor(after)
        page = await _from_snapshot(token, offset + 1, n, now)
        if page is not None:
            return page
        ranked, epoch = await _rank_all(glat, glng, radius_m, category, now)
        pos = _key(cur_score, cur_id)
        rest = [x for x in ranked if _key(x[0], x[1]) > pos]
        return await _page(rest, n, len(ranked), None, 0, now, epoch, (glat, glng))
    ranked, epoch = await _rank_all(glat, glng, radius_m, category, now)
    return await _page(
        ranked, n, len(ranked), ranked if len(ranked) > n else None, 0, now, epoch, (glat, glng)
    )


# A ranked candidate: (score, id, distance_m, heat part, boost part)
Ranked = tuple[float, int, float, float, float]


async def _rank_all(
    lat: float, lng: float, radius_m: int, category: str | None, now: float
) -> tuple[list[Ranked], float]:
    r = get_redis()
    key = index.cat_key(category) if category else index.K_ALL

    async def search() -> list[Any]:
        pipe = r.pipeline(transaction=False)
        pipe.geosearch(
            key,
            longitude=lng,
            latitude=lat,
            radius=radius_m + RADIUS_SLACK_M,
            unit="m",
            sort="ASC",
            count=MAX_CANDIDATES,
        )
        pipe.get(index.K_GEN)
        pipe.xrange(index.K_CHANGES, min=f"({CACHE.last_id}", max="+", count=BACKLOG)
        pipe.get(index.K_HEAT_EPOCH)
        return await pipe.execute()  # type: ignore[no-any-return]

    found, gen, entries, epoch_raw = await search()
    if gen is None:  # never built in this Redis (fresh, wiped, or a new in-process one)
        await index.ensure_built()
        found, gen, entries, epoch_raw = await search()
    epoch = float(epoch_raw) if epoch_raw else now
    if not found:
        return [], epoch
    await CACHE.catch_up(r, gen, entries)
    c = CACHE
    ids = np.array(found, dtype=np.int64)
    # (cannot miss: a listing and its change entry are written in one MULTI)
    ids = ids[(ids < c.size)]
    ids = ids[c.present[ids]]
    w = WEIGHTS
    p1, l1 = math.radians(lat), math.radians(lng)
    p2, l2 = np.radians(c.lat[ids]), np.radians(c.lng[ids])
    hv = np.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    dist = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(hv, 1.0)))
    keep = dist <= radius_m
    ids, dist = ids[keep], dist[keep]
    h = c.heat[ids] * math.exp(-(now - epoch) / w.heat_tau_s)
    heat = w.heat * (1.0 - np.exp(-np.maximum(h, 0.0) / w.heat_scale))
    boost = np.where(c.boost_until[ids] > now, w.boost, 0.0)
    total = c.static[ids] + w.distance * np.exp(-dist / w.decay_m) + heat + boost
    order = np.lexsort((ids, -total))  # best first, ties by id
    return (
        list(
            zip(
                total[order].tolist(),
                ids[order].tolist(),
                dist[order].tolist(),
                heat[order].tolist(),
                boost[order].tolist(),
                strict=True,
            )
        ),
        epoch,
    )


async def _page(
    ranked: list[Ranked],
    n: int,
    total: int,
    snapshot: list[Ranked] | None,
    base: int,
    now: float,
    epoch: float,
    origin: tuple[float, float],
) -> NearbyPage:
    chunk = ranked[:n]
    token = "0"
    pipe = get_redis().pipeline(transaction=False)
    ids = [str(x[1]) for x in chunk]
    if chunk:
        pipe.hmget(index.K_FEAT, ids)
        pipe.hmget(index.K_CARD, ids)
    if snapshot is not None:
        token = secrets.token_urlsafe(9)
        body = f"{origin[0]:.7f},{origin[1]:.7f};" + ",".join([str(x[1]) for x in snapshot])
        pipe.set(index.snap_key(token), body, ex=SNAPSHOT_TTL_S)
    res = await pipe.execute() if len(pipe) else []
    items = []
    if chunk:
        feats, cards = res[0], res[1]
        for i, (x, feat, card) in enumerate(zip(chunk, feats, cards, strict=True)):
            if feat is None:  # left the index a moment ago
                continue
            items.append(_item(str(x[1]), x[2], feat, card, x[3], x[4], token, base + i))
    return NearbyPage(items=items, has_next=len(ranked) > n, total=total)


def _item(
    mid: str,
    dist: float,
    feat_raw: str,
    card_raw: Any,
    heat: float,
    boost: float,
    token: str,
    offset: int,
) -> NearbyItem:
    f = index.decode_feat(feat_raw)
    card = orjson.loads(card_raw) if card_raw else {"name": "", "address": ""}
    w = WEIGHTS
    parts = ScoreParts(
        distance=w.distance * math.exp(-dist / w.decay_m),
        discount=w.discount * min(max(f.discount_bps, 0) / max(CACHE.dmax or _dmax(), 1), 1.0),
        heat=heat,
        rating=w.rating * min(max(f.rating_x100, 0) / w.rating_max_x100, 1.0),
        boost=boost,
    )
    cursor = encode_cursor(f"{token}|{offset}|{parts.total:.9f}|{mid}")
    return NearbyItem(
        merchant_id=int(mid),
        name=card["name"],
        address=card["address"],
        category=f.category,
        lat=f.lat,
        lng=f.lng,
        discount_bps=f.discount_bps,
        rating_x100=f.rating_x100,
        distance_m=dist,
        parts=parts,
        boost_until=f.boost_until,
        cursor=cursor,
    )


def _dmax() -> int:
    return get_policy().merchant.discount_max_bps


def _parse_cursor(after: str) -> tuple[str, int, float, int]:
    raw = decode_cursor(after)
    try:
        token, offset, sc, mid = raw.split("|", 3)
        return token, int(offset), float(sc), int(mid)
    except ValueError:
        raise DomainError("INVALID", "malformed cursor", "after") from None


async def _from_snapshot(token: str, start: int, n: int, now: float) -> NearbyPage | None:
    if token == "0":
        return None
    r = get_redis()
    body = await r.get(index.snap_key(token))
    if body is None:
        return None
    origin, _, rest = body.partition(";")
    olat, olng = (float(v) for v in origin.split(","))
    entries = rest.split(",") if rest else []
    total = len(entries)
    ids = entries[start : start + n]
    if not ids:
        return NearbyPage(items=[], has_next=False, total=total)
    pipe = r.pipeline(transaction=False)
    pipe.hmget(index.K_FEAT, ids)
    pipe.hmget(index.K_HEAT, ids)
    pipe.hmget(index.K_CARD, ids)
    pipe.get(index.K_HEAT_EPOCH)
    feats, heats, cards, epoch_raw = await pipe.execute()
    epoch = float(epoch_raw) if epoch_raw else now
    w = WEIGHTS
    items = []
    for i, (mid, feat, heat_raw, card) in enumerate(zip(ids, feats, heats, cards, strict=True)):
        if feat is None:  # gone from the index since the first page: left out at once
            continue
        f = index.decode_feat(feat)
        dist = haversine_m(olat, olng, f.lat, f.lng)
        h = heat_now(float(heat_raw), epoch, now) if heat_raw else 0.0
        heat = w.heat * (1.0 - math.exp(-h / w.heat_scale))
        boost = w.boost if f.boost_until > now else 0.0
        items.append(_item(mid, dist, feat, card, heat, boost, token, start + i))
    return NearbyPage(items=items, has_next=total > start + n, total=total)
