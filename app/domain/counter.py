"""The counter (SPEC §13): what a POS's scan of a member code leaves it to open orders
with, and what the counter is shown of the consumer.

A scan is kept in Redis for `COUNTER_SCAN_TTL_S` under a random handle (`scanId`) the
POS holds: the store it was scanned at, the consumer found, who scanned. Whoever serves
that store (its devices, owner and staff) may open orders with it; to anyone else it
does not exist.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from app.infra.config import get_settings
from app.infra.errors import DomainError, error_codes
from app.infra.redis import get_redis

CounterErrorCode = error_codes(
    "CounterErrorCode",
    "MEMBER_CODE_INVALID",
    "MEMBER_CODE_EXPIRED",
    "MEMBER_CODE_USED",
    "MERCHANT_NOT_OPEN",
    "SCAN_EXPIRED",
    "SELF_PURCHASE",
    "AMOUNT_INVALID",
    "AMOUNT_TOO_LARGE",
    "IDEMPOTENCY_KEY_REUSED",
    "MERCHANT_UNAVAILABLE",
)

SCAN_ID_MAX = 64


@dataclass(frozen=True, slots=True)
class Scan:
    scan_id: str
    merchant_id: int
    consumer_id: int
    scanned_by: str  # the scanner's principal key ("device:3", "user:9")
    expires_at: datetime


def _key(scan_id: str) -> str:
    return f"counter:scan:{scan_id}"


async def open_scan(merchant_id: int, consumer_id: int, scanned_by: str) -> Scan:
    ttl = get_settings().counter_scan_ttl_s
    scan_id = secrets.token_urlsafe(18)
    record = {"m": merchant_id, "c": consumer_id, "by": scanned_by}
    await get_redis().set(_key(scan_id), json.dumps(record), ex=ttl)
    expires = datetime.fromtimestamp(int(time.time()) + ttl, UTC)
    return Scan(scan_id, merchant_id, consumer_id, scanned_by, expires)


async def find_scan(scan_id: str, merchant_id: int) -> Scan | None:
    """The scan, if it is still kept and was made at this store."""
    scan_id = (scan_id or "").strip()
    if not scan_id or len(scan_id) > SCAN_ID_MAX:
        return None
    redis = get_redis()
    raw, ttl = await redis.get(_key(scan_id)), await redis.ttl(_key(scan_id))
    if raw is None:
        return None
    record = json.loads(raw)
    if record["m"] != merchant_id:
        return None
    expires = datetime.fromtimestamp(int(time.time()) + max(ttl, 0), UTC)
    return Scan(scan_id, merchant_id, int(record["c"]), str(record["by"]), expires)


def scan_expired() -> DomainError:
    return DomainError(
        CounterErrorCode.SCAN_EXPIRED, "this scan has expired; scan the member code again", "scanId"
    )


def masked_name(nickname: str) -> str:
    """Enough for the cashier to greet the consumer, not to identify them."""
    name = (nickname or "").strip()
    if not name:
        return ""
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def phone_tail(phone: str | None) -> str | None:
    """The last four digits, as receipts print them."""
    return phone[-4:] if phone and len(phone) >= 4 else None
