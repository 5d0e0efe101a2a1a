"""Merchants: apply, approve, suspend, update, discount rate, staff, POS devices,
scan-to-bind (SPEC §1, §3, §6); invitations are app/domain/referrals.py."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import audit, ledger, regions, sessions
from app.domain.audit import OPERATOR, Actor
from app.domain.ledger import Entry, Post, acct
from app.domain.policy import Policy, get_policy
from app.infra import coords, inputs, outbox
from app.infra.config import get_settings
from app.infra.errors import DomainError, NotFound, PermissionDenied, error_codes
from app.infra.outbox import EventKind
from app.models.merchants import (
    POS_SERIAL_MAX,
    ConsumerBinding,
    CoordSystem,
    Merchant,
    MerchantStaff,
    MerchantStatus,
    PosDevice,
)
from app.models.users import Role, User

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

MerchantErrorCode = error_codes(
    "MerchantErrorCode",
    "DISCOUNT_OUT_OF_RANGE",
    "INVALID_STATE",
    "ALREADY_BOUND",
    "QR_INVALID",
    "QR_EXPIRED",
)


@dataclass(frozen=True)
class Location:
    lat: Decimal
    lng: Decimal
    coord_system: CoordSystem


def _text(value: str | None, field: str, max_len: int, required: bool = True) -> str:
    return inputs.display_text(value, field, max_len, required=required)


def _to_gcj02(loc: Location) -> tuple[Decimal, Decimal]:
    """Merchants are stored in GCJ-02; convert what the client sent."""
    try:
        lat, lng = Decimal(loc.lat), Decimal(loc.lng)
    except (InvalidOperation, TypeError):
        raise DomainError("INVALID", "location must be numbers", "location") from None
    # NaN and infinities first: a NaN refuses to be compared at all
    if not (lat.is_finite() and lng.is_finite()):
        raise DomainError("INVALID", "location must be finite numbers", "location")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise DomainError("INVALID", "latitude/longitude out of range", "location")
    if loc.coord_system == CoordSystem.GCJ02:
        return lat.quantize(Decimal("0.0000001")), lng.quantize(Decimal("0.0000001"))

    glat, glng = coords.convert(float(lat), float(lng), loc.coord_system.value, "GCJ02")
    return Decimal(f"{glat:.7f}"), Decimal(f"{glng:.7f}")


def check_discount(bps: int, policy: Policy | None = None) -> int:
    policy = policy or get_policy()
    lo, hi = policy.merchant.discount_min_bps, policy.merchant.discount_max_bps
    if not isinstance(bps, int) or not lo <= bps <= hi:
        raise DomainError(
            MerchantErrorCode.DISCOUNT_OUT_OF_RANGE,
            f"discount rate must be between {lo / 100:g}% and {hi / 100:g}% ({lo}-{hi} bps)",
            "discountBps",
        )
    return bps


async def apply_merchant(
    *,
    owner_id: int,
    name: str,
    category: str,
    address: str,
    location: Location,
    region_code: str,
    discount_bps: int | None,
    recruiter_user_id: int | None = None,
) -> Merchant:
    name = _text(name, "name", 100)
    category = _text(category, "category", 40)
    address = _text(address, "address", 255, required=False)
    region_code = await regions.store_region(region_code)
    policy = get_policy()
    bps = check_discount(
        discount_bps if discount_bps is not None else policy.merchant.discount_default_bps, policy
    )
    lat, lng = _to_gcj02(location)
    if recruiter_user_id is not None:
        if recruiter_user_id == owner_id:
            raise DomainError("INVALID", "you cannot recruit your own store", "recruiterId")
        if not await User.exists(id=recruiter_user_id):
            raise NotFound("recruiter", "recruiterId")
    return await Merchant.create(
        owner_id=owner_id,
        name=name,
        category=category,
        address=address,
        lat=lat,
        lng=lng,
        region_code=region_code,
        discount_bps=bps,
        recruiter_user_id=recruiter_user_id,
    )


async def _get(merchant_id: int) -> Merchant:
    merchant = await Merchant.get_or_none(id=merchant_id)
    if merchant is None:
        raise NotFound("merchant", "merchantId")
    return merchant


async def owned_merchant(user_id: int, merchant_id: int, *, staff_ok: bool = False) -> Merchant:
    """The merchant if this user owns it (or works there, when `staff_ok`)."""
    merchant = await _get(merchant_id)
    if merchant.owner_id == user_id:
        return merchant
    if staff_ok and await MerchantStaff.exists(merchant_id=merchant_id, user_id=user_id):
        return merchant
    raise PermissionDenied("not your store", "merchantId")


async def _set_status(
    merchant_id: int,
    to: MerchantStatus,
    allowed: set[MerchantStatus],
    *,
    action: str,
    actor: Actor,
    reason: str,
) -> Merchant:
    reason = audit.reason_of(reason, required=False)
    async with in_transaction() as conn:
        merchant = await Merchant.filter(id=merchant_id).select_for_update().using_db(conn).first()
        if merchant is None:
            raise NotFound("merchant", "merchantId")
        if merchant.status == to:
            return merchant
        if merchant.status not in allowed:
            raise DomainError(
                MerchantErrorCode.INVALID_STATE,
                f"a {merchant.status} merchant cannot become {to}",
                "merchantId",
            )
        before = {"status": merchant.status.value}
        merchant.status = to
        await merchant.save(using_db=conn, update_fields=["status", "updated_at"])
        after: dict[str, object] = {"status": to.value}
        if to == MerchantStatus.APPROVED:
            promoted = await (
                User.filter(id=merchant.owner_id, role=Role.CONSUMER)
                .using_db(conn)
                .update(role=Role.MERCHANT_OWNER)
            )
            if promoted:
                after["owner_role"] = Role.MERCHANT_OWNER.value
        await audit.record(conn, actor, action, ("Merchant", merchant.id), before, after, reason)
        events = await _changed(merchant, conn, approved=to == MerchantStatus.APPROVED)
    if to == MerchantStatus.APPROVED:
        # the owner may have just become a merchant owner: their sessions see it now
        await sessions.user_changed(merchant.owner_id)
    outbox.publish(events)
    return merchant


async def approve_merchant(
    merchant_id: int, *, actor: Actor = OPERATOR, reason: str = ""
) -> Merchant:
    return await _set_status(
        merchant_id,
        MerchantStatus.APPROVED,
        {MerchantStatus.PENDING, MerchantStatus.SUSPENDED},
        action="approveMerchant",
        actor=actor,
        reason=reason,
    )


async def suspend_merchant(
    merchant_id: int, *, actor: Actor = OPERATOR, reason: str = ""
) -> Merchant:
    return await _set_status(
        merchant_id,
        MerchantStatus.SUSPENDED,
        {MerchantStatus.APPROVED, MerchantStatus.PENDING},
        action="suspendMerchant",
        actor=actor,
        reason=reason,
    )


async def close_merchant(
    merchant_id: int, *, actor: Actor = OPERATOR, reason: str = ""
) -> Merchant:
    return await _set_status(
        merchant_id,
        MerchantStatus.CLOSED,
        {MerchantStatus.APPROVED, MerchantStatus.PENDING, MerchantStatus.SUSPENDED},
        action="closeMerchant",
        actor=actor,
        reason=reason,
    )


async def update_merchant(
    user_id: int,
    merchant_id: int,
    *,
    name: str | None = None,
    category: str | None = None,
    address: str | None = None,
    location: Location | None = None,
    region_code: str | None = None,
) -> Merchant:
    """Partial update by the owner: only the fields given change."""
    merchant = await owned_merchant(user_id, merchant_id)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = _text(name, "name", 100)
    if category is not None:
        changes["category"] = _text(category, "category", 40)
    if address is not None:
        changes["address"] = _text(address, "address", 255, required=False)
    if location is not None:
        changes["lat"], changes["lng"] = _to_gcj02(location)
    if region_code is not None:
        changes["region_code"] = await regions.store_region(region_code)
    if changes:
        async with in_transaction() as conn:
            await Merchant.filter(id=merchant.id).using_db(conn).update(**changes)
            await merchant.refresh_from_db(using_db=conn)
            events = await _changed(merchant, conn)
        outbox.publish(events)
    return merchant


async def set_discount_rate(user_id: int, merchant_id: int, bps: int) -> Merchant:
    merchant = await owned_merchant(user_id, merchant_id)
    merchant.discount_bps = check_discount(bps)
    async with in_transaction() as conn:
        await merchant.save(using_db=conn, update_fields=["discount_bps", "updated_at"])
        events = await _changed(merchant, conn)
    outbox.publish(events)
    return merchant


async def add_staff(owner_id: int, merchant_id: int, staff_user_id: int) -> MerchantStaff:
    merchant = await owned_merchant(owner_id, merchant_id)
    user = await User.get_or_none(id=staff_user_id)
    if user is None:
        raise NotFound("user", "userId")
    if user.id == owner_id:
        raise DomainError("INVALID", "the owner is not staff", "userId")
    staff, _ = await MerchantStaff.get_or_create(merchant_id=merchant.id, user_id=user.id)
    if user.role == Role.CONSUMER:
        user.role = Role.MERCHANT_STAFF
        await user.save(update_fields=["role"])
        await sessions.user_changed(user.id)
    return staff


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def register_pos_device(
    owner_id: int, merchant_id: int, serial: str
) -> tuple[PosDevice, str]:
    """A POS device and its secret (shown once; only its hash is kept)."""
    merchant = await owned_merchant(owner_id, merchant_id)
    serial = _text(serial, "serial", POS_SERIAL_MAX)
    secret = secrets.token_urlsafe(32)
    try:
        device = await PosDevice.create(
            merchant_id=merchant.id, serial=serial, secret_hash=_secret_hash(secret)
        )
    except IntegrityError:
        raise DomainError("CONFLICT", "a device with this serial is registered", "serial") from None
    return device, secret


async def authenticate_pos_device(serial: str, secret: str) -> PosDevice:
    serial = (serial or "").strip()
    # a serial longer than any registered one names no device (and the ORM refuses to
    # look it up)
    device = await PosDevice.get_or_none(serial=serial) if len(serial) <= POS_SERIAL_MAX else None
    if (
        device is None
        or not device.is_active
        or not inputs.same_secret(device.secret_hash, _secret_hash(secret or ""))
    ):
        raise DomainError("UNAUTHENTICATED", "unknown device or wrong secret", "secret")
    return device


# ---------------------------------------------------------------- scan-to-bind (扫码锁客)


@dataclass(frozen=True)
class BindQr:
    payload: str
    expires_at: datetime


def _qr_sig(merchant_id: int, device_id: int, expires: int | None = None) -> str:
    key = get_settings().jwt_secret.encode()
    if expires is None:  # the first codes, made before they carried an expiry
        msg = f"bind:{merchant_id}:{device_id}".encode()
    else:
        msg = f"bind2:{merchant_id}:{device_id}:{expires}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def bind_qr(merchant_id: int, device_id: int = 0, *, now: datetime | None = None) -> BindQr:
    """The payload of a merchant's (or POS's) bind QR, signed by the platform, accepted
    until `BIND_QR_TTL_S` after it is made (a store shows a fresh one on its screen)."""
    now = now or datetime.now(UTC)
    expires = int(now.timestamp()) + get_settings().bind_qr_ttl_s
    sig = _qr_sig(merchant_id, device_id, expires)
    return BindQr(
        f"msp2.{merchant_id}.{device_id}.{expires}.{sig}", datetime.fromtimestamp(expires, UTC)
    )


def merchant_qr(merchant_id: int, device_id: int = 0) -> str:
    return bind_qr(merchant_id, device_id).payload


def _qr_merchant(payload: str, now: datetime) -> int:
    """The merchant a bind QR names, if it is genuine and still accepted."""
    parts = (payload or "").strip().split(".")
    try:
        if parts[0] == "msp2" and len(parts) == 5:
            merchant_id, device_id, expires = int(parts[1]), int(parts[2]), int(parts[3])
        elif parts[0] == "msp1" and len(parts) == 4:
            merchant_id, device_id, expires = int(parts[1]), int(parts[2]), None
        else:
            raise ValueError(parts[0])
    except ValueError:
        raise DomainError(MerchantErrorCode.QR_INVALID, "not a merchant QR code", "qr") from None
    if not inputs.same_secret(parts[-1], _qr_sig(merchant_id, device_id, expires)):
        raise DomainError(MerchantErrorCode.QR_INVALID, "QR code signature is not valid", "qr")
    if expires is None:
        until = get_settings().bind_qr_legacy_until
        if until is None or now.astimezone(SHANGHAI).date() >= until:
            raise DomainError(
                MerchantErrorCode.QR_EXPIRED,
                "this QR code is no longer accepted; ask the store for a new one",
                "qr",
            )
    elif now.timestamp() >= expires:
        raise DomainError(
            MerchantErrorCode.QR_EXPIRED,
            "this QR code has expired; ask the store for a new one",
            "qr",
        )
    return merchant_id


async def bind_by_qr(
    consumer_id: int, payload: str, *, now: datetime | None = None
) -> ConsumerBinding:
    """Scanning a store's QR binds the consumer to it (first bind wins)."""
    merchant = await _get(_qr_merchant(payload, now or datetime.now(UTC)))
    binding, _ = await bind_consumer(consumer_id, merchant, "qr")
    return binding


