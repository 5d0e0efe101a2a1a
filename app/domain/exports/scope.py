"""Who may export what: one function, `scope_for`, takes the caller and the export asked
for and returns the rows it may hold beyond the filter (or refuses with a typed error).

- admins: every kind, every row;
- agents: the orders of stores in the regions of their agencies, and their agencies'
  statement lines;
- merchant owners: their stores' orders, and the ledger postings of their own accounts
  (their stores' and their own);
- partner apps: the kinds their scopes name, within the stores and regions the app was
  given (`partner_reach`).

The scope is fixed when the export starts and stored with it: the worker applies it
without the principal, and a store or agency changing hands later changes no export
already asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.principals import PartnerPrincipal, Principal, UserPrincipal
from app.infra import inputs
from app.infra.errors import DomainError, NotFound, PermissionDenied, error_codes
from app.models.exports import ExportKind
from app.models.ledger import ACCOUNT_NAME_MAX, Asset
from app.models.merchants import Agent, Merchant
from app.models.users import Role

ExportErrorCode = error_codes("ExportErrorCode", "IDEMPOTENCY_KEY_REUSED", "INSUFFICIENT_SCOPE")

# The scope a partner app's token must carry for each kind (None: no partner may).
PARTNER_SCOPES: dict[ExportKind, str | None] = {
    ExportKind.ORDERS: "read:orders",
    ExportKind.LEDGER: "read:points",
    ExportKind.RELEASES: "read:releases",
    ExportKind.AGENT_STATEMENT: None,
}

# Which filter fields each kind reads; another is refused rather than ignored.
_APPLIES: dict[ExportKind, frozenset[str]] = {
    ExportKind.ORDERS: frozenset({"merchantId", "regionCode"}),
    ExportKind.LEDGER: frozenset({"merchantId", "asset", "account"}),
    ExportKind.AGENT_STATEMENT: frozenset({"regionCode"}),
    ExportKind.RELEASES: frozenset({"merchantId", "regionCode"}),
}


@dataclass(frozen=True)
class ExportFilter:
    """What the requester asked for: a time range [start, end) and optional narrowing."""

    start: datetime
    end: datetime
    merchant_id: int | None = None
    region_code: str | None = None
    asset: Asset | None = None
    account: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start.astimezone(UTC).isoformat(),
            "to": self.end.astimezone(UTC).isoformat(),
            "merchantId": self.merchant_id,
            "regionCode": self.region_code,
            "asset": self.asset.value if self.asset else None,
            "account": self.account,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExportFilter:
        return cls(
            start=datetime.fromisoformat(d["from"]),
            end=datetime.fromisoformat(d["to"]),
            merchant_id=d.get("merchantId"),
            region_code=d.get("regionCode"),
            asset=Asset(d["asset"]) if d.get("asset") else None,
            account=d.get("account"),
        )


@dataclass(frozen=True)
class Reach:
    """Stores a caller may see: these merchants and every store in these regions."""

    merchant_ids: frozenset[int] = frozenset()
    region_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExportScope:
    """The rows an export may hold beyond its filter; None: no limit of that sort.

    Orders and release payments are limited by their store (`merchant_ids` or a store
    in one of `region_prefixes`), ledger postings by their accounts (a name starting
    with one of `account_prefixes`), statement lines by the agency (`agent_ids`)."""

    merchant_ids: tuple[int, ...] | None = None
    region_prefixes: tuple[str, ...] | None = None
    account_prefixes: tuple[str, ...] | None = None
    agent_ids: tuple[int, ...] | None = None

    @property
    def stores_limited(self) -> bool:
        return self.merchant_ids is not None or self.region_prefixes is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "merchantIds": _listed(self.merchant_ids),
            "regionPrefixes": _listed(self.region_prefixes),
            "accountPrefixes": _listed(self.account_prefixes),
            "agentIds": _listed(self.agent_ids),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExportScope:
        def tup(v: Any) -> tuple | None:
            return None if v is None else tuple(v)

        return cls(
            merchant_ids=tup(d.get("merchantIds")),
            region_prefixes=tup(d.get("regionPrefixes")),
            account_prefixes=tup(d.get("accountPrefixes")),
            agent_ids=tup(d.get("agentIds")),
        )


EVERYTHING = ExportScope()


def _listed(v: tuple | None) -> list | None:
    return None if v is None else list(v)


def region_prefix(code: str) -> str:
    """The part of a GB/T 2260 code its region's codes share: a province (`310000`)
    holds every code starting `31`, a city (`310100`) every one starting `3101`."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def regions_overlap(a: str, b: str) -> bool:
    """One of two regions holds the other (or they are the same)."""
    pa, pb = region_prefix(a), region_prefix(b)
    return pa.startswith(pb) or pb.startswith(pa)


