"""Coordinate systems: WGS-84 (GPS), GCJ-02 (China's "Mars" datum: WeChat, Tencent,
Amap) and BD-09 (Baidu).

Merchants are stored in GCJ-02 (SPEC §8); every query says which system its input and
output use, and converts here, at the edge.

The forward transforms are the standard published algorithm, as used by the reference
implementations `wandergis/coordtransform` (JavaScript, test/app.js carries the
reference points our tests use) and `googollee/eviltransform`: the Krasovsky 1940
ellipsoid (a = 6378245.0, e^2 = 0.00669342162296594323), the polynomial+sine offsets in
`_delta`, the rough mainland bounding box for "outside China" (where GCJ-02 equals
WGS-84), and BD-09's polar shift around GCJ-02 (x_pi = pi * 3000 / 180).

The published inverses are single-step approximations (off by up to a few metres);
ours iterate the forward transform to a fixed point, so a round trip stays far within
1 m anywhere inside the mainland.
"""

from __future__ import annotations

import math
from enum import StrEnum

from app.models.merchants import CoordSystem

__all__ = ["CoordSystem", "convert", "haversine_m", "out_of_china"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_ITERATIONS = 30
_TOLERANCE_DEG = 1e-10  # ~0.01 mm


def out_of_china(lat: float, lng: float) -> bool:
    """The published rough mainland box: outside it GCJ-02 is not shifted."""
    return not (72.004 < lng < 137.8347 and 0.8293 < lat < 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _delta(lat: float, lng: float) -> tuple[float, float]:
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _delta(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Iterative inverse: find w with wgs84_to_gcj02(w) == (lat, lng)."""
    if out_of_china(lat, lng):
        return lat, lng
    wlat, wlng = lat, lng
    for _ in range(_ITERATIONS):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        elat, elng = lat - glat, lng - glng
        wlat, wlng = wlat + elat, wlng + elng
        if abs(elat) < _TOLERANCE_DEG and abs(elng) < _TOLERANCE_DEG:
            break
    return wlat, wlng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """The published closed-form inverse, then refined to a fixed point."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    glat, glng = z * math.sin(theta), z * math.cos(theta)
    for _ in range(_ITERATIONS):
        blat, blng = gcj02_to_bd09(glat, glng)
        elat, elng = lat - blat, lng - blng
        glat, glng = glat + elat, glng + elng
        if abs(elat) < _TOLERANCE_DEG and abs(elng) < _TOLERANCE_DEG:
            break
    return glat, glng


def convert(lat: float, lng: float, src: StrEnum | str, dst: StrEnum | str) -> tuple[float, float]:
    """(lat, lng) from one system to another, through GCJ-02."""
    src, dst = CoordSystem(str(src)), CoordSystem(str(dst))
    if src == dst:
        return lat, lng
    if src == CoordSystem.WGS84:
        lat, lng = wgs84_to_gcj02(lat, lng)
    elif src == CoordSystem.BD09:
        lat, lng = bd09_to_gcj02(lat, lng)
    if dst == CoordSystem.WGS84:
        return gcj02_to_wgs84(lat, lng)
    if dst == CoordSystem.BD09:
        return gcj02_to_bd09(lat, lng)
    return lat, lng


EARTH_RADIUS_M = 6372797.560856  # the radius Redis uses for GEODIST / GEOSEARCH


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (same sphere as Redis)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
