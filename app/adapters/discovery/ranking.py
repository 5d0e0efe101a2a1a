"""The nearby ranking score (SPEC §8), documented here and in README.md.

    score = 0.35 * exp(-distance_m / 1000)                       distance decay
          + 0.15 * min(discount_bps / policy discount_max_bps, 1) discount rate (让利)
          + 0.15 * (1 - exp(-heat / 10))                          recent order heat
          + 0.10 * rating_x100 / 500                              rating (0..5 stars)
          + 0.25 * (1 if a boost is active else 0)                exposure boost

Every part lies in [0, weight], so the score lies in [0, 1]. `heat` is the number of
paid orders at the merchant, each weighted by exp(-age / 3 days): an order paid just
now counts 1, one paid three days ago 0.37. Ties break by merchant id (older first).

Heat is kept in Redis as H = sum(exp((paid_at - epoch) / tau)) per merchant, so a paid
order is one atomic HINCRBYFLOAT and a refund subtracts exactly what its order added;
the heat now is H * exp(-(now - epoch) / tau). `rebuild-geo-index` recomputes H and
moves the epoch forward (it must run at least every few years to stay inside floats).

The ranking is a display order, not money, so floats are fine here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    distance: float = 0.35
    decay_m: float = 1000.0
    discount: float = 0.15
    heat: float = 0.15
    heat_scale: float = 10.0
    heat_tau_s: float = 3 * 86400.0
    rating: float = 0.10
    rating_max_x100: int = 500
    boost: float = 0.25


WEIGHTS = Weights()


@dataclass(slots=True)  # (not frozen: a frozen init costs ~1 us more per result)
class ScoreParts:
    distance: float
    discount: float
    heat: float
    rating: float
    boost: float

    @property
    def total(self) -> float:
        return self.distance + self.discount + self.heat + self.rating + self.boost


def score(
    *,
    distance_m: float,
    discount_bps: int,
    discount_max_bps: int,
    heat: float,
    rating_x100: int,
    boosted: bool,
    w: Weights = WEIGHTS,
) -> ScoreParts:
    return ScoreParts(
        distance=w.distance * math.exp(-distance_m / w.decay_m),
        discount=w.discount * min(max(discount_bps, 0) / max(discount_max_bps, 1), 1.0),
        heat=w.heat * (1.0 - math.exp(-max(heat, 0.0) / w.heat_scale)),
        rating=w.rating * min(max(rating_x100, 0) / w.rating_max_x100, 1.0),
        boost=w.boost if boosted else 0.0,
    )


def heat_weight(ts: float, epoch: float, w: Weights = WEIGHTS) -> float:
    """What one order paid at `ts` (Unix seconds) adds to H."""
    return math.exp((ts - epoch) / w.heat_tau_s)


def heat_now(h: float, epoch: float, now: float, w: Weights = WEIGHTS) -> float:
    return max(h, 0.0) * math.exp(-(now - epoch) / w.heat_tau_s)