async def bind_consumer(
    consumer_id: int, merchant: Merchant, field: str
) -> tuple[ConsumerBinding, bool]:
    """First bind wins, for life: the consumer's binding, and whether this call made it.
    Binding again (anywhere) returns the existing one; a store that is not open, or the
    consumer's own store, binds no one."""
    if merchant.status != MerchantStatus.APPROVED:
        raise DomainError(MerchantErrorCode.INVALID_STATE, "merchant is not open", field)
    existing = await ConsumerBinding.get_or_none(consumer_id=consumer_id)
    if existing is not None:
        return existing, False
    if merchant.owner_id == consumer_id:
        raise DomainError("INVALID", "you cannot bind to your own store", field)
    try:
        async with in_transaction() as conn:
            made = await ConsumerBinding.create(
                consumer_id=consumer_id, merchant_id=merchant.id, using_db=conn
            )
            bound = outbox.event(
                EventKind.CUSTOMER_BOUND,
                f"user:{consumer_id}",
                consumer_id=consumer_id,
                merchant_id=merchant.id,
                via=field,
            )
            await outbox.write(conn, [bound])
    except IntegrityError:  # a concurrent first bind won
        return await ConsumerBinding.get(consumer_id=consumer_id), False
    outbox.publish([bound])
    return made, True


