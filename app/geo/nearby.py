"""Nearby merchants (SPEC §8): one GEOSEARCH, one batch read, ranked in memory.

1. The client's position is converted to GCJ-02 (what merchants are stored in).
2. GEOSEARCH returns up to `MAX_CANDIDATES` nearest ids within the radius (+ a few
   metres of slack); distances are then computed here from the stored coordinates, so
   the radius edge is decided the same way on Redis and on the in-process stand-in.
3. Ranking features and heat for those ids come in one pipelined round trip; the
   score (ranking.py) orders them, ties by id.
4. The first page's full ranked list is kept in Redis under a random token for
   `SNAPSHOT_TTL_S`; later pages read it, so the order does not shift while the user
   scrolls. A merchant suspended meanwhile drops out of later pages at once. If the
   snapshot has expired, the ranking is recomputed and continues after the cursor's
   (score, id) position.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from app.domain.policy import get_policy
from app.errors import DomainError
from app.redis import get_redis
from app.schema.pagination import decode_cursor, encode_cursor, page_size

from . import index
from .coords import CoordSystem, convert, haversine_m
from .errors import DiscoveryErrorCode
from .ranking import ScoreParts, heat_now, score

DEFAULT_RADIUS_M = 3000
MAX_RADIUS_M = 10_000
MAX_CANDIDATES = 1000
RADIUS_SLACK_M = 5.0
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


@dataclass(frozen=True)
class _Ranked:
    merchant_id: int
    distance_m: float
    parts: ScoreParts
    feat: index.Feat


def check_location(lat: float, lng: float, field: str = "location") -> None:
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise DomainError(DiscoveryErrorCode.INVALID_LOCATION, "coordinates must be numbers", field)
    if not (-85.0 <= lat <= 85.0 and -180.0 <= lng <= 180.0):
        raise DomainError(
            DiscoveryErrorCode.INVALID_LOCATION, "latitude or longitude out of range", field
        )


def _rank_one(
    mid: int,
    raw: str | None,
    heat_raw: str | None,
    dist: float | None,
    lat: float,
    lng: float,
    epoch: float,
    now: float,
    dmax: int,
) -> _Ranked | None:
    if raw is None:
        return None
    f = index.decode_feat(raw)
    d = haversine_m(lat, lng, f.lat, f.lng) if dist is None else dist
    h = heat_now(float(heat_raw), epoch, now) if heat_raw else 0.0
    parts = score(
        distance_m=d,
        discount_bps=f.discount_bps,
        discount_max_bps=dmax,
        heat=h,
        rating_x100=f.rating_x100,
        boosted=f.boost_until > now,
    )
    return _Ranked(mid, d, parts, f)


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
        ranked = await _rank_all(glat, glng, radius_m, category, now)
        pos = _key(cur_score, cur_id)
        rest = [x for x in ranked if _key(x.parts.total, x.merchant_id) > pos]
        return await _page(rest, n, len(ranked), "0", 0, now)
    ranked = await _rank_all(glat, glng, radius_m, category, now)
    token = "0"
    if len(ranked) > n:
        token = secrets.token_urlsafe(9)
        body = ",".join(f"{x.merchant_id}:{round(x.distance_m * 100)}" for x in ranked)
        await get_redis().set(index.snap_key(token), body, ex=SNAPSHOT_TTL_S)
    return await _page(ranked, n, len(ranked), token, 0, now)


async def _rank_all(
    lat: float, lng: float, radius_m: int, category: str | None, now: float
) -> list[_Ranked]:
    r = get_redis()
    key = index.cat_key(category) if category else index.K_ALL
    ids: list[str] = await r.geosearch(
        key,
        longitude=lng,
        latitude=lat,
        radius=radius_m + RADIUS_SLACK_M,
        unit="m",
        sort="ASC",
        count=MAX_CANDIDATES,
    )
    if not ids:
        return []
    pipe = r.pipeline(transaction=False)
    pipe.hmget(index.K_FEAT, ids)
    pipe.hmget(index.K_HEAT, ids)
    pipe.get(index.K_HEAT_EPOCH)
    feats, heats, epoch_raw = await pipe.execute()
    epoch = float(epoch_raw) if epoch_raw else now
    dmax = get_policy().merchant.discount_max_bps
    out = []
    for mid, raw, heat_raw in zip(ids, feats, heats, strict=True):
        x = _rank_one(int(mid), raw, heat_raw, None, lat, lng, epoch, now, dmax)
        if x is not None and x.distance_m <= radius_m:
            out.append(x)
    out.sort(key=lambda x: _key(x.parts.total, x.merchant_id))
    return out


async def _page(
    ranked: list[_Ranked], n: int, total: int, token: str, base: int, now: float
) -> NearbyPage:
    chunk = ranked[:n]
    cards: list[Any] = []
    if chunk:
        cards = await get_redis().hmget(  # type: ignore[misc]
            index.K_CARD, [str(x.merchant_id) for x in chunk]
        )
    items = [
        _item(x, card, token, base + i)
        for i, (x, card) in enumerate(zip(chunk, cards, strict=True))
    ]
    return NearbyPage(items=items, has_next=len(ranked) > n, total=total)


def _item(x: _Ranked, card_raw: Any, token: str, offset: int) -> NearbyItem:
    card = orjson.loads(card_raw) if card_raw else {"name": "", "address": ""}
    cursor = encode_cursor(f"{token}|{offset}|{x.parts.total:.9f}|{x.merchant_id}")
    return NearbyItem(
        merchant_id=x.merchant_id,
        name=card["name"],
        address=card["address"],
        category=x.feat.category,
        lat=x.feat.lat,
        lng=x.feat.lng,
        discount_bps=x.feat.discount_bps,
        rating_x100=x.feat.rating_x100,
        distance_m=x.distance_m,
        parts=x.parts,
        boost_until=x.feat.boost_until,
        cursor=cursor,
    )


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
    entries = body.split(",") if body else []
    total = len(entries)
    window = entries[start : start + n]
    if not window:
        return NearbyPage(items=[], has_next=False, total=total)
    ids = [e.split(":", 1)[0] for e in window]
    pipe = r.pipeline(transaction=False)
    pipe.hmget(index.K_FEAT, ids)
    pipe.hmget(index.K_HEAT, ids)
    pipe.hmget(index.K_CARD, ids)
    pipe.get(index.K_HEAT_EPOCH)
    feats, heats, cards, epoch_raw = await pipe.execute()
    epoch = float(epoch_raw) if epoch_raw else now
    dmax = get_policy().merchant.discount_max_bps
    items = []
    for i, (entry, raw, heat_raw, card) in enumerate(zip(window, feats, heats, cards, strict=True)):
        mid, dist_cm = entry.split(":", 1)
        x = _rank_one(int(mid), raw, heat_raw, int(dist_cm) / 100, 0.0, 0.0, epoch, now, dmax)
        if x is not None:  # gone from the index since the first page: left out at once
            items.append(_item(x, card, token, start + i))
    return NearbyPage(items=items, has_next=total > start + n, total=total)
