"""Coordinate conversions against the reference points of wandergis/coordtransform
(test/app.js), and round trips inside the mainland."""

from __future__ import annotations

import pytest

from app.infra.coords import CoordSystem, convert, haversine_m, out_of_china

LAT, LNG = 39.915, 116.404  # Tiananmen, the reference input


def test_wgs84_to_gcj02_matches_reference():
    assert convert(LAT, LNG, "WGS84", "GCJ02") == pytest.approx(
        (39.91640428150164, 116.41024449916938), abs=1e-9
    )


def test_gcj02_to_bd09_matches_reference():
    assert convert(LAT, LNG, "GCJ02", "BD09") == pytest.approx(
        (39.92133699351021, 116.41036949371029), abs=1e-9
    )


def test_bd09_to_gcj02_within_a_metre_of_reference():
    # the reference uses the one-step approximate inverse; ours is refined further
    lat, lng = convert(LAT, LNG, "BD09", "GCJ02")
    assert haversine_m(lat, lng, 39.90865673957631, 116.39762729119315) < 1.0


def test_gcj02_to_wgs84_within_a_metre_of_reference_and_exact_forward():
    lat, lng = convert(LAT, LNG, "GCJ02", "WGS84")
    assert haversine_m(lat, lng, 39.91359571849836, 116.39775550083061) < 1.0
    # and ours is an exact inverse: forward again lands on the input
    back = convert(lat, lng, "WGS84", "GCJ02")
    assert haversine_m(*back, LAT, LNG) < 0.001


MAINLAND = [
    (39.915, 116.404),  # Beijing
    (31.2304, 121.4737),  # Shanghai
    (22.5431, 114.0579),  # Shenzhen
    (30.5728, 104.0668),  # Chengdu
    (43.8256, 87.6168),  # Urumqi
    (45.8038, 126.5350),  # Harbin
    (18.2528, 109.5119),  # Sanya
    (29.6520, 91.1721),  # Lhasa
]


@pytest.mark.parametrize("lat,lng", MAINLAND)
@pytest.mark.parametrize("other", ["WGS84", "BD09"])
@pytest.mark.parametrize("start", ["WGS84", "GCJ02", "BD09"])
def test_round_trip_within_one_metre(lat, lng, start, other):
    if start == other:
        return
    there = convert(lat, lng, start, other)
    back = convert(*there, other, start)
    assert haversine_m(*back, lat, lng) < 1.0
    assert haversine_m(*there, lat, lng) > 10.0  # and it did move: the shift is real


@pytest.mark.parametrize("lat,lng", [(51.5007, -0.1246), (40.6892, -74.0445), (35.6586, 139.7454)])
def test_outside_china_gcj02_passes_through(lat, lng):
    assert out_of_china(lat, lng)
    assert convert(lat, lng, CoordSystem.WGS84, CoordSystem.GCJ02) == (lat, lng)
    assert convert(lat, lng, CoordSystem.GCJ02, CoordSystem.WGS84) == (lat, lng)
