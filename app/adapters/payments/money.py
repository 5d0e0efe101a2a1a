"""Fen inside, yuan strings only at a provider's edge; times in Asia/Shanghai."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_YUAN_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")


def fen_to_yuan(fen: int) -> str:
    """12345 -> "123.45" (exact, never through a float)."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
        raise ValueError("amounts are non-negative integer fen")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(yuan: str) -> int:
    """ "123.45" -> 12345; anything but a plain non-negative decimal with <= 2 places is refused."""
    text = str(yuan).strip()
    if not _YUAN_RE.fullmatch(text):
        raise ValueError("not a yuan amount")
    return int(Decimal(text) * 100)


def now_shanghai() -> datetime:
    return datetime.now(SHANGHAI)


def rfc3339(dt: datetime) -> str:
    """WeChat's time format: 2026-11-22T20:00:00+08:00."""
    return dt.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


def plain_time(dt: datetime) -> str:
    """Alipay / aggregator format: 2026-11-22 20:00:00 (Shanghai wall time)."""
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def compact_time(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def expire_at(minutes: int) -> datetime:
    return now_shanghai() + timedelta(minutes=minutes)
