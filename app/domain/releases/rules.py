"""The release rules as pure functions (SPEC §4). The set-based engine, the lot
projection and the simulator all use these; the SQL batch form computes the very same
integers (exact integer division on scaled indexes, see `lot_units`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

from app.domain.policy import BPS, Policy, ReleasePolicy
from app.domain.releases.calendar import next_working_day

INDEX_PLACES = 30  # the pool index is kept at 30 decimals ...
INDEX_SHOWN = 18  # ... and shown (and copied onto lots) at 18
INDEX_SCALE = 10**INDEX_PLACES
GROWTH_PLACES = 18
SCALE_PLACES = 18
SCALE_ONE = 10**SCALE_PLACES

_Q_INDEX = Decimal(1).scaleb(-INDEX_PLACES)
_Q_SHOWN = Decimal(1).scaleb(-INDEX_SHOWN)
_Q_GROWTH = Decimal(1).scaleb(-GROWTH_PLACES)


def index_int(index: Decimal) -> int:
    """The index as an integer of 1e-30 units (exact)."""
    with localcontext() as ctx:
        ctx.prec = 100
        return int(index.quantize(_Q_INDEX, rounding=ROUND_HALF_EVEN).scaleb(INDEX_PLACES))


def shown_index(index: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 100
        return index.quantize(_Q_SHOWN, rounding=ROUND_HALF_EVEN)


def index_ratio(index_k: Decimal, index_f: Decimal) -> Decimal:
    """I_k / I_f, shown at 18 decimals."""
    with localcontext() as ctx:
        ctx.prec = 100
        return (index_k / index_f).quantize(_Q_SHOWN, rounding=ROUND_HALF_EVEN)


def growth(size: int, prev_size: int) -> Decimal:
    """g = (S - S0) / S0, truncated to 18 decimals."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(size - prev_size) / Decimal(prev_size)).quantize(
            _Q_GROWTH, rounding=ROUND_DOWN
        )


def index_growth(g: Decimal, rp: ReleasePolicy) -> Decimal:
    """min(g, max_index_growth); the index never falls (a shrinking pool adds 0)."""
    g = max(g, Decimal(0))
    if rp.max_index_growth_bps is not None:
        g = min(g, Decimal(rp.max_index_growth_bps) / BPS)
    return g


def next_index(index: Decimal, release_no: int, g_index: Decimal) -> Decimal:
    """I_k = I_k-1 * (1 + min(g, max)); the first release of a pool sets I_1 = 1."""
    with localcontext() as ctx:
        ctx.prec = 100
        if release_no <= 1:
            return Decimal(1).quantize(_Q_INDEX)
        return (index * (1 + g_index)).quantize(_Q_INDEX, rounding=ROUND_HALF_EVEN)


def lot_units(points: int, base_rate_bps: int, index_k: Decimal, index_f: Decimal) -> int:
    """floor(P * base_rate * I_k / I_f), exactly (integer arithmetic on 1e-30 indexes)."""
    return (points * base_rate_bps * index_int(index_k)) // (index_int(index_f) * BPS)


@dataclass(frozen=True)
class LotPayment:
    formula_units: int  # before scaling
    paid_units: int
    voucher_units: int
    shopping_units: int
    subsidy_units: int
    status_after: str  # active | exited | expired


def pay_lot(
    *,
    points: int,
    released_units: int,
    release_count: int,
    index_k: Decimal,
    index_f: Decimal,
    rp: ReleasePolicy,
    scale_int: int = SCALE_ONE,
    has_recruiter: bool = False,
) -> LotPayment:
    """One lot at one release: formula, cap, last release rule, scale, split, subsidy."""
    cap_left = rp.exit_multiple * points - released_units
    last = release_count + 1 >= rp.max_releases
    if last and rp.on_max_releases == "pay_remainder":
        formula = cap_left
    else:
        formula = min(lot_units(points, rp.base_rate_bps, index_k, index_f), cap_left)
    formula = max(formula, 0)
    paid = formula * scale_int // SCALE_ONE
    voucher = paid * rp.voucher_share_bps // BPS
    subsidy = paid * rp.recruit_subsidy_bps // BPS if has_recruiter else 0
    if released_units + paid >= rp.exit_multiple * points:
        status = "exited"
    elif last:
        status = "expired"
    else:
        status = "active"
    return LotPayment(formula, paid, voucher, paid - voucher, subsidy, status)


