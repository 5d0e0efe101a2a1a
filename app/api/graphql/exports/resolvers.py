"""Exports' fields: start one, follow it, list mine."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import serves
from app.api.graphql.exports.types import (
    ExportError,
    ExportFilterInput,
    ExportKindEnum,
    ExportResult,
    ExportType,
)
from app.domain.exports.scope import ExportErrorCode, ExportFilter
from app.domain.principals import Kind
from app.models.exports import Export, ExportKind
from app.models.ledger import Asset
from app.services import exports as exporting

on_error = handles_errors(ExportError, ExportErrorCode)

IsUserOrPartner = serves("IsUserOrPartner", Kind.USER, Kind.PARTNER)


@strawberry.type
class ExportQuery:
    @strawberry.field(
        permission_classes=[IsUserOrPartner],
        description="One of my exports (an admin: anyone's); null if there is no such one.",
    )
    async def export(self, info: Info, id: InputID) -> ExportType | None:
        e = await Export.get_or_none(id=decode_id(id, "Export", "id"))
        if e is None or not exporting.may_read(info.context.principal, e):
            return None
        return ExportType.from_model(e)

    @strawberry.field(permission_classes=[IsUserOrPartner], description="My exports, newest first.")
    async def my_exports(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[ExportType]:
        mine = Export.filter(requester=info.context.principal.key)
        return await paginate(mine, first, after, ExportType.from_model)


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        permission_classes=[IsUserOrPartner],
        description=(
            "Export rows as JSON lines (gzip), written in the background: ORDERS and "
            "RELEASES (admins; agents: orders of their regions; merchant owners: their "
            "stores' orders; partner apps: their stores, by scope), LEDGER postings "
            "(admins; merchant owners: their stores' and their own accounts), "
            "AGENT_STATEMENT lines (admins; agents: their agencies'). The same "
            "idempotencyKey answers with the same export."
        ),
    )
    @on_error
    async def start_export(
        self,
        info: Info,
        kind: ExportKindEnum,  # type: ignore[valid-type]
        filter: ExportFilterInput,
        idempotency_key: str,
    ) -> ExportResult:
        f = ExportFilter(
            start=filter.from_,
            end=filter.to,
            merchant_id=(
                None
                if filter.merchant_id is None
                else decode_id(filter.merchant_id, "Merchant", "filter.merchantId")
            ),
            region_code=filter.region_code,
            asset=Asset(filter.asset) if filter.asset is not None else None,
            account=filter.account,
        )
        e = await exporting.start_export(
            info.context.principal, ExportKind(kind), f, idempotency_key
        )
        return ExportType.from_model(e)
