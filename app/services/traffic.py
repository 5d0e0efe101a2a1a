"""Traffic points (流量积分, SPEC §8): merchant tasks earn them, exposure boosts spend them.

Tasks come from the policy (`traffic.tasks`: code, metric, threshold, points). A task
pays once per merchant per period: the ISO week (Asia/Shanghai) for the `*_week`
metrics, `all` (once ever) for `merchants_recruited`. The ledger entry carries the
idempotency key `traffic:<merchant>:<task>:<period>`, so a task never pays twice even
if two events race. A refund that brings a week's count back under a threshold does not
claw back a reward already paid.

A boost costs `traffic.boost_points_per_hour` per hour, at most `boost_max_hours`
ahead of now; a new boost while one runs extends it. Points go back to the issuer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app.adapters.discovery import index
from app.adapters.discovery.errors import DiscoveryErrorCode
from app.adapters.discovery.heatmap import bump_counter, week_period
from app.domain import ledger
from app.domain.ledger import Entry, Post, acct
from app.domain.policy import get_policy
from app.infra.errors import DomainError, NotFound, PermissionDenied
from app.infra.sql import fetch
from app.models.geo import ExposureBoost, TaskEvent, TaskReward
from app.models.ledger import Asset
from app.models.merchants import Merchant, MerchantStatus

log = logging.getLogger(__name__)

ALL_TIME = "all"


async def pay_due_tasks(merchant_id: int, metric: str, period: str, value: int) -> list[str]:
    """Pay every task of `metric` whose threshold `value` reaches, once per period."""
    paid = []
    for task in get_policy().traffic.tasks:
        if task.metric != metric or value < task.threshold:
            continue
        if await TaskReward.exists(merchant_id=merchant_id, task_code=task.code, period=period):
            continue
        async with in_transaction() as conn:
            entry = await ledger.post(
                Entry(
                    "traffic_task",
                    f"merchant:{merchant_id}",
                    [
                        Post(
                            acct.issuer(Asset.TRAFFIC_POINTS),
                            acct.merchant_traffic_points(merchant_id),
                            task.points,
                        )
                    ],
                    idem_key=f"traffic:{merchant_id}:{task.code}:{period}",
                    memo=f"task {task.code} {period}",
                ),
                conn=conn,
            )
            await TaskReward.create(
                merchant_id=merchant_id,
                task_code=task.code,
                period=period,
                points=task.points,
                ledger_entry_id=entry.id,
                using_db=conn,
            )
        paid.append(task.code)
    return paid


async def merchant_recruited(recruiter_user_id: int) -> list[str]:
    """Recount the approved merchants a user brought in; reward that user's merchant."""
    count = await Merchant.filter(
        recruiter_user_id=recruiter_user_id, status=MerchantStatus.APPROVED
    ).count()
    own = (
        await Merchant.filter(owner_id=recruiter_user_id, status=MerchantStatus.APPROVED)
        .order_by("id")
        .first()
    )
    if own is None:  # traffic points belong to merchants; a plain user earns none here
        return []
    async with in_transaction() as conn:
        await fetch(
            conn,
            "INSERT INTO geo_task_counters (merchant_id, metric, period, value) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (merchant_id, metric, period) "
            "DO UPDATE SET value = excluded.value",
            [own.id, "merchants_recruited", ALL_TIME, count],
        )
    return await pay_due_tasks(own.id, "merchants_recruited", ALL_TIME, count)


async def review_posted(merchant_id: int, review_key: str, at: datetime | None = None) -> list[str]:
    """Count a review once (by its key) towards the merchant's weekly review tasks."""
    at = at or datetime.now(UTC)
    period = week_period(at)
    async with in_transaction() as conn:
        if (
            await TaskEvent.filter(metric="reviews_week", event_key=review_key)
            .using_db(conn)
            .exists()
        ):
            return []
        await TaskEvent.create(
            metric="reviews_week", event_key=review_key, merchant_id=merchant_id, using_db=conn
        )
        value = await bump_counter(conn, merchant_id, "reviews_week", period, 1)
    return await pay_due_tasks(merchant_id, "reviews_week", period, value)


