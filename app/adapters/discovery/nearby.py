"""Nearby merchants (SPEC §8): one round trip to Redis, ranked in memory.

1. The client's position is converted to GCJ-02 (what merchants are stored in).
2. One pipelined round trip: GEOSEARCH (up to `MAX_CANDIDATES` nearest ids within the
   radius + a few metres), the index generation and the change-feed entries this process
   has not applied yet (cache.py). Membership is always Redis's, fresh; the change feed
   brings the process's copy of every listed merchant's ranking inputs and display
   fields up to the same moment before anything is ranked or shown.
3. Distances are computed here from the stored coordinates (haversine on Redis's
   sphere), so the radius edge is decided identically on Redis and on the in-process
   stand-in; the score (ranking.py) is computed for all candidates at once (numpy).
   Ties break by id.
4. When a signed-in caller hands out cursors and there is a next page, the full ranked
   id list is kept as a scroll snapshot for `SNAPSHOT_TTL_S` (a second round trip, only
   then); later pages read it, so the order does not shift while the user scrolls. A
   merchant suspended meanwhile drops out of later pages at once. A client keeps its
   newest `nearby_snapshots_per_client` snapshots (slots of one hash per client, the
   oldest overwritten). A cursor whose snapshot is gone (expired, overwritten, or
   another client's) continues by recomputing the ranking after the cursor's (score,
   id) position, as does every cursor of an anonymous caller: anonymous calls store
   nothing, and their cursors are positions only.

No database query on this path (except once, if this Redis never had an index: then the
first query builds it from the database).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.infra.config import get_settings
from app.infra.coords import EARTH_RADIUS_M, CoordSystem, convert
from app.infra.errors import DomainError
from app.infra.redis import eval_script, get_redis, run_script, script_sha

from . import index
from .cache import BACKLOG, BOOST_UNTIL, CACHE, COS_PHI, HEAT, LAMBDA, PHI, STATIC
from .errors import DiscoveryErrorCode
from .ranking import WEIGHTS, ScoreParts

DEFAULT_RADIUS_M = 3000
MAX_RADIUS_M = 10_000
MAX_CANDIDATES = 1000
RADIUS_SLACK_M = 5.0  # Redis geohashes are exact to < 1 m; the edge is decided here
SNAPSHOT_TTL_S = 600
NO_SNAPSHOT = "0"
_SEQ = re.compile(r"[0-9]{1,18}")  # a snapshot's number in a cursor


@dataclass(slots=True)  # (not frozen: a frozen init costs ~4 us more per result)
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
    token: str  # the scroll snapshot the item came from ("0": none)
    offset: int  # its position in that ranking

    @property
    def score(self) -> float:
        return self.parts.total

    @property
    def position(self) -> str:
        """Where the item stands (snapshot, offset, score, id): the API wraps it in its
        cursor, and hands it back as `after`."""
        p = self.parts
        return f"{self.token}|{self.offset}|{p.total:.9f}|{self.merchant_id}"


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
    first: int = 20,
    after: str | None = None,
    now: float | None = None,
    cursors: bool = True,
    owner: str | None = None,
    discount_max_bps: int,
) -> NearbyPage:
    """Approved merchants within `radius_m` of the point, best first.

    `owner` names the signed-in client whose scroll snapshots are kept (e.g. `user:12`);
    None (anonymous) stores none. `after` is an item's `position`; `discount_max_bps`
    is the policy's, the discount part's scale. `cursors=False` says the caller shows no cursor (a
    GraphQL query that selects none): then no snapshot is stored either, as nobody
    could continue from it.
    """
    check_location(lat, lng)
    if not 1 <= radius_m <= MAX_RADIUS_M:
        raise DomainError("INVALID", f"radiusM must be between 1 and {MAX_RADIUS_M}", "radiusM")
    n = first
    now = time.time() if now is None else now
    glat, glng = convert(lat, lng, coord_system, CoordSystem.GCJ02)
    if after is not None:
        token, offset, cur_score, cur_id = _parse_cursor(after)
        page = await _from_snapshot(owner, token, offset + 1, n, now, discount_max_bps)
        if page is not None:
            return page
        r = await _rank(glat, glng, radius_m, category, now, discount_max_bps)
        pos = _key(cur_score, cur_id)
        rest = [i for i in r.order().tolist() if _key(r.total[i], int(r.ids[i])) > pos]
        return r.page(np.array(rest, dtype=np.int64), n, NO_SNAPSHOT, 0, len(rest))
    r = await _rank(glat, glng, radius_m, category, now, discount_max_bps)
    if not (cursors and owner is not None and len(r.ids) > n):
        return r.page(r.top(n), n, NO_SNAPSHOT, 0, len(r.ids))
    order = r.order()
    body = f"{glat:.7f},{glng:.7f};" + ",".join(map(str, r.ids[order].tolist()))
    keep = max(1, get_settings().nearby_snapshots_per_client)
    seq = await eval_script(
        get_redis(), KEEP_LUA, _KEEP_SHA, [index.snap_key(owner)], [body, keep, SNAPSHOT_TTL_S]
    )
    return r.page(order, n, str(seq), 0, len(order))


# One client's snapshots: a hash whose field `seq` counts them and whose slot
# `seq % keep` holds the newest ones ("<seq>;<body>"): a new snapshot overwrites the
# oldest, so a client never has more than `keep`, in one key that expires with the last.
KEEP_LUA = """
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], tostring(seq % tonumber(ARGV[2])), seq .. ';' .. ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return seq
"""
_KEEP_SHA = script_sha(KEEP_LUA)


class _Ranking:
    """Candidates with their distance and score parts (numpy arrays, one row each)."""

    def __init__(
        self,
        ids: np.ndarray,
        dist: np.ndarray,
        heat: np.ndarray,
        boost: np.ndarray,
        total: np.ndarray,
    ) -> None:
        self.ids, self.dist, self.heat, self.boost, self.total = ids, dist, heat, boost, total

    def order(self) -> np.ndarray:
        """All candidates, best first, ties by id."""
        return np.lexsort((self.ids, -self.total))

    def top(self, n: int) -> np.ndarray:
        """The first `n` of `order()`, without sorting the rest."""
        if len(self.ids) <= n:
            return self.order()
        neg = -self.total
        # the n-th best score; whatever ranks in the first n scores at least that much
        nth = neg[np.argpartition(neg, n - 1)[n - 1]]
        (near,) = np.nonzero(neg <= nth)
        return near[np.lexsort((self.ids[near], neg[near]))][:n]

    def page(self, order: np.ndarray, n: int, token: str, base: int, left: int) -> NearbyPage:
        """Items of the first `n` rows of `order`; `left` rows were there to page through."""
        rows = order[:n]
        items = _items(
            self.ids[rows].tolist(),
            self.dist[rows].tolist(),
            self.heat[rows].tolist(),
            self.boost[rows].tolist(),
            token,
            base,
        )
        return NearbyPage(items=items, has_next=left > n, total=len(self.ids))


def _score(
    rows: np.ndarray, lat: float, lng: float, now: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance from (lat, lng), heat part, boost part and total of cached merchants
    (`rows`: their inputs, from `CACHE.gather`)."""
    c, w = CACHE, WEIGHTS
    p1, l1 = math.radians(lat), math.radians(lng)
    # haversine on Redis's sphere, with each merchant's radians and cosine kept
    a = np.sin((rows[PHI] - p1) * 0.5)
    a *= a
    b = np.sin((rows[LAMBDA] - l1) * 0.5)
    b *= b
    b *= rows[COS_PHI]
    b *= math.cos(p1)
    a += b
    np.minimum(a, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    dist = a
    dist *= 2 * EARTH_RADIUS_M
    epoch = now if c.epoch is None else c.epoch
    h = rows[HEAT] * -(math.exp(-(now - epoch) / w.heat_tau_s) / w.heat_scale)
    np.minimum(h, 0.0, out=h)
    heat = np.exp(h)
    heat *= -w.heat
    heat += w.heat
    boost = np.where(rows[BOOST_UNTIL] > now, w.boost, 0.0)
    total = np.exp(dist * (-1.0 / w.decay_m))
    total *= w.distance
    total += rows[STATIC]
    total += heat
    total += boost
    return dist, heat, boost, total


async def _rank(
    lat: float, lng: float, radius_m: int, category: str | None, now: float, dmax: int
) -> _Ranking:
    r = get_redis()
    key = index.cat_key(category) if category else index.K_ALL

    async def search() -> list[Any]:
        since = f"({CACHE.last_id}"
        radius = radius_m + RADIUS_SLACK_M
        # one script, whose reply is parsed once
        keys = (key, index.K_GEN, index.K_CHANGES)
        args = (lng, lat, radius, MAX_CANDIDATES, since, BACKLOG)
        found, gen, raw = await run_script(r, SEARCH_LUA, _SEARCH_SHA, keys, args)
        return [found, gen, [(i, dict(zip(kv[::2], kv[1::2], strict=True))) for i, kv in raw]]

    found, gen, entries = await search()
    if gen is None:  # never built in this Redis (fresh, wiped, or a new in-process one)
        await index.ensure_built()
        found, gen, entries = await search()
    await CACHE.catch_up(r, gen, entries, dmax)
    ids = np.fromstring(found, dtype=np.int64, sep=",")  # (3x np.array of the ids)
    # (all listed: a listing and its change entry are written in one MULTI)
    ids, rows = CACHE.gather(ids)
    dist, heat, boost, total = _score(rows, lat, lng, now)
    keep = dist <= radius_m
    if keep.all():  # (the usual case: the search radius has only a few metres of slack)
        return _Ranking(ids, dist, heat, boost, total)
    return _Ranking(ids[keep], dist[keep], heat[keep], boost[keep], total[keep])


# Three reads as one script: the same GEOSEARCH (key,
# radius + slack, ASC, COUNT) as the bare endpoint's, then the index generation and the
# change-feed entries this process has not applied. The ids come back as one
# comma-separated string: one reply value to parse instead of ~700.
SEARCH_LUA = """
return {
  table.concat(redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
                          'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', ARGV[4]), ','),
  redis.call('GET', KEYS[2]),
  redis.call('XRANGE', KEYS[3], ARGV[5], '+', 'COUNT', ARGV[6])
}
"""
_SEARCH_SHA = script_sha(SEARCH_LUA)


def _items(
    ids: list[int],
    dists: list[float],
    heats: list[float],
    boosts: list[float],
    token: str,
    base: int,
) -> list[NearbyItem]:
    shown, w_distance, decay_m = CACHE.shown, WEIGHTS.distance, WEIGHTS.decay_m
    items = []
    for i, (mid, dist, heat, boost) in enumerate(zip(ids, dists, heats, boosts, strict=True)):
        s = shown.get(mid)
        if s is None:  # (cannot happen: listed ids are present in the cache)
            continue
        name, address, category, lat, lng, discount_bps, rating_x100, until, discount, rating = s
        parts = ScoreParts(w_distance * math.exp(-dist / decay_m), discount, heat, rating, boost)
        # (positional: a third of the cost of keywords, 20 times a page)
        items.append(
            NearbyItem(
                mid,
                name,
                address,
                category,
                lat,
                lng,
                discount_bps,
                rating_x100,
                dist,
                parts,
                until,
                token,
                base + i,
            )
        )
    return items


def _parse_cursor(after: str) -> tuple[str, int, float, int]:
    try:
        token, offset, sc, mid = after.split("|", 3)
        return token, int(offset), float(sc), int(mid)
    except ValueError:
        raise DomainError("INVALID", "malformed cursor", "after") from None


async def _from_snapshot(
    owner: str | None, token: str, start: int, n: int, now: float, dmax: int
) -> NearbyPage | None:
    """The next page of a stored ranking: its order, today's merchants (one round trip).
    None when the caller has no such snapshot (any more)."""
    if owner is None or token == NO_SNAPSHOT or not _SEQ.fullmatch(token):
        return None
    r = get_redis()
    keep = max(1, get_settings().nearby_snapshots_per_client)
    pipe = r.pipeline(transaction=False)
    pipe.hget(index.snap_key(owner), str(int(token) % keep))
    pipe.get(index.K_GEN)
    pipe.xrange(index.K_CHANGES, min=f"({CACHE.last_id}", max="+", count=BACKLOG)
    stored, gen, entries = await pipe.execute()
    seq, _, body = (stored or "").partition(";")
    if seq != token:  # none, or overwritten by a newer snapshot
        return None
    await CACHE.catch_up(r, gen, entries, dmax)
    origin, _, rest = body.partition(";")
    olat, olng = (float(v) for v in origin.split(","))
    entries = rest.split(",") if rest else []
    total = len(entries)
    ids = np.array(entries[start : start + n], dtype=np.int64)
    # gone from the index since the first page: left out at once
    offsets = np.arange(start, start + len(ids))
    listed = CACHE.listed(ids)
    ids, offsets = ids[listed], offsets[listed]
    ids, rows = CACHE.gather(ids)
    dist, heat, boost, _ = _score(rows, olat, olng, now)
    items = []
    for mid, d, h, b, off in zip(
        ids.tolist(), dist.tolist(), heat.tolist(), boost.tolist(), offsets.tolist(), strict=True
    ):
        items += _items([mid], [d], [h], [b], token, off)
    return NearbyPage(items=items, has_next=total > start + n, total=total)
