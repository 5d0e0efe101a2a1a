"""Export types: an export's progress and, once done, a signed link to its file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import InputID
from app.api.graphql.core.scalars import Int64
from app.api.graphql.orders.types import AssetEnum
from app.domain.exports.scope import ExportErrorCode
from app.models.exports import Export, ExportKind, ExportStatus
from app.services import exports as exporting

ExportKindEnum = strawberry.enum(ExportKind, name="ExportKind")
ExportStatusEnum = strawberry.enum(ExportStatus, name="ExportStatus")
ExportError = error_type("ExportError", ExportErrorCode)


@strawberry.input(description="Which rows: a time range [from, to) and optional narrowing.")
class ExportFilterInput:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    merchant_id: InputID | None = strawberry.field(
        default=None, description="ORDERS, LEDGER, RELEASES: one store."
    )
    region_code: str | None = strawberry.field(
        default=None,
        description="ORDERS, RELEASES, AGENT_STATEMENT: a GB/T 2260 region and all below it.",
    )
    asset: AssetEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="LEDGER: postings in this asset."
    )
    account: str | None = strawberry.field(
        default=None, description="LEDGER: postings into or out of this account (its name)."
    )


@strawberry.type(
    name="Export",
    description=(
        "A file of rows (JSON lines, gzip) written in the background; `url` is a "
        "short-lived signed link once it is DONE, until `expiresAt`."
    ),
)
class ExportType(relay.Node):
    id: relay.NodeID[int]
    kind: ExportKindEnum  # type: ignore[valid-type]
    status: ExportStatusEnum  # type: ignore[valid-type]
    rows_written: Int64 = strawberry.field(description="Lines in the file so far.")
    total_rows: Int64 | None = strawberry.field(
        description="Rows in range, counted when it started (an agency statement line "
        "per account a posting touches may make more lines)."
    )
    progress: float = strawberry.field(description="0 to 1: the share of rows in range done.")
    expires_at: datetime | None = strawberry.field(
        description="When the file is deleted (set when it is done)."
    )
    created_at: datetime
    finished_at: datetime | None
    _export: strawberry.Private[Export]

    @strawberry.field(description="A signed link to the file while it is DONE; it expires.")
    def url(self) -> str | None:
        found = exporting.url_of(self._export)
        return found[0] if found else None

    @classmethod
    def from_model(cls, e: Export) -> ExportType:
        if e.status == ExportStatus.DONE:
            progress = 1.0
        elif e.total_rows:
            progress = min(1.0, e.rows_scanned / e.total_rows)
        else:
            progress = 0.0
        return cls(
            id=e.id,
            kind=e.kind,
            status=e.status,
            rows_written=e.rows_written,
            total_rows=e.total_rows,
            progress=progress,
            expires_at=e.expires_at,
            created_at=e.created_at,
            finished_at=e.finished_at,
            _export=e,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        found = {e.id: e for e in await Export.filter(id__in=[int(i) for i in node_ids])}
        p = info.context.principal
        out = []
        for i in node_ids:
            e = found.get(int(i))
            out.append(cls.from_model(e) if e and exporting.may_read(p, e) else None)
        return out


ExportResult = Annotated[
    ExportType | ExportError,  # type: ignore[valid-type]
    strawberry.union("ExportResult"),
]