async def owned_merchant(user_id: int, role: str, merchant_id: int | None) -> Merchant:
    """The merchant a boost is for: the caller must own it (admins may act for any)."""
    if merchant_id is None:
        mine = await Merchant.filter(owner_id=user_id).order_by("id").limit(2)
        if len(mine) != 1:
            raise DomainError(
                "INVALID", "say which merchant: you own none or several", "merchantId"
            )
        return mine[0]
    m = await Merchant.get_or_none(id=merchant_id)
    if m is None:
        raise NotFound("merchant", "merchantId")
    if m.owner_id != user_id and role != "admin":
        raise PermissionDenied("only the merchant's owner can spend its traffic points")
    return m


async def boost_exposure(
    merchant: Merchant,
    *,
    points: int,
    hours: int,
    by_user_id: int,
    idempotency_key: str,
    now: datetime | None = None,
) -> ExposureBoost:
    """Spend `points` traffic points for `hours` hours of ranking boost, once per
    `idempotency_key` (a repeat returns the same boost; the key with other terms is
    refused)."""
    traffic = get_policy().traffic
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "idempotencyKey is required (1-64 chars)", "idempotencyKey")
    if merchant.status != MerchantStatus.APPROVED:
        raise DomainError(
            "MERCHANT_NOT_ACTIVE", "only an approved merchant can be boosted", "merchantId"
        )
    if not 1 <= hours <= traffic.boost_max_hours:
        raise DomainError(
            "BOOST_TOO_LONG", f"hours must be between 1 and {traffic.boost_max_hours}", "hours"
        )
    price = traffic.boost_points_per_hour * hours
    if points != price:
        raise DomainError(
            "PRICE_MISMATCH", f"{hours} hours cost {price} traffic points (centi)", "points"
        )
    idem = f"boost:{merchant.id}:{key}"
    done = await _same_boost(idem, points, hours)
    if done is not None:
        return done
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        # One boost at a time per merchant: the merchant row is the lock (a model query:
        # Tortoise drops FOR UPDATE from `.values()` queries).
        await Merchant.filter(id=merchant.id).select_for_update().using_db(conn).first()
        done = await _same_boost(idem, points, hours, conn)  # a twin request got here first
        if done is not None:
            return done
        current = (
            await ExposureBoost.filter(merchant_id=merchant.id, ends_at__gt=now)
            .using_db(conn)
            .order_by("-ends_at")
            .first()
        )
        starts = current.ends_at if current else now
        ends = starts + timedelta(hours=hours)
        if ends - now > timedelta(hours=traffic.boost_max_hours):
            raise DomainError(
                "BOOST_TOO_LONG",
                f"a boost may run at most {traffic.boost_max_hours} hours ahead",
                "hours",
            )
        try:
            entry = await ledger.post(
                Entry(
                    "traffic_boost",
                    f"merchant:{merchant.id}",
                    [
                        Post(
                            acct.merchant_traffic_points(merchant.id),
                            acct.issuer(Asset.TRAFFIC_POINTS),
                            points,
                        )
                    ],
                    idem_key=idem,
                    memo=f"boost {hours}h",
                ),
                conn=conn,
            )
        except ledger.Overdraft as short:
            raise DomainError(short.code, short.message, "points") from None
        boost = await ExposureBoost.create(
            merchant_id=merchant.id,
            points=points,
            hours=hours,
            starts_at=starts,
            ends_at=ends,
            idem_key=idem,
            ledger_entry_id=entry.id,
            created_by_id=by_user_id,
            using_db=conn,
        )
    try:
        await index.sync_merchant(merchant.id)
    except Exception:  # noqa: BLE001 - the boost is paid; the next sync or rebuild shows it
        log.exception("geo index sync after boost failed for merchant %s", merchant.id)
    return boost


async def _same_boost(idem: str, points: int, hours: int, conn: Any = None) -> ExposureBoost | None:
    done = await ExposureBoost.filter(idem_key=idem).using_db(conn).first()
    if done is not None and (done.points, done.hours) != (points, hours):
        raise DomainError(
            DiscoveryErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for another boost",
            "idempotencyKey",
        )
    return done


async def traffic_balance(merchant_id: int) -> int:
    return await ledger.balance_of(acct.merchant_traffic_points(merchant_id))
