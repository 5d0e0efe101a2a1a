"""The settlement job: orders whose refund window has passed get their pending shares
finalised and their point lots activated (SPEC §3.5)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from app.domain.orders import settle_due

log = logging.getLogger(__name__)


async def activate_due_lots(ctx: dict[str, Any] | None = None, at: date | None = None) -> int:
    """Idempotent: an order is settled once, whenever and however often this runs."""
    settled = await settle_due(at)
    if settled:
        log.info("settled %s orders", settled)
    return settled
