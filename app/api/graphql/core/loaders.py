"""DataLoaders, built once per request (in the request's Context), never shared."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.models.merchants import Merchant


async def _load_merchants(ids: Sequence[int]) -> list[Merchant | None]:
    rows = {m.id: m for m in await Merchant.filter(id__in=list(ids))}
    return [rows.get(i) for i in ids]


def merchant_loader(info: Info) -> DataLoader[int, Merchant | None]:
    return info.context.loader("merchant", lambda: DataLoader(load_fn=_load_merchants))
