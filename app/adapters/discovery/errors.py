"""Error codes of discovery (nearby, heat map, traffic points, dashboards)."""

from __future__ import annotations

from app.infra.errors import error_codes

DiscoveryErrorCode = error_codes(
    "DiscoveryErrorCode",
    "INVALID_LOCATION",
    "CURSOR_EXPIRED",
    "PRICE_MISMATCH",
    "BOOST_TOO_LONG",
    "OVERDRAFT",
    "MERCHANT_NOT_ACTIVE",
    "AREA_TOO_LARGE",
    "IDEMPOTENCY_KEY_REUSED",
)
