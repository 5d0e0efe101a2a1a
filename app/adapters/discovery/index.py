"""The geo index in Redis: where approved merchants are, and what ranking needs.

Keys (all under `geo:v1:`):
- `all`            GEO set of approved merchant ids at their GCJ-02 position
- `cat:<category>` the same, one per category (a category filter is one GEOSEARCH)
- `cats`           SET of categories that have a `cat:` key
- `feat`           HASH id -> "discount_bps|rating_x100|boost_until|lat|lng|category"
- `card`           HASH id -> JSON {name, address}: what a result shows
- `heat`           HASH id -> H, the exp-weighted paid-order sum (see ranking.py)
- `heat:epoch`     the epoch H is measured from (Unix seconds)
- `snap:<token>`   a ranked result list kept for a scrolling client (TTL)
- `changes`        STREAM of merchant ids whose `feat` or `heat` changed, written in the
                   same MULTI as the change, so each process's in-memory ranking cache
                   (cache.py) catches up exactly on its next request
- `gen`            a random generation; a new one (rebuild, or keys wiped) makes every
                   cache reload in full. No `gen` at all means the index was never built
                   in this Redis: the first nearby query builds it (`ensure_built`)

The database is the truth: `sync_merchant` writes one merchant's keys from its row,
`rebuild` writes all of them (CLI `rebuild-geo-index`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.infra.redis import get_redis, run_commands
from app.models.geo import ExposureBoost, GeoOrderFact
from app.models.merchants import Merchant, MerchantStatus

from .ranking import heat_weight

log = logging.getLogger(__name__)

# Overridable for the benchmark, so it never meets a developer's or a test's keys.
PREFIX = os.environ.get("GEO_KEY_PREFIX", "geo:v1:")
K_ALL = PREFIX + "all"
K_CATS = PREFIX + "cats"
K_FEAT = PREFIX + "feat"
K_CARD = PREFIX + "card"
K_HEAT = PREFIX + "heat"
K_HEAT_EPOCH = PREFIX + "heat:epoch"
K_CHANGES = PREFIX + "changes"
K_GEN = PREFIX + "gen"
K_BUILDING = PREFIX + "building"
TMP = PREFIX + "tmp:"
CHANGES_MAXLEN = 100_000


def _changed_commands(merchant_id: int | str) -> list[tuple[Any, ...]]:
    """Inside a MULTI: record that the merchant's ranking inputs changed."""
    return [
        ("SET", K_GEN, secrets.token_hex(8), "NX"),
        ("XADD", K_CHANGES, "MAXLEN", "~", CHANGES_MAXLEN, "*", "m", str(merchant_id)),
    ]


def _changed(pipe: Any, merchant_id: int | str) -> None:
    for command in _changed_commands(merchant_id):
        pipe.execute_command(*command)


def cat_key(category: str) -> str:
    return f"{PREFIX}cat:{category}"


def snap_key(owner: str) -> str:
    """The scroll snapshots of one signed-in client (a hash: slot -> snapshot)."""
    return f"{PREFIX}snap:{owner}"


@dataclass(frozen=True)
class Feat:
    discount_bps: int
    rating_x100: int
    boost_until: int
    lat: float
    lng: float
    category: str


def encode_feat(
    discount_bps: int, rating_x100: int, boost_until: int, lat: float, lng: float, category: str
) -> str:
    return f"{discount_bps}|{rating_x100}|{boost_until}|{lat:.7f}|{lng:.7f}|{category}"


def decode_feat(raw: str) -> Feat:
    d, r, b, la, ln, c = raw.split("|", 5)
    return Feat(int(d), int(r), int(b), float(la), float(ln), c)


def _card(m: Merchant) -> str:
    return orjson.dumps({"name": m.name, "address": m.address}).decode()


def _feat_of(m: Merchant, boost_until: int) -> str:
    return encode_feat(
        m.discount_bps, m.rating_x100, boost_until, float(m.lat), float(m.lng), m.category
    )