# ------------------------------------------------------------------------ the filter


def check_filter(kind: ExportKind, f: ExportFilter) -> ExportFilter:
    """The filter, checked on its own: a range that makes sense, codes in their shape,
    and no field the kind does not read."""
    start, end = f.start, f.end
    if start.tzinfo is None or end.tzinfo is None:
        raise DomainError("INVALID", "give times with their offset", "filter.from")
    inputs.check_date(start.date(), "filter.from")
    inputs.check_date(end.date(), "filter.to")
    if end <= start:
        raise DomainError("INVALID", "`to` must be after `from`", "filter.to")
    given = {
        "merchantId": f.merchant_id,
        "regionCode": f.region_code,
        "asset": f.asset,
        "account": f.account,
    }
    for name, value in given.items():
        if value is not None and name not in _APPLIES[kind]:
            raise DomainError(
                "INVALID", f"{name} does not apply to {kind.name} exports", f"filter.{name}"
            )
    region = f.region_code
    if region is not None:
        region = inputs.digits(
            region, inputs.REGION_CODE, "filter.regionCode", "a region code is six digits"
        )
    account = f.account
    if account is not None:
        account = account.strip()
        if not account or len(account) > ACCOUNT_NAME_MAX:
            raise DomainError("INVALID", "not an account name", "filter.account")
    return ExportFilter(start, end, f.merchant_id, region, f.asset, account)


# -------------------------------------------------------------------------- the scope


def partner_reach(p: PartnerPrincipal) -> Reach:
    """The stores and regions a partner app was given, as its principal says on this
    request: merchants by id, and regions by their GB/T 2260 prefix (`31` the province
    310000, `3101` the city 310100, a district its own six digits), turned back into the
    code each prefix stands for."""
    return Reach(
        merchant_ids=frozenset(p.merchant_ids),
        region_codes=frozenset(prefix.ljust(6, "0") for prefix in p.region_prefixes),
    )


async def scope_for(principal: Principal | None, kind: ExportKind, f: ExportFilter) -> ExportScope:
    """The rows `principal` may export of `kind`, or a typed refusal. `f` is checked."""
    if isinstance(principal, PartnerPrincipal):
        return await _partner_scope(principal, kind, f)
    if not isinstance(principal, UserPrincipal):
        raise PermissionDenied("exports serve signed-in users and partner apps only")
    if principal.is_admin:
        if f.merchant_id is not None:
            await _store(f.merchant_id)
        return EVERYTHING
    if kind == ExportKind.ORDERS and principal.role == Role.AGENT:
        reach = Reach(region_codes=frozenset(a.region_code for a in await _agencies(principal)))
        return await _store_scope(reach, f)
    if kind == ExportKind.AGENT_STATEMENT and principal.role == Role.AGENT:
        agencies = await _agencies(principal)
        if f.region_code is not None and not any(
            regions_overlap(a.region_code, f.region_code) for a in agencies
        ):
            raise PermissionDenied("not a region of your agencies", "filter.regionCode")
        return ExportScope(agent_ids=tuple(sorted(a.id for a in agencies)))
    if principal.role == Role.MERCHANT_OWNER and kind in (ExportKind.ORDERS, ExportKind.LEDGER):
        owned = frozenset(
            m.id for m in await Merchant.filter(owner_id=principal.user_id).only("id")
        )
        if kind == ExportKind.ORDERS:
            return await _store_scope(Reach(merchant_ids=owned), f)
        return await _account_scope(owned, (f"consumer:{principal.user_id}:",), f)
    raise PermissionDenied(f"your role may not export {kind.name}")


