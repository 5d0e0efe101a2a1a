"""Merchant mutations and queries."""

from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors, to_error
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import (
    Anyone,
    IsAdmin,
    IsConsumer,
    IsMerchant,
    IsMerchantOwner,
    IsUser,
    IsUserOrPosDevice,
    PartnerScope,
    device_of,
    user_of,
)
from app.api.graphql.core.visibility import merchant_visible
from app.api.graphql.merchants.types import (
    ApplyMerchantInput,
    BindQr,
    BindQrResult,
    BindResult,
    BindSuccess,
    MerchantError,
    MerchantResult,
    MerchantSuccess,
    MerchantType,
    MerchantWallet,
    PosDeviceRegistered,
    PosDeviceResult,
    StaffAdded,
    StaffResult,
    UpdateMerchantInput,
    VouchersMoved,
    VouchersMovedResult,
)
from app.api.graphql.users.types import AuthError, AuthPayload, AuthResult
from app.domain import merchants, tokens
from app.domain.audit import Actor
from app.domain.ledger import acct, balances_named
from app.domain.merchants import MerchantErrorCode
from app.domain.principals import Kind
from app.domain.tokens import AuthErrorCode
from app.infra import limits
from app.infra.errors import DomainError, Invalid, PermissionDenied
from app.models.merchants import Merchant, MerchantStatus

on_error = handles_errors(MerchantError, MerchantErrorCode)


def _uid(info: Info) -> int:
    return user_of(info).user_id


def _admin(info: Info) -> Actor:
    return Actor.admin(user_of(info).user_id)


def _mid(gid: InputID, field: str = "merchantId") -> int:
    return decode_id(gid, "Merchant", field)


def _ok(m: Merchant) -> MerchantSuccess:
    return MerchantSuccess(merchant=MerchantType.from_model(m))