async def active_boost_until(merchant_id: int, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    b = (
        await ExposureBoost.filter(merchant_id=merchant_id, ends_at__gt=now)
        .order_by("-ends_at")
        .first()
    )
    return int(b.ends_at.timestamp()) if b else 0


async def sync_merchant(merchant_id: int) -> bool:
    """Write one merchant's index entries from its database row. True if it is listed."""
    m = await Merchant.get_or_none(id=merchant_id)
    r = get_redis()
    mid = str(merchant_id)
    old = await r.hget(K_FEAT, mid)  # type: ignore[misc]
    old_cat = decode_feat(old).category if old else None
    pipe = r.pipeline(transaction=True)
    listed = m is not None and m.status == MerchantStatus.APPROVED
    if listed:
        assert m is not None
        boost_until = await active_boost_until(m.id)
        pos = (float(m.lng), float(m.lat), mid)
        pipe.geoadd(K_ALL, pos)
        pipe.geoadd(cat_key(m.category), pos)
        if old_cat is not None and old_cat != m.category:
            pipe.zrem(cat_key(old_cat), mid)
        pipe.sadd(K_CATS, m.category)
        pipe.hset(K_FEAT, mid, _feat_of(m, boost_until))
        pipe.hset(K_CARD, mid, _card(m))
    else:
        pipe.zrem(K_ALL, mid)
        for c in {old_cat, m.category if m else None} - {None}:
            pipe.zrem(cat_key(str(c)), mid)
        pipe.hdel(K_FEAT, mid)
        pipe.hdel(K_CARD, mid)
    _changed(pipe, mid)
    await pipe.execute()
    return listed


async def heat_epoch() -> float:
    """The epoch heat sums are measured from; set once, moved by `rebuild`."""
    r = get_redis()
    raw = await r.get(K_HEAT_EPOCH)
    if raw is None:
        await r.set(K_HEAT_EPOCH, str(int(time.time())), nx=True)
        raw = await r.get(K_HEAT_EPOCH)
    return float(raw)


# The heat epoch as this process last saw it: it only moves on a rebuild, so a paid order
# does not ask for it first; the write reads it back in its MULTI and puts things right
# on the rare write that used a stale one.
_epoch_seen: float | None = None


async def add_heat(merchant_id: int, paid_at: datetime, sign: int = 1) -> None:
    await add_heats([(merchant_id, paid_at, sign)])


async def add_heats(changes: Sequence[tuple[int, datetime, int]]) -> None:
    """Each (merchant, paid at, +1 or -1 order) added to the merchants' heat, in one
    round trip (a MULTI)."""
    global _epoch_seen
    if not changes:
        return
    epoch = _epoch_seen if _epoch_seen is not None else await heat_epoch()
    merchants = list(dict.fromkeys(str(m) for m, _, _ in changes))
    changed = [c for mid in merchants for c in _changed_commands(mid)]
    r = get_redis()
    weights = [sign * heat_weight(at.timestamp(), epoch) for _, at, sign in changes]
    heat = [
        ("HINCRBYFLOAT", K_HEAT, str(m), w) for (m, _, _), w in zip(changes, weights, strict=True)
    ]
    replies = await run_commands(r, [("GET", K_HEAT_EPOCH), *heat, *changed], transaction=True)
    current = replies[0]
    if current is None or float(current) != epoch:
        # measured from the wrong epoch: take that back, add it from the right one
        right = await heat_epoch()
        fix = [
            ("HINCRBYFLOAT", K_HEAT, str(m), sign * heat_weight(at.timestamp(), right) - w)
            for (m, at, sign), w in zip(changes, weights, strict=True)
        ]
        await run_commands(r, [*fix, *changed], transaction=True)
        epoch = right
    _epoch_seen = epoch


async def ensure_built(wait_s: float = 30.0) -> None:
    """Build the index from the database if this Redis has never had one (a fresh or
    wiped Redis, or the in-process stand-in of a new process). One process builds;
    the others wait for its `gen`."""
    r = get_redis()
    if await r.exists(K_GEN):
        return
    if await r.set(K_BUILDING, "1", nx=True, ex=300):
        try:
            counts = await rebuild()
            log.info("geo index was missing: rebuilt %s", counts)
        finally:
            await r.delete(K_BUILDING)
        return
    for _ in range(int(wait_s / 0.05)):  # another process is building it
        if await r.exists(K_GEN):
            return
        await asyncio.sleep(0.05)


async def rebuild(chunk: int = 2000) -> dict[str, int]:
    """Rewrite every index key from the database; each live key is swapped atomically."""
    r = get_redis()
    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    boosts: dict[int, int] = {}
    for row in await ExposureBoost.filter(ends_at__gt=now).values("merchant_id", "ends_at"):
        until = int(row["ends_at"].timestamp())
        boosts[row["merchant_id"]] = max(boosts.get(row["merchant_id"], 0), until)

    old_cats = set(await r.smembers(K_CATS))  # type: ignore[misc]
    await r.delete(*(await _tmp_keys()))
    cats: set[str] = set()
    listed = 0
    last_id = 0
    while True:
        rows = (
            await Merchant.filter(status=MerchantStatus.APPROVED, id__gt=last_id)
            .order_by("id")
            .limit(chunk)
        )
        if not rows:
            break
        pipe = r.pipeline(transaction=False)
        for m in rows:
            mid = str(m.id)
            pos = (float(m.lng), float(m.lat), mid)
            pipe.geoadd(TMP + "all", pos)
            pipe.geoadd(TMP + "cat:" + m.category, pos)
            pipe.hset(TMP + "feat", mid, _feat_of(m, boosts.get(m.id, 0)))
            pipe.hset(TMP + "card", mid, _card(m))
            cats.add(m.category)
        await pipe.execute()
        listed += len(rows)
        last_id = rows[-1].id

    heat: dict[str, float] = {}
    since = datetime.fromtimestamp(epoch - 40 * 86400, UTC)  # older orders weigh < 1e-5
    async for fact in GeoOrderFact.filter(counted=True, paid_at__gte=since).values(
        "merchant_id", "paid_at"
    ):
        key = str(fact["merchant_id"])
        heat[key] = heat.get(key, 0.0) + heat_weight(fact["paid_at"].timestamp(), epoch)
    if heat:
        await r.hset(TMP + "heat", mapping=heat)  # type: ignore[misc]
    if cats:
        await r.sadd(TMP + "cats", *cats)  # type: ignore[misc]

    pipe = r.pipeline(transaction=True)
    for name, live in (
        ("all", K_ALL),
        ("feat", K_FEAT),
        ("card", K_CARD),
        ("heat", K_HEAT),
        ("cats", K_CATS),
    ):
        _swap(pipe, TMP + name, live, present=bool(heat) if name == "heat" else listed > 0)
    for c in cats:
        pipe.rename(TMP + "cat:" + c, cat_key(c))
    for c in old_cats - cats:
        pipe.delete(cat_key(c))
    pipe.set(K_HEAT_EPOCH, str(epoch))
    pipe.delete(K_CHANGES)
    pipe.set(K_GEN, secrets.token_hex(8))  # every cache reloads in full
    await pipe.execute()
    return {"merchants": listed, "categories": len(cats), "heat_merchants": len(heat)}


def _swap(pipe, tmp: str, live: str, present: bool) -> None:
    if present:
        pipe.rename(tmp, live)
    else:
        pipe.delete(live)


async def _tmp_keys() -> list[str]:
    keys = [k async for k in get_redis().scan_iter(match=TMP + "*", count=500)]
    return keys or [TMP + "none"]
