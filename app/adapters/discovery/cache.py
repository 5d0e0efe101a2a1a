"""Each process keeps what a nearby query needs of every listed merchant in memory:
the ranking inputs in numpy arrays indexed by merchant id (static score part from
discount and rating, boost end, heat sum H, position), and what a result shows (the
decoded `feat` and the `card`: name, address). So a nearby query is one round trip to
Redis, and ranks ~700 candidates without moving their strings out of Redis.

Membership comes from GEOSEARCH on every request (a suspended merchant leaves at once).
The rest stays exact through the `changes` stream: every writer appends the merchant id
in the same MULTI as its change (feat, card or heat), and each query reads the entries
after the last one this process applied (in the same pipeline as its GEOSEARCH) and
reloads just those ids before it ranks. A new `gen` (rebuild, wiped keys, another Redis)
or a long backlog reloads everything.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import orjson

from . import index
from .ranking import WEIGHTS

BACKLOG = 500  # more pending changes than this: reload in full
# columns of FeatureCache.table (position in radians; PRESENT: 1.0 if listed)
PHI, LAMBDA, COS_PHI, STATIC, HEAT, BOOST_UNTIL, PRESENT = range(7)
N_COLS = 8  # (one 64-byte row per merchant: a candidate's inputs are one cache line)
# name, address, category, lat, lng (GCJ-02), discount_bps, rating_x100, boost_until,
# discount part, rating part
Shown = tuple[str, str, str, float, float, int, int, int, float, float]


class FeatureCache:
    def __init__(self) -> None:
        self.gen: str | None = None
        self.last_id = "0-0"
        self.dmax = 0
        self.epoch: float | None = None  # heat epoch; moves only with a new `gen`
        # id -> what a result shows (a flat tuple of plain values: the garbage collector
        # stops tracking such tuples, so 60,000 of them do not slow its full passes)
        self.shown: dict[int, Shown] = {}
        self._lock = asyncio.Lock()
        self._alloc(0)

    def _alloc(self, size: int) -> None:
        # one row per merchant id, so a query gathers its ~700 candidates' inputs with
        # one `take` touching one cache line each (under load most are not cached)
        self.table = np.zeros((size, N_COLS), dtype=np.float64)

    @property
    def size(self) -> int:
        return len(self.table)

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The listed ones of `ids` (order kept) and their inputs, one row per input."""
        ids = ids[ids < self.size]
        rows = self.table.take(ids, axis=0)
        listed = rows[:, PRESENT] != 0.0
        if not listed.all():
            ids, rows = ids[listed], rows[listed]
        return ids, np.ascontiguousarray(rows.T)

    def listed(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are listed (a mask)."""
        known = ids < self.size
        known[known] = self.table[ids[known], PRESENT] != 0.0
        return known

    def _grow(self, max_id: int) -> None:
        if max_id < self.size:
            return
        new = max(max_id + 1, self.size * 2, 1024)
        table = self.table
        self._alloc(new)
        self.table[: len(table)] = table

    def _set(self, mid: int, feat: str | None, heat: str | None, card: str | None) -> None:
        self._grow(mid)
        if feat is None:
            self.table[mid] = 0.0
            self.shown.pop(mid, None)
            return
        f = index.decode_feat(feat)
        c = orjson.loads(card) if card else {}
        discount, rating = self.discount_part(f), self.rating_part(f)
        phi = math.radians(f.lat)
        self.table[mid] = (
            phi,
            math.radians(f.lng),
            math.cos(phi),
            discount + rating,
            float(heat) if heat else 0.0,
            float(f.boost_until),  # Unix seconds: exact in a float
            1.0,
            0.0,
        )
        self.shown[mid] = (
            c.get("name", ""),
            c.get("address", ""),
            f.category,
            f.lat,
            f.lng,
            f.discount_bps,
            f.rating_x100,
            f.boost_until,
            discount,
            rating,
        )

    def discount_part(self, f: index.Feat) -> float:
        w = WEIGHTS
        return w.discount * min(max(f.discount_bps, 0) / max(self.dmax, 1), 1.0)

    def rating_part(self, f: index.Feat) -> float:
        w = WEIGHTS
        return w.rating * min(max(f.rating_x100, 0) / w.rating_max_x100, 1.0)

    async def catch_up(self, r: Any, gen: str | None, entries: list[Any], dmax: int) -> None:
        """Apply what the request's pipeline saw: a new generation or new change entries."""
        if gen != self.gen or len(entries) >= BACKLOG or self.dmax != dmax:
            async with self._lock:
                if self.gen != gen or self.dmax != dmax or len(entries) >= BACKLOG:
                    await self.reload(r, dmax)
            return
        if not entries:
            return
        ids = list(dict.fromkeys(fields["m"] for _, fields in entries))
        # One catch-up at a time: fetched and applied in order, so an older read never
        # overwrites a newer one applied by a concurrent request of this process.
        async with self._lock:
            pipe = r.pipeline(transaction=False)
            pipe.hmget(index.K_FEAT, ids)
            pipe.hmget(index.K_HEAT, ids)
            pipe.hmget(index.K_CARD, ids)
            pipe.get(index.K_HEAT_EPOCH)  # set once (NX) before the first heat change
            feats, heats, cards, epoch = await pipe.execute()
            for mid, feat, heat, card in zip(ids, feats, heats, cards, strict=True):
                self._set(int(mid), feat, heat, card)
            self.epoch = float(epoch) if epoch else None
            self.last_id = max(self.last_id, entries[-1][0], key=_stream_key)

    async def reload(self, r: Any, dmax: int) -> None:
        self.dmax = dmax
        pipe = r.pipeline(transaction=True)  # one consistent cut: position, hashes, gen
        pipe.xrevrange(index.K_CHANGES, count=1)
        pipe.hgetall(index.K_FEAT)
        pipe.hgetall(index.K_HEAT)
        pipe.hgetall(index.K_CARD)
        pipe.get(index.K_HEAT_EPOCH)
        pipe.get(index.K_GEN)
        last, feats, heats, cards, epoch, gen = await pipe.execute()
        self._alloc(max((int(k) for k in feats), default=0) + 1)
        self.shown = {}
        for mid, feat in feats.items():
            self._set(int(mid), feat, heats.get(mid), cards.get(mid))
        self.epoch = float(epoch) if epoch else None
        self.last_id = last[0][0] if last else "0-0"
        self.gen = gen


def _stream_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


CACHE = FeatureCache()
