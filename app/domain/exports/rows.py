"""What each kind of export reads, one keyed batch at a time.

Every kind is one statement over its table's primary key (`k`): the next batch is the
rows with a key above the last one written and at most the export's upper key (the
highest when it first ran), in key order, `LIMIT n` — a repeated keyset query, so a
batch costs the same at the millionth row as at the first and nothing holds a cursor
or a transaction between batches. The filter and the scope are the same WHERE clause
for the count that measures progress and for every batch.

Lines name rows by their Global IDs where the API has the type as a node (orders,
stores, agencies, point lots), so a line leads back to `node(id)`; amounts are integer
fen or hundredths, as everywhere.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.domain.exports.scope import ExportFilter, ExportScope, region_prefix, regions_overlap
from app.infra.sql import fetch
from app.models.exports import ExportKind
from app.models.ledger import Asset

Line = dict[str, Any]


def gid(type_name: str, pk: int | None) -> str | None:
    """The Global ID the API gives this object (relay's `base64("Type:id")`)."""
    return None if pk is None else base64.b64encode(f"{type_name}:{pk}".encode()).decode()


@dataclass
class Source:
    """One export's query: the rows of `body` (FROM … WHERE …, with `params`), keyed by
    `key`, each written as the lines `lines` makes of it."""

    table: str  # the keyed table, for the upper key
    key: str
    select: str
    body: str
    params: list[Any]
    lines: Callable[[dict[str, Any]], list[Line]]


async def upper_key(conn: Any, src: Source) -> int:
    rows = await fetch(conn, f"SELECT COALESCE(MAX(id), 0) AS k FROM {src.table}")
    return int(rows[0]["k"])


async def count(conn: Any, src: Source, upper: int) -> int:
    rows = await fetch(
        conn, f"SELECT COUNT(*) AS n {src.body} AND {src.key} <= ?", [*src.params, upper]
    )
    return int(rows[0]["n"])


async def batch(conn: Any, src: Source, after: int, upper: int, limit: int) -> list[dict]:
    """The next `limit` rows with a key in (after, upper], in key order."""
    return await fetch(
        conn,
        f"SELECT {src.key} AS k, {src.select} {src.body} "
        f"AND {src.key} > ? AND {src.key} <= ? ORDER BY {src.key} LIMIT ?",
        [*src.params, after, upper, limit],
    )


async def source(conn: Any, kind: ExportKind, f: ExportFilter, scope: ExportScope) -> Source:
    build = {
        ExportKind.ORDERS: _orders,
        ExportKind.LEDGER: _ledger,
        ExportKind.AGENT_STATEMENT: _agent_statement,
        ExportKind.RELEASES: _releases,
    }[kind]
    return await build(conn, f, scope)


# ------------------------------------------------------------------ WHERE clause parts


class _Where:
    def __init__(self, conn: Any) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def among(self, column: str, values: list[Any] | tuple[Any, ...]) -> tuple[str, list[Any]]:
        """`column` is one of `values` (an array: one parameter, however many values),
        as SQL and its parameters."""
        if not values:
            return "1 = 0", []
        return f"{column} = ANY(?)", [list(values)]

    def any_of(self, clauses: list[tuple[str, list[Any]]]) -> None:
        """One clause, true when any of `clauses` is (none: no row)."""
        if not clauses:
            self.add("1 = 0")
            return
        self.add("(" + " OR ".join(sql for sql, _ in clauses) + ")")
        for _, params in clauses:
            self.params.extend(params)

    def region(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        return f"substr({column}, 1, {len(prefix)}) = ?", [prefix]

    def stores(self, merchant_col: str, region_col: str, f: ExportFilter, s: ExportScope) -> None:
        """The store filter and the store scope (a store given or in a region given)."""
        if f.merchant_id is not None:
            self.add(f"{merchant_col} = ?", f.merchant_id)
        if f.region_code is not None:
            sql, params = self.region(region_col, region_prefix(f.region_code))
            self.add(sql, *params)
        if s.stores_limited:
            clauses = []
            if s.merchant_ids:
                clauses.append(self.among(merchant_col, s.merchant_ids))
            clauses += [self.region(region_col, p) for p in s.region_prefixes or ()]
            self.any_of(clauses)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1 = 1"


# -------------------------------------------------------------------------- the kinds


async def _orders(conn: Any, f: ExportFilter, s: ExportScope) -> Source:
    w = _Where(conn)
    w.add("o.created_at >= ? AND o.created_at < ?", f.start, f.end)
    w.stores("o.merchant_id", "m.region_code", f, s)

    def lines(r: dict[str, Any]) -> list[Line]:
        return [
            {
                "id": gid("Order", r["k"]),
                "merchantId": gid("Merchant", r["merchant_id"]),
                "regionCode": r["region_code"],
                "status": r["status"],
                "amountFen": r["amount_fen"],
                "voucherFen": r["voucher_fen"],
                "cashFen": r["cash_fen"],
                "discountBps": r["discount_bps"],
                "discountFen": r["discount_fen"],
                "refundedFen": r["refunded_fen"],
                "channel": r["channel"],
                "createdAt": r["created_at"],
                "paidAt": r["paid_at"],
                "settledAt": r["settled_at"],
                "closedAt": r["closed_at"],
            }
        ]

    return Source(
        table="orders",
        key="o.id",
        select=(
            "o.merchant_id, m.region_code, o.status, o.amount_fen, o.voucher_fen, "
            "o.cash_fen, o.discount_bps, o.discount_fen, o.refunded_fen, o.channel, "
            "o.created_at, o.paid_at, o.settled_at, o.closed_at"
        ),
        body=f"FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE {w.sql()}",
        params=w.params,
        lines=lines,
    )


async def _account_ids(conn: Any, f: ExportFilter, s: ExportScope) -> list[int] | None:
    """The accounts whose postings a ledger export holds; None: every account."""
    if f.account is not None:
        names = [f.account]
        prefixes: list[str] = []
    elif f.merchant_id is not None:
        names, prefixes = [], [f"merchant:{f.merchant_id}:"]
    elif s.account_prefixes is not None:
        names, prefixes = [], list(s.account_prefixes)
    else:
        return None
    allowed = s.account_prefixes
    names = [n for n in names if allowed is None or n.startswith(allowed)]
    prefixes = [p for p in prefixes if allowed is None or p.startswith(allowed)]
    clauses = ["name = ?"] * len(names) + ["name LIKE ?"] * len(prefixes)
    if not clauses:
        return []
    # prefixes are `owner:digits:`: nothing in them is a LIKE wildcard
    rows = await fetch(
        conn,
        f"SELECT id FROM ledger_accounts WHERE {' OR '.join(clauses)}",
        [*names, *(p + "%" for p in prefixes)],
    )
    return sorted(int(r["id"]) for r in rows)


async def _ledger(conn: Any, f: ExportFilter, s: ExportScope) -> Source:
    w = _Where(conn)
    w.add("e.created_at >= ? AND e.created_at < ?", f.start, f.end)
    if f.asset is not None:
        w.add("p.asset = ?", f.asset.value)
    accounts = await _account_ids(conn, f, s)
    if accounts is not None:
        w.any_of([w.among("p.source_id", accounts), w.among("p.destination_id", accounts)])

    def lines(r: dict[str, Any]) -> list[Line]:
        return [
            {
                "id": r["k"],
                "entryId": r["entry_id"],
                "kind": r["kind"],
                "ref": r["ref"],
                "at": r["created_at"],
                "source": r["source"],
                "destination": r["destination"],
                "asset": r["asset"],
                "amount": r["amount"],
            }
        ]

    return Source(
        table="ledger_postings",
        key="p.id",
        select=(
            "p.entry_id, e.kind, e.ref, e.created_at, s.name AS source, "
            "d.name AS destination, p.asset, p.amount"
        ),
        body=(
            "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
            "JOIN ledger_accounts s ON s.id = p.source_id "
            f"JOIN ledger_accounts d ON d.id = p.destination_id WHERE {w.sql()}"
        ),
        params=w.params,
        lines=lines,
    )


async def _agent_statement(conn: Any, f: ExportFilter, s: ExportScope) -> Source:
    """An agency's statement lines: every posting into or out of its payable account
    and its pending part, signed (+ in, − out); a settlement moving a share from pending
    to payable is two lines.

    An agency is in a period's statement when its term overlaps the period: in office
    now (`ended_at` empty), or ended after the period began. One that ended mid-month
    has that month's statement — every movement of its accounts in the month, the
    settlements of shares it earned in office that land after its end day included —
    and none for the months after (the ledger export of its accounts shows any later
    movement)."""
    rows = await fetch(
        conn,
        "SELECT id, region_code FROM agents "
        "WHERE created_at < ? AND (ended_at IS NULL OR ended_at > ?) ORDER BY id",
        [f.end, f.start],
    )
    agencies = [
        int(r["id"])
        for r in rows
        if (s.agent_ids is None or int(r["id"]) in s.agent_ids)
        and (f.region_code is None or regions_overlap(r["region_code"], f.region_code))
    ]
    wanted = {f"agent:{a}:payable": (a, "payable") for a in agencies}
    wanted |= {f"agent:{a}:payable:pending": (a, "pending") for a in agencies}
    w = _Where(conn)
    found: dict[int, tuple[int, str]] = {}
    if wanted:
        sql, params = w.among("name", sorted(wanted))
        for r in await fetch(
            conn,
            f"SELECT id, name FROM ledger_accounts WHERE asset = ? AND {sql}",
            [Asset.CNY.value, *params],
        ):
            found[int(r["id"])] = wanted[r["name"]]
    ids = sorted(found)
    w.add("e.created_at >= ? AND e.created_at < ?", f.start, f.end)
    w.any_of([w.among("p.source_id", ids), w.among("p.destination_id", ids)])

    def lines(r: dict[str, Any]) -> list[Line]:
        out = []
        for account_id, sign in ((r["destination_id"], 1), (r["source_id"], -1)):
            held = found.get(account_id)
            if held is None:
                continue
            out.append(
                {
                    "agentId": gid("Agent", held[0]),
                    "account": held[1],
                    "postingId": r["k"],
                    "entryId": r["entry_id"],
                    "kind": r["kind"],
                    "ref": r["ref"],
                    "at": r["created_at"],
                    "amountFen": sign * r["amount"],
                }
            )
        return out

    return Source(
        table="ledger_postings",
        key="p.id",
        select="p.entry_id, e.kind, e.ref, e.created_at, p.source_id, p.destination_id, p.amount",
        body=(f"FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id WHERE {w.sql()}"),
        params=w.params,
        lines=lines,
    )


async def _releases(conn: Any, f: ExportFilter, s: ExportScope) -> Source:
    """What each lot received at each release, with the store of the lot's order."""
    w = _Where(conn)
    w.add("r.created_at >= ? AND r.created_at < ?", f.start, f.end)
    w.stores("o.merchant_id", "m.region_code", f, s)

    def lines(r: dict[str, Any]) -> list[Line]:
        return [
            {
                "id": r["k"],
                "releaseId": r["release_id"],
                "releaseNo": r["release_no"],
                "pool": r["pool"],
                "runOn": r["run_on"],
                "lotId": gid("PointLot", r["lot_id"]),
                "merchantId": gid("Merchant", r["merchant_id"]),
                "kind": r["kind"],
                "holderKind": r["holder_kind"],
                "points": r["points"],
                "firstReleaseNo": r["first_release_no"],
                "formulaUnits": r["formula_units"],
                "paidUnits": r["paid_units"],
                "voucherUnits": r["voucher_units"],
                "shoppingUnits": r["shopping_units"],
                "subsidyUnits": r["subsidy_units"],
                "statusAfter": r["status_after"],
            }
        ]

    return Source(
        table="release_payments",
        key="rp.id",
        select=(
            "rp.release_id, r.release_no, pl.name AS pool, r.run_on, rp.lot_id, "
            "o.merchant_id, rp.kind, rp.holder_kind, rp.points, rp.first_release_no, "
            "rp.formula_units, rp.paid_units, rp.voucher_units, rp.shopping_units, "
            "rp.subsidy_units, rp.status_after"
        ),
        body=(
            "FROM release_payments rp JOIN releases r ON r.id = rp.release_id "
            "JOIN release_pools pl ON pl.id = r.pool_id "
            "LEFT JOIN point_lots l ON l.id = rp.lot_id "
            "LEFT JOIN orders o ON o.id = l.order_id "
            f"LEFT JOIN merchants m ON m.id = o.merchant_id WHERE {w.sql()}"
        ),
        params=w.params,
        lines=lines,
    )