@strawberry.type
class MerchantQuery:
    @strawberry.field(
        permission_classes=[Anyone | PartnerScope("read:merchants")],
        description=(
            "A merchant open for business (or your own, in any state); to a partner app, "
            "a merchant it was given."
        ),
    )
    async def merchant(self, info: Info, id: InputID) -> MerchantType | None:
        m = await Merchant.get_or_none(id=_mid(id, "id"))
        if m is None or not merchant_visible(info.context.principal, m):
            return None
        return MerchantType.from_model(m)

    @strawberry.field(permission_classes=[IsUser], description="Stores you own.")
    async def my_merchants(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[MerchantType]:
        return await paginate(
            Merchant.filter(owner_id=_uid(info)), first, after, MerchantType.from_model
        )

    @strawberry.field(permission_classes=[IsMerchant], description="A store's balances.")
    async def merchant_wallet(self, info: Info, merchant_id: InputID) -> MerchantWallet:
        mid = _mid(merchant_id)
        user = user_of(info)
        if not user.is_admin:
            await merchants.owned_merchant(user.user_id, mid, staff_ok=True)
        return MerchantWallet(
            **await balances_named(
                payable_fen=acct.merchant_payable(mid),
                vouchers_fen=acct.merchant_voucher(mid),
                vouchers_pending_fen=acct.pending(acct.merchant_voucher(mid)),
                points_pending=acct.merchant_points(mid, "pending"),
                points_active=acct.merchant_points(mid, "active"),
                traffic_points=acct.merchant_traffic_points(mid),
            )
        )

    @strawberry.field(permission_classes=[IsAdmin], description="Merchants by status (ops).")
    async def admin_merchants(
        self,
        info: Info,
        status: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[MerchantType]:
        qs = Merchant.all() if status is None else Merchant.filter(status=_status(status))
        return await paginate(qs, first, after, MerchantType.from_model)


def _status(text: str) -> MerchantStatus:
    """A merchant status as the filter takes it: its name as the API prints it
    (`APPROVED`) or as stored (`approved`); anything else is the field's INVALID."""
    try:
        return MerchantStatus(text.lower())
    except ValueError:
        names = ", ".join(s.name for s in MerchantStatus)
        raise Invalid(f"status is one of {names}", "status") from None


@strawberry.type
class MerchantMutation:
    @strawberry.mutation(permission_classes=[IsUser])
    @on_error
    async def apply_merchant(self, info: Info, input: ApplyMerchantInput) -> MerchantResult:
        recruiter = (
            decode_id(input.recruiter_id, "User", "recruiterId") if input.recruiter_id else None
        )
        m = await merchants.apply_merchant(
            owner_id=_uid(info),
            name=input.name,
            category=input.category,
            address=input.address,
            location=input.location.to_domain(),
            region_code=input.region_code,
            discount_bps=input.discount_bps,
            recruiter_user_id=recruiter,
        )
        return _ok(m)

    @strawberry.mutation(permission_classes=[IsAdmin])
    @on_error
    async def approve_merchant(self, info: Info, id: InputID, reason: str = "") -> MerchantResult:
        return _ok(
            await merchants.approve_merchant(_mid(id, "id"), actor=_admin(info), reason=reason)
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    @on_error
    async def suspend_merchant(self, info: Info, id: InputID, reason: str = "") -> MerchantResult:
        return _ok(
            await merchants.suspend_merchant(_mid(id, "id"), actor=_admin(info), reason=reason)
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    @on_error
    async def close_merchant(self, info: Info, id: InputID, reason: str = "") -> MerchantResult:
        return _ok(
            await merchants.close_merchant(_mid(id, "id"), actor=_admin(info), reason=reason)
        )

    @strawberry.mutation(permission_classes=[IsMerchantOwner])
    @on_error
    async def update_merchant(
        self, info: Info, id: InputID, input: UpdateMerchantInput
    ) -> MerchantResult:
        def val(m: Any) -> Any:  # strawberry.Maybe: None = absent, Some(x) = given
            return None if m is None else m.value

        loc = val(input.location)
        return _ok(
            await merchants.update_merchant(
                _uid(info),
                _mid(id, "id"),
                name=val(input.name),
                category=val(input.category),
                address=val(input.address),
                location=loc.to_domain() if loc is not None else None,
                region_code=val(input.region_code),
            )
        )

    @strawberry.mutation(permission_classes=[IsMerchantOwner], description="让利比例, in bps.")
    @on_error
    async def set_discount_rate(
        self, info: Info, merchant_id: InputID, discount_bps: int
    ) -> MerchantResult:
        return _ok(await merchants.set_discount_rate(_uid(info), _mid(merchant_id), discount_bps))

    @strawberry.mutation(permission_classes=[IsMerchantOwner])
    @on_error
    async def add_merchant_staff(
        self, info: Info, merchant_id: InputID, user_id: InputID
    ) -> StaffResult:
        staff = await merchants.add_staff(
            _uid(info), _mid(merchant_id), decode_id(user_id, "User", "userId")
        )
        m = await Merchant.get(id=staff.merchant_id)
        return StaffAdded(merchant=MerchantType.from_model(m), user_id=strawberry.ID(str(user_id)))

    @strawberry.mutation(permission_classes=[IsMerchantOwner])
    @on_error
    async def register_pos_device(
        self, info: Info, merchant_id: InputID, serial: str
    ) -> PosDeviceResult:
        device, secret = await merchants.register_pos_device(_uid(info), _mid(merchant_id), serial)
        return PosDeviceRegistered(
            device_id=strawberry.ID(str(relay.GlobalID("PosDevice", str(device.id)))),
            serial=device.serial,
            secret=secret,
        )

    @strawberry.mutation(description="A POS device signs in with its serial and secret.")
    async def pos_device_login(self, info: Info, serial: str, secret: str) -> AuthResult:
        budgets = limits.pos_login_budgets(serial, info.context.scope)
        try:
            async with limits.failures(*budgets, field="secret"):
                device = await merchants.authenticate_pos_device(serial, secret)
        except DomainError as exc:
            return to_error(AuthError, AuthErrorCode, exc)
        return AuthPayload.of(await tokens.issue_pair(device.id, Kind.DEVICE))

    @strawberry.mutation(
        permission_classes=[IsUserOrPosDevice],
        description=(
            "The signed QR a store (its owner, its staff, or one of its POS devices) shows "
            "for scan-to-bind (扫码锁客)."
        ),
    )
    @on_error
    async def merchant_bind_qr(self, info: Info, merchant_id: InputID) -> BindQrResult:
        mid = _mid(merchant_id)
        device = device_of(info)
        if device is not None:
            if device.merchant_id != mid:
                raise PermissionDenied("not this store's device", "merchantId")
            made = merchants.bind_qr(mid, device.device_id)
        else:
            await merchants.owned_merchant(_uid(info), mid, staff_ok=True)
            made = merchants.bind_qr(mid)
        return BindQr(payload=made.payload, expires_at=made.expires_at)

    @strawberry.mutation(permission_classes=[IsConsumer], description="Scan a store QR to bind.")
    @on_error
    async def bind_merchant(self, info: Info, qr: str) -> BindResult:
        binding = await merchants.bind_by_qr(_uid(info), qr)
        m = await Merchant.get(id=binding.merchant_id)
        return BindSuccess(merchant=MerchantType.from_model(m), bound_at=binding.created_at)

    @strawberry.mutation(
        permission_classes=[IsMerchantOwner],
        description="Move the store's vouchers to your own wallet, to spend at other stores.",
    )
    @on_error
    async def move_store_vouchers_to_wallet(
        self, info: Info, merchant_id: InputID, amount_fen: int, idempotency_key: str
    ) -> VouchersMovedResult:
        left = await merchants.withdraw_merchant_vouchers(
            _uid(info), _mid(merchant_id), amount_fen, idempotency_key
        )
        return VouchersMoved(store_vouchers_left_fen=left)
