"""The platform policy: every number of SPEC §3, §4, §6–§8 as a validated parameter.

A policy is a TOML file. `POLICY` (settings.policy) names a shipped preset
(`zhongdian`, `wodian`, `pingchuan`, in `policies/`) or a path to an operator's own
file. Loading validates every rule (SPEC §12) and refuses a bad file with a message
naming the field, e.g. ``settlement.invite_rates_bps: at most two referral levels``.

Rates are integer basis points (10000 = 100%); points are centi-points.

    from app.domain.policy import get_policy
    p = get_policy()
    p.order.max_amount_fen, p.settlement.platform_fee_bps, p.release.base_rate_bps
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.infra.config import get_settings
from app.infra.errors import DomainError, error_codes

PolicyErrorCode = error_codes("PolicyErrorCode", "INVALID_POLICY")

BPS = 10_000
PRESETS_DIR = Path(__file__).resolve().parents[2] / "policies"
PRESETS = ("zhongdian", "wodian", "pingchuan")

Bps = Annotated[int, Field(ge=0, le=BPS)]
PosBps = Annotated[int, Field(gt=0, le=BPS)]


class PolicyError(DomainError):
    """A policy file that breaks a rule: `field` is the dotted path of the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        text = f"{field}: {message}" if field else message
        super().__init__(PolicyErrorCode.INVALID_POLICY, text, field)


class _Strict(BaseModel):
    # Unknown keys are refused: a typo in an operator's file must not pass silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class MerchantPolicy(_Strict):
    discount_min_bps: PosBps  # 让利 lower bound
    discount_max_bps: PosBps
    discount_default_bps: PosBps

    @model_validator(mode="after")
    def _range(self) -> MerchantPolicy:
        if self.discount_min_bps > self.discount_max_bps:
            raise _FieldError("discount_min_bps", "must not exceed discount_max_bps")
        if not self.discount_min_bps <= self.discount_default_bps <= self.discount_max_bps:
            raise _FieldError("discount_default_bps", "must lie in [discount_min, discount_max]")
        return self


class OrderPolicy(_Strict):
    max_amount_fen: Annotated[int, Field(gt=0)]
    max_voucher_share_bps: Bps = BPS
    vouchers_earn_points: bool = False
    settle_days: Annotated[int, Field(ge=0, le=90)] = 7
    # lot points = basis * C / A, 1 fen of basis = 1 centi-point
    points_basis: Literal["discount", "amount"] = "discount"
    coin_rate_bps: Bps = 0  # 金币 (centi) = C_fen * coin_rate / 10000; 0 = off


class SettlementPolicy(_Strict):
    platform_fee_bps: Bps  # share of D
    # province | city | district, share of D paid out of the platform fee
    agent_share_bps: dict[Literal["province", "city", "district"], Bps] = Field(
        default_factory=dict
    )
    invite_rates_bps: list[Bps] = Field(default_factory=list)  # of A, at most two levels
    bind_rate_bps: Bps = 0  # of the consumer lot's points, as vouchers to the bound merchant
    consumer_pool_share_bps: Bps | None = None  # None = in proportion to points

    @model_validator(mode="after")
    def _shares(self) -> SettlementPolicy:
        if len(self.invite_rates_bps) > 2:
            raise _FieldError("invite_rates_bps", "at most two referral levels (两级) are allowed")
        agents = sum(self.agent_share_bps.values())
        if agents > self.platform_fee_bps:
            raise _FieldError(
                "agent_share_bps",
                f"agent shares ({agents} bps of D) exceed the platform fee "
                f"({self.platform_fee_bps} bps)",
            )
        return self


class PoolPolicy(_Strict):
    virtual_start_points: Annotated[int, Field(gt=0)]  # centi-points


class IntervalRange(_Strict):
    """Release intervals for release numbers `from_release`..`to_release` (inclusive)."""

    from_release: Annotated[int, Field(ge=1)]
    to_release: Annotated[int, Field(ge=1)] | None = None
    min_interval_days: Annotated[int, Field(ge=0)]
    max_interval_days: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _order(self) -> IntervalRange:
        if self.min_interval_days > self.max_interval_days:
            raise _FieldError("min_interval_days", "must not exceed max_interval_days")
        if self.to_release is not None and self.to_release < self.from_release:
            raise _FieldError("to_release", "must not be below from_release")
        return self