async def _partner_scope(p: PartnerPrincipal, kind: ExportKind, f: ExportFilter) -> ExportScope:
    needed = PARTNER_SCOPES[kind]
    if needed is None:
        raise PermissionDenied(f"partner apps may not export {kind.name}")
    if needed not in p.scopes:
        raise DomainError(
            ExportErrorCode.INSUFFICIENT_SCOPE, f"this export needs the scope {needed}"
        )
    reach = partner_reach(p)
    if kind == ExportKind.LEDGER:
        return await _account_scope(await _stores_in(reach), (), f)
    return await _store_scope(reach, f)


async def _agencies(p: UserPrincipal) -> list[Agent]:
    # An agency in office is one of the user's rows (one per region and level).
    return await Agent.filter(user_id=p.user_id).order_by("id")


async def _store(merchant_id: int) -> Merchant:
    m = await Merchant.get_or_none(id=merchant_id)
    if m is None:
        raise NotFound("merchant", "filter.merchantId")
    return m


def _in_reach(reach: Reach, m: Merchant) -> bool:
    return m.id in reach.merchant_ids or any(
        m.region_code.startswith(region_prefix(r)) for r in reach.region_codes
    )


async def _store_scope(reach: Reach, f: ExportFilter) -> ExportScope:
    """Orders or release payments of the stores in `reach`; a store or region in the
    filter that lies outside it is refused (a store as if absent)."""
    if f.merchant_id is not None and not _in_reach(reach, await _store(f.merchant_id)):
        raise NotFound("merchant", "filter.merchantId")
    region = f.region_code
    if region is not None and not await _region_in_reach(reach, region):
        raise PermissionDenied("not a region you may see", "filter.regionCode")
    return ExportScope(
        merchant_ids=tuple(sorted(reach.merchant_ids)),
        region_prefixes=tuple(sorted({region_prefix(r) for r in reach.region_codes})),
    )


async def _region_in_reach(reach: Reach, region: str) -> bool:
    """A region the reach holds some of: one of its regions, or one of its stores'."""
    if any(regions_overlap(r, region) for r in reach.region_codes):
        return True
    if not reach.merchant_ids:
        return False
    return await Merchant.filter(
        id__in=sorted(reach.merchant_ids), region_code__startswith=region_prefix(region)
    ).exists()


async def _stores_in(reach: Reach) -> frozenset[int]:
    """The stores a reach names, its regions' stores included (as they are now)."""
    ids = set(reach.merchant_ids)
    for code in reach.region_codes:
        prefix = region_prefix(code)
        ids.update(m.id for m in await Merchant.filter(region_code__startswith=prefix).only("id"))
    return frozenset(ids)


async def _account_scope(
    stores: frozenset[int], own: tuple[str, ...], f: ExportFilter
) -> ExportScope:
    """Ledger postings of the stores' accounts and the caller's own."""
    if f.merchant_id is not None and f.merchant_id not in stores:
        await _store(f.merchant_id)  # NOT_FOUND for one that does not exist at all
        raise NotFound("merchant", "filter.merchantId")
    prefixes = (*own, *(f"merchant:{m}:" for m in sorted(stores)))
    if f.account is not None and not f.account.startswith(prefixes):
        raise NotFound("account", "filter.account")
    return ExportScope(account_prefixes=prefixes)
