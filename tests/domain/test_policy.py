"""Policy presets load; bad files are refused with a message naming the field (SPEC §12)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.domain.policy import (
    PRESETS,
    PRESETS_DIR,
    Policy,
    PolicyError,
    get_policy,
    load_policy,
    parse_policy,
)


def _preset(name: str = "zhongdian") -> dict[str, Any]:
    return tomllib.loads((PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8"))


def _refused(data: dict[str, Any]) -> PolicyError:
    with pytest.raises(PolicyError) as exc:
        parse_policy(data, "test.toml")
    return exc.value


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_fits_in_the_discount(name: str) -> None:
    p = load_policy(name)
    assert isinstance(p, Policy) and p.name == name
    assert p.d_shares_at_min_bps() <= 10_000
    assert p.pools["consumer"].virtual_start_points > 0


def test_presets_follow_their_seeds() -> None:
    zd, wd, pc = (load_policy(n) for n in PRESETS)
    assert (zd.merchant.discount_min_bps, zd.merchant.discount_max_bps) == (300, 2000)
    assert (zd.release.base_rate_bps, zd.release.growth_threshold_bps) == (50, 1500)
    assert (zd.release.min_interval_days, zd.release.max_interval_days) == (10, 15)
    assert (zd.release.exit_multiple, zd.release.max_releases) == (5, 40)
    assert zd.release.cohort_bonus.enabled and zd.release.cohort_bonus.at_release == 36
    assert zd.release.recruit_subsidy_bps == 1000 and zd.release.voucher_share_bps == 10_000
    assert wd.merchant.discount_min_bps == wd.merchant.discount_max_bps == 2000
    assert wd.pools["consumer"].virtual_start_points == 1_000_000 * 100
    assert wd.pools["merchant"].virtual_start_points == 10_000_000 * 100
    assert wd.settlement.invite_rates_bps == [500] and wd.settlement.bind_rate_bps == 500
    assert wd.order.coin_rate_bps > 0 and wd.release.max_interval_days <= 31
    assert (pc.merchant.discount_min_bps, pc.merchant.discount_max_bps) == (400, 4800)
    assert pc.order.points_basis == "amount" and pc.release.voucher_share_bps == 8000
    assert len(pc.settlement.invite_rates_bps) == 2 and pc.release.show_point_value


def test_get_policy_follows_settings(settings, monkeypatch) -> None:
    from app.domain.policy import clear_policy_cache

    monkeypatch.setattr(settings, "policy", "wodian")
    clear_policy_cache()
    try:
        assert get_policy().name == "wodian"
        assert get_policy() is get_policy()
    finally:
        monkeypatch.undo()
        clear_policy_cache()


def test_a_path_to_a_file_loads(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        (PRESETS_DIR / "wodian.toml")
        .read_text(encoding="utf-8")
        .replace('name = "wodian"', 'name = "mine"'),
        encoding="utf-8",
    )
    assert load_policy(str(f)).name == "mine"


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(PolicyError) as exc:
        load_policy("nope")
    assert exc.value.field == "POLICY"


def test_three_referral_levels_are_refused() -> None:
    data = _preset("pingchuan")
    data["settlement"]["invite_rates_bps"] = [50, 20, 10]
    err = _refused(data)
    assert err.field == "settlement.invite_rates_bps"
    assert "two" in err.message


def test_shares_over_the_discount_are_refused() -> None:
    # given 众店 at 3% minimum discount, a 3% invite rate alone takes all of D
    data = _preset("zhongdian")
    data["settlement"]["invite_rates_bps"] = [300]
    err = _refused(data)
    assert err.field == "settlement" and "do not fit" in err.message


def test_bind_rate_on_amount_basis_counts_against_d_at_min_discount() -> None:
    data = _preset("pingchuan")
    data["settlement"]["bind_rate_bps"] = 200  # 2% of A = 50% of D at 4%: too much
    assert _refused(data).field == "settlement"
    data["settlement"]["bind_rate_bps"] = 50  # 12.5% of D: fits
    assert parse_policy(data).settlement.bind_rate_bps == 50


def test_agent_shares_above_platform_fee_are_refused() -> None:
    data = _preset("zhongdian")
    data["settlement"]["agent_share_bps"] = {"province": 1500, "city": 1000}
    assert _refused(data).field == "settlement.agent_share_bps"


@pytest.mark.parametrize(
    ("section", "key", "value", "field"),
    [
        ("release", "min_interval_days", 20, "release.min_interval_days"),
        ("merchant", "discount_min_bps", 2500, "merchant.discount_min_bps"),
        ("release", "base_rate_bps", 20_000, "release.base_rate_bps"),
        ("release", "base_rate_bps", -1, "release.base_rate_bps"),
        ("release", "on_max_releases", "forever", "release.on_max_releases"),
        ("order", "points_basis", "vibes", "order.points_basis"),
        ("release", "voucher_shares_bps", 100, "release.voucher_shares_bps"),
    ],
)
def test_bad_values_name_their_field(section: str, key: str, value: Any, field: str) -> None:
    data = _preset("zhongdian")
    data[section][key] = value
    err = _refused(data)
    assert err.field == field, err.message
    assert field in err.message


def test_overlapping_interval_ranges_are_refused() -> None:
    data = _preset("pingchuan")
    data["release"]["interval_ranges"][1]["from_release"] = 15
    assert _refused(data).field == "release.interval_ranges.1.from_release"


def test_intervals_change_by_release_number() -> None:
    p = load_policy("pingchuan")
    assert p.release.intervals_for(20) == (10, 15)
    assert p.release.intervals_for(21) == (15, 30)


@pytest.mark.parametrize(
    ("caps", "field"),
    [
        ({"wechatpay": 0}, "split_caps.wechatpay"),  # a channel that takes nothing
        ({"alipay": 10_001}, "split_caps.alipay"),  # more than the cash
        ({"paypal": 3_000}, "split_caps.paypal"),  # no such channel
    ],
)
def test_split_caps_are_validated_at_load(caps: dict[str, int], field: str) -> None:
    data = _preset()
    data["split_caps"] = {**data["split_caps"], **caps}
    assert _refused(data).field == field


def test_split_caps_per_channel() -> None:
    caps = load_policy("zhongdian").split_caps
    assert [caps.of(c) for c in ("wechatpay", "alipay", "allinpay", "joinpay", "sandbox")] == [
        3_000,
        3_000,
        3_000,
        3_000,
        10_000,
    ]
    assert caps.of("voucher") == 0  # an order paid wholly with vouchers splits nothing