class CohortBonusPolicy(_Strict):
    enabled: bool = False
    at_release: Annotated[int, Field(ge=1)] = 36
    cohorts: Annotated[int, Field(ge=1)] = 36  # cohorts 1..cohorts share the bonus
    per_cohort_bps: Bps = 100  # of pool:available, to each cohort


class ReleasePolicy(_Strict):
    base_rate_bps: PosBps  # 0.5% = 50
    growth_threshold_bps: Annotated[int, Field(ge=0, le=10 * BPS)]  # 15% = 1500
    min_interval_days: Annotated[int, Field(ge=0)]
    max_interval_days: Annotated[int, Field(ge=1)]
    interval_ranges: list[IntervalRange] = Field(default_factory=list)
    max_index_growth_bps: Annotated[int, Field(ge=0, le=10 * BPS)] | None = None
    exit_multiple: Annotated[int, Field(ge=1, le=100)] = 5
    max_releases: Annotated[int, Field(ge=1)] = 40
    on_max_releases: Literal["expire", "pay_remainder"] = "expire"
    voucher_share_bps: Bps = BPS  # the rest is paid as shopping points
    recruit_subsidy_bps: Bps = 0  # 招商补贴, of releases paid to the merchant's lots
    cohort_bonus: CohortBonusPolicy = Field(default_factory=CohortBonusPolicy)
    payout_cap_bps: PosBps = BPS  # of pool:available, one release at most (正波比)
    # optional safety valves
    release_cap_of_new_consumption_bps: Bps | None = None
    holder_monthly_cap_bps: Annotated[int, Field(ge=0)] | None = None
    show_point_value: bool = False  # 平川: pool:available / active points
    batch_size: Annotated[int, Field(ge=100, le=1_000_000)] = 50_000

    @model_validator(mode="after")
    def _intervals(self) -> ReleasePolicy:
        if self.min_interval_days > self.max_interval_days:
            raise _FieldError("min_interval_days", "must not exceed max_interval_days")
        prev_end = 0
        for i, r in enumerate(sorted(self.interval_ranges, key=lambda r: r.from_release)):
            if r.from_release <= prev_end:
                raise _FieldError(f"interval_ranges.{i}.from_release", "ranges overlap")
            prev_end = r.to_release if r.to_release is not None else 10**9
        return self

    def intervals_for(self, release_no: int) -> tuple[int, int]:
        """(min, max) interval days before release number `release_no`."""
        for r in self.interval_ranges:
            if r.from_release <= release_no and (
                r.to_release is None or release_no <= r.to_release
            ):
                return r.min_interval_days, r.max_interval_days
        return self.min_interval_days, self.max_interval_days


class TrafficTask(_Strict):
    code: str
    metric: Literal["orders_served_week", "merchants_recruited", "reviews_week"]
    threshold: Annotated[int, Field(ge=1)]
    points: Annotated[int, Field(ge=1)]  # centi traffic points


class TrafficPolicy(_Strict):
    tasks: list[TrafficTask] = Field(default_factory=list)
    boost_points_per_hour: Annotated[int, Field(ge=1)] = 1000
    boost_max_hours: Annotated[int, Field(ge=1)] = 72


class MallPolicy(_Strict):
    """The mall (SPEC §14.1): which asset its catalogue is priced in (None: no mall)."""

    asset: Literal["GOLD_COINS", "SHOPPING_POINTS"] | None = None
    max_quantity: Annotated[int, Field(ge=1, le=1000)] = 10  # items in one redemption


class ReviewPolicy(_Strict):
    """How a store's rating follows its reviews (SPEC §14.2): a Bayesian average, as if
    every store had `prior_weight` reviews at the platform's mean besides its own, so a
    store with few reviews sits near the mean. `prior_mean_x100` stands for the mean
    while the platform has no reviews at all."""

    prior_weight: Annotated[int, Field(ge=0, le=1000)] = 5
    prior_mean_x100: Annotated[int, Field(ge=100, le=500)] = 450