async def _changed(
    merchant: Merchant, conn: object, *, approved: bool = False
) -> list[outbox.Event]:
    """What those who follow merchants are told of this change (discovery's index among
    them), written in its transaction; the caller publishes them after the commit."""
    subject = f"merchant:{merchant.id}"
    facts = dict(
        merchant_id=merchant.id,
        owner_id=merchant.owner_id,
        status=str(merchant.status),
        recruiter_user_id=merchant.recruiter_user_id,
    )
    events = [outbox.event(EventKind.MERCHANT_CHANGED, subject, **facts)]
    if approved:
        events.append(outbox.event(EventKind.MERCHANT_APPROVED, subject, **facts))
    await outbox.write(conn, events)
    return events


async def withdraw_merchant_vouchers(
    user_id: int, merchant_id: int, amount_fen: int, idem_key: str
) -> int:
    """Move vouchers the store earned (its lots, bindings) to its owner's own wallet, to
    spend like any consumer at other stores (SPEC §4). Vouchers never leave as cash."""

    merchant = await owned_merchant(user_id, merchant_id)
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError("INVALID", "amount must be above zero", "amountFen")
    key = (idem_key or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "idempotencyKey is required (1-64 chars)", "idempotencyKey")
    try:
        await ledger.post(
            Entry(
                "merchant_vouchers_to_owner",
                f"merchant:{merchant.id}",
                [
                    Post(
                        acct.merchant_voucher(merchant.id),
                        acct.consumer_voucher(user_id),
                        amount_fen,
                    )
                ],
                idem_key=f"mvw:{merchant.id}:{key}",
            )
        )
    except ledger.Overdraft:
        raise DomainError(
            "INVALID", "the store has fewer vouchers than that", "amountFen"
        ) from None
    return await ledger.balance_of(acct.merchant_voucher(merchant.id))