def scale_factor(requested: int, budget: int) -> Decimal:
    """s = min(1, budget / requested), truncated so that the release never pays more."""
    if requested <= budget:
        return Decimal(1)
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(max(budget, 0)) / Decimal(requested)).quantize(
            Decimal(1).scaleb(-SCALE_PLACES), rounding=ROUND_DOWN
        )


def scale_int(s: Decimal) -> int:
    return int(s.scaleb(SCALE_PLACES))


# ------------------------------------------------------------------ trigger


@dataclass(frozen=True)
class TriggerState:
    release_count: int  # releases so far
    anchor_on: date  # the last release (or the pool's first evaluation)
    prev_size: int  # S0


@dataclass(frozen=True)
class TriggerDecision:
    met: bool
    trigger: str | None  # growth | max_interval
    condition_on: date | None
    due_on: date | None  # first working day after the condition day
    growth: Decimal
    min_interval_days: int
    max_interval_days: int
    earliest_on: date  # earliest day a growth release could fall on


def evaluate_trigger(
    state: TriggerState, size: int, at: date, rp: ReleasePolicy, overrides: str | None = None
) -> TriggerDecision:
    """Is the next release's condition met on day `at`? (SPEC §4 Trigger)"""
    min_days, max_days = rp.intervals_for(state.release_count + 1)
    g = growth(size, state.prev_size)
    days = (at - state.anchor_on).days
    threshold = Decimal(rp.growth_threshold_bps) / BPS
    earliest_cond = state.anchor_on + timedelta(days=min_days)
    earliest = next_working_day(earliest_cond, overrides)
    trigger, cond = None, None
    if days >= min_days and g >= threshold:
        trigger, cond = "growth", at
    elif days >= max_days:
        trigger, cond = "max_interval", state.anchor_on + timedelta(days=max_days)
    due = next_working_day(cond, overrides) if cond is not None else None
    return TriggerDecision(trigger is not None, trigger, cond, due, g, min_days, max_days, earliest)


# ------------------------------------------------------------------ projection


@dataclass(frozen=True)
class ProjectedRelease:
    release_no: int  # counted from the lot's first release (1 = f)
    index_multiplier: Decimal  # I_k / I_f, shown at 18 decimals
    units: int
    cumulative_units: int
    status: str


def project_lot(
    policy: Policy,
    *,
    points: int,
    released_units: int = 0,
    release_count: int = 0,
    index_f: Decimal | None = None,
    index_now: Decimal | None = None,
    growth_bps: int,
    pool_release_count: int = 0,
) -> list[ProjectedRelease]:
    """A lot's remaining schedule if every future release grows the pool by `growth_bps`.

    Uses `next_index` and `pay_lot`, the engine's own functions; assumes no scaling.
    Depends entirely on future growth: nothing here is promised.
    """
    rp = policy.release
    g = index_growth(Decimal(growth_bps) / BPS, rp)
    k = pool_release_count
    idx = index_now if index_now is not None else Decimal(1)
    i_f = index_f
    out: list[ProjectedRelease] = []
    cum, count, status = released_units, release_count, "active"
    while status == "active":
        k += 1
        idx = next_index(idx, k, g) if k > 1 else Decimal(1)
        if i_f is None:
            i_f = idx
        p = pay_lot(
            points=points,
            released_units=cum,
            release_count=count,
            index_k=idx,
            index_f=i_f,
            rp=rp,
        )
        cum += p.paid_units
        count += 1
        status = p.status_after
        out.append(ProjectedRelease(count, index_ratio(idx, i_f), p.paid_units, cum, status))
    return out