class SplitCapPolicy(_Strict):
    """What each channel lets the platform take from one payment by profit sharing, in
    bps of the cash paid (SPEC §9 "Split caps"). A channel that reports a merchant's own
    maximum (WeChat Pay's merchant-configs) is asked instead, per merchant; this is then
    only the estimate written on the payment before its split."""

    wechatpay: PosBps = 3_000  # WeChat Pay's default maximum
    alipay: PosBps = 3_000  # Alipay's default maximum for 交易分账
    allinpay: PosBps = 3_000
    joinpay: PosBps = 3_000
    sandbox: PosBps = BPS

    def of(self, channel: str) -> int:
        """The cap of a channel; one this policy does not name takes nothing."""
        return int(getattr(self, channel, 0)) if channel in type(self).model_fields else 0


class Policy(_Strict):
    name: str
    description: str = ""
    merchant: MerchantPolicy
    order: OrderPolicy
    settlement: SettlementPolicy
    pools: dict[Literal["consumer", "merchant"], PoolPolicy]
    release: ReleasePolicy
    traffic: TrafficPolicy = Field(default_factory=TrafficPolicy)
    split_caps: SplitCapPolicy = Field(default_factory=SplitCapPolicy)
    mall: MallPolicy = Field(default_factory=MallPolicy)
    reviews: ReviewPolicy = Field(default_factory=ReviewPolicy)

    @model_validator(mode="after")
    def _fits_in_discount(self) -> Policy:
        if set(self.pools) != {"consumer", "merchant"}:
            raise _FieldError("pools", "needs exactly the consumer and merchant pools")
        used = self.d_shares_at_min_bps()
        if used > BPS:
            d_min = self.merchant.discount_min_bps
            raise _FieldError(
                "settlement",
                f"shares of D do not fit at the minimum discount {d_min} bps: platform fee "
                f"+ invite rates + bind rate = {used / 100:.2f}% of D (max 100%)",
            )
        if self.mall.asset == "GOLD_COINS" and not self.order.coin_rate_bps:
            raise _FieldError("mall", "a gold-coin mall needs order.coin_rate_bps above 0")
        if self.mall.asset == "SHOPPING_POINTS" and self.release.voucher_share_bps == BPS:
            raise _FieldError(
                "mall", "a shopping-points mall needs release.voucher_share_bps below 100%"
            )
        return self

    def d_shares_at_min_bps(self) -> float:
        """Platform fee + referral + bind rewards as a share of D at the minimum discount."""
        d_min = self.merchant.discount_min_bps
        invite = sum(self.settlement.invite_rates_bps) * BPS / d_min  # of A -> of D
        # bind is of the consumer's points: points ≤ D (basis discount) or ≤ A (basis amount)
        bind: float = self.settlement.bind_rate_bps
        if self.order.points_basis == "amount":
            bind = bind * BPS / d_min
        return self.settlement.platform_fee_bps + invite + bind

    @property
    def point_value_shown(self) -> bool:
        return self.release.show_point_value


class _FieldError(ValueError):
    """Raised inside validators to name the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _to_policy_error(exc: ValidationError, source: str) -> PolicyError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    ctx_err = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_err, _FieldError):
        field = f"{loc}.{ctx_err.field}" if loc else ctx_err.field
        return PolicyError(f"{ctx_err.message} (in {source})", field)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    return PolicyError(f"{msg} (in {source})", loc or None)


def parse_policy(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Validate a policy given as a dict (the parsed TOML)."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise _to_policy_error(exc, source) from None


def policy_path(name_or_path: str) -> Path:
    """The file a preset name or a path stands for (which may not exist)."""
    return PRESETS_DIR / f"{name_or_path}.toml" if name_or_path in PRESETS else Path(name_or_path)


def load_policy(name_or_path: str) -> Policy:
    """A preset name or a path to a TOML file, validated. Raises PolicyError."""
    path = policy_path(name_or_path)
    if not path.is_file():
        raise PolicyError(
            f"no policy file {name_or_path!r}: use one of {', '.join(PRESETS)} or a .toml path",
            "POLICY",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc} (in {path.name})", "POLICY") from None
    return parse_policy(data, path.name)


@lru_cache(maxsize=8)
def _cached(name_or_path: str) -> Policy:
    return load_policy(name_or_path)


def get_policy() -> Policy:
    """The active policy (settings.policy), loaded once per process."""
    return _cached(get_settings().policy)


def clear_policy_cache() -> None:
    _cached.cache_clear()
