"""Set-based posting: one ledger entry with up to millions of postings (SPEC §10).

`post_bulk` takes a SQL SELECT that yields the postings
`(ord, src, dst, asset, amount)` (account names, ordering key) and writes them with
a handful of statements, whatever their number (PostgreSQL):

1. the rows land in a temporary table with their account ids, looked up in the same
   statement (`CREATE TEMP TABLE … AS SELECT … LEFT JOIN ledger_accounts`);
2. missing accounts are created (`INSERT … SELECT … ON CONFLICT DO NOTHING`, only for
   the rows whose id was not found) and their ids filled in;
3. the per-account deltas are computed in SQL; the touched balance rows are locked in
   primary-key order and an entry that would overdraw a non-negative account fails
   whole (`Overdraft`), as `ledger.post` does;
4. balances move with one `UPDATE … FROM`;
5. postings go in with one `INSERT … SELECT` in `ord` order, so posting ids follow it
   (with their foreign-key checks: skipping them through `session_replication_role`
   would need a superuser role, which the app must not run as);
6. the entry is written unsealed with the digest `ledger.post` would compute (sha256
   over `posting_line` in posting-id order), computed in SQL from the staged rows;
   the sealing job links it into the chain like any entry.

Run it inside the caller's transaction (`conn`). Memory does not grow with the number
of postings.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.domain.ledger.accounts import AccountName
from app.domain.ledger.core import Overdraft
from app.models.ledger import Asset, LedgerEntry

_PARAM = re.compile(r"@([a-z_][a-z0-9_]*)(?:!([a-z_ ]+[a-z]))?")

# The order postings are inserted in (their ids follow it): `ord` first, then total over
# the row's values. The digest is computed from the staged rows in the same order, by
# account id (sorting integers, not names, is what keeps it cheap).
_ORDER_PG = "ord, src_id, dst_id, asset, amount"


def dialect_of(conn: Any) -> str:
    return str(conn.capabilities.dialect)


def render(sql: str, params: dict[str, Any], dialect: str = "postgres") -> tuple[str, list[Any]]:
    """`@name` / `@name!type` placeholders -> `$n::type` (`dialect`: kept for callers;
    the ledger speaks PostgreSQL only)."""
    values: list[Any] = []
    index: dict[str, int] = {}

    def sub(m: re.Match[str]) -> str:
        name, typ = m.group(1), m.group(2)
        if name not in index:
            values.append(params[name])
            index[name] = len(values)
        return f"${index[name]}::{typ or _pg_type(params[name])}"

    return _PARAM.sub(sub, sql), values


def _pg_type(value: Any) -> str:
    """asyncpg needs a type for a parameter in a select list: infer it from the value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, Decimal):
        return "numeric"
    if isinstance(value, datetime):
        return "timestamptz"
    if isinstance(value, date):
        return "date"
    return "text"


async def execute(conn: Any, sql: str, params: dict[str, Any] | None = None) -> None:
    q, v = render(sql, params or {})
    await conn.execute_query(q, v)


async def fetch(conn: Any, sql: str, params: dict[str, Any] | None = None) -> list[dict]:
    q, v = render(sql, params or {})
    return list(await conn.execute_query_dict(q, v))


def _negative_expr(col: str) -> str:
    # Mirrors AccountName.allow_negative: the world, issuers, channel clearing, the
    # platform's loss and receivables.
    return (
        f"({col} = 'world' OR {col} LIKE 'issuer:%' OR {col} LIKE 'channel:%' "
        f"OR {col} LIKE 'platform:loss%' OR {col} LIKE '%:receivable')"
    )


async def post_bulk(
    kind: str,
    ref: str,
    select_sql: str,
    params: dict[str, Any],
    *,
    conn: Any,
    idem_key: str | None = None,
    memo: str = "",
) -> LedgerEntry | None:
    """Post every row of `select_sql` (columns ord, src, dst, asset, amount) as one entry.

    Rows with amount 0 are skipped; a negative amount is refused. Returns None when
    there is nothing to post. With `idem_key`, a repeat returns the first entry.
    """
    if idem_key is not None:
        existing = await LedgerEntry.filter(idem_key=idem_key).using_db(conn).first()
        if existing is not None:
            return existing
    now = datetime.now(UTC).replace(microsecond=0)
    await _drop(conn)
    # 1.-2. staging (with the account ids where the accounts exist), missing accounts
    count = await _stage_pg(conn, select_sql, params, now)
    if count == 0:
        await _drop(conn)
        return None
    # 3.-4. locks, overdraft, balances
    await _move_balances(conn)
    digest = await _staged_digest(conn)
    # 5.-6. the entry (unsealed, with its digest) and its postings, ids in `ord` order
    entry = await LedgerEntry.create(
        kind=kind,
        ref=ref,
        idem_key=idem_key,
        memo=memo[:255],
        created_at=now,
        posting_count=count,
        postings_digest=digest,
        using_db=conn,
    )
    insert = (
        "INSERT INTO ledger_postings (entry_id, source_id, destination_id, asset, amount) "
        "SELECT @entry, src_id, dst_id, asset, amount FROM bulk_postings "
        f"ORDER BY {_ORDER_PG}"
    )
    await execute(conn, insert, {"entry": entry.id})
    await _drop(conn)
    return entry


def _check_stats(stats: list[dict]) -> int:
    count, lowest, selfpost = int(stats[0]["n"]), int(stats[0]["lo"]), int(stats[0]["self"])
    if lowest < 0:
        raise ValueError("negative posting amount: swap source and destination")
    if selfpost:
        raise ValueError("posting to itself")
    return count


_STATS = (
    "SELECT COUNT(*) AS n, COALESCE(MIN(amount), 0) AS lo, "
    "COALESCE(SUM(CASE WHEN src = dst THEN 1 ELSE 0 END), 0) AS self{extra} FROM bulk_postings"
)

_NEW_ACCOUNTS = (
    "INSERT INTO ledger_accounts (name, asset, balance, allow_negative, created_at) "
    "SELECT n.name, n.asset, 0, {neg}, @now!timestamptz FROM "
    "(SELECT src AS name, asset FROM bulk_postings{w_src} UNION "
    " SELECT dst AS name, asset FROM bulk_postings{w_dst}) n WHERE 1 = 1 "
    "ON CONFLICT (name, asset) DO NOTHING"
)


async def _stage_pg(conn: Any, select_sql: str, params: dict[str, Any], now: datetime) -> int:
    """The postings with their account ids in one statement; accounts that do not exist
    yet are created and their ids filled in (only those rows are touched)."""
    await execute(
        conn,
        "CREATE TEMP TABLE bulk_postings AS SELECT q.ord::bigint AS ord, "
        "q.src::varchar(96) AS src, q.dst::varchar(96) AS dst, q.asset::varchar(16) AS asset, "
        "q.amount::bigint AS amount, s.id AS src_id, d.id AS dst_id "
        f"FROM ({select_sql}) q "
        "LEFT JOIN ledger_accounts s ON s.name = q.src AND s.asset = q.asset "
        "LEFT JOIN ledger_accounts d ON d.name = q.dst AND d.asset = q.asset "
        "WHERE q.amount <> 0",
        params,
    )
    stats = await fetch(
        conn,
        _STATS.replace(
            "{extra}",
            ", COALESCE(SUM(CASE WHEN src_id IS NULL OR dst_id IS NULL THEN 1 ELSE 0 END), 0)"
            " AS missing",
        ),
    )
    count = _check_stats(stats)
    if count and int(stats[0]["missing"]):
        # The new accounts' ids come back from their insert (a holder's account is new
        # on its first release); an account someone else created meanwhile (a conflict,
        # not returned) and a new source account are looked up by name after.
        await execute(
            conn,
            "WITH new AS ("
            + _NEW_ACCOUNTS.replace("{neg}", _negative_expr("n.name"))
            .replace("{w_src}", " WHERE src_id IS NULL")
            .replace("{w_dst}", " WHERE dst_id IS NULL")
            + " RETURNING id, name, asset) UPDATE bulk_postings SET dst_id = new.id FROM new "
            "WHERE bulk_postings.dst_id IS NULL AND new.name = bulk_postings.dst "
            "AND new.asset = bulk_postings.asset",
            {"now": now},
        )
        for side in ("src", "dst"):
            await execute(
                conn,
                f"UPDATE bulk_postings SET {side}_id = a.id FROM ledger_accounts a "
                f"WHERE bulk_postings.{side}_id IS NULL AND a.name = bulk_postings.{side} "
                "AND a.asset = bulk_postings.asset",
            )
    return count


async def _move_balances(conn: Any) -> None:
    """Per-account deltas; the accounts are locked in key order in the statement that
    checks for an overdraft; an entry that would overdraw a non-negative account fails
    whole, before anything moved."""
    await execute(
        conn,
        "CREATE TEMP TABLE bulk_deltas AS SELECT x.id AS id, CAST(SUM(x.d) AS BIGINT) AS delta "
        "FROM ("
        " SELECT dst_id AS id, amount AS d FROM bulk_postings UNION ALL"
        " SELECT src_id AS id, -amount AS d FROM bulk_postings) x GROUP BY x.id",
    )
    await execute(conn, "ANALYZE bulk_deltas")
    # A few thousand accounts out of (maybe) millions: one index probe each. The
    # planner's cost model prefers hashing a scan of the whole table, 2-3x slower
    # here (measured at 250,000 accounts), so these two statements join by index.
    await execute(conn, "SET LOCAL enable_hashjoin = off")
    await execute(conn, "SET LOCAL enable_mergejoin = off")
    rows = await fetch(
        conn,
        "SELECT COUNT(*) AS n, (SELECT COUNT(*) FROM bulk_deltas) AS want, "
        "MIN(CASE WHEN z.delta < 0 AND NOT z.allow_negative AND z.after < 0 "
        "THEN z.id END) AS bad FROM (SELECT a.id, a.allow_negative, "
        "a.balance + d.delta AS after, d.delta FROM ledger_accounts a "
        "JOIN bulk_deltas d ON d.id = a.id ORDER BY a.id FOR NO KEY UPDATE OF a) z",
    )
    if int(rows[0]["n"]) != int(rows[0]["want"]):  # an account id that is not there
        raise RuntimeError("bulk posting to an account that does not exist")
    bad_id = rows[0]["bad"]
    if bad_id is not None:
        bad = await fetch(
            conn,
            "SELECT a.name, a.asset, a.balance + d.delta AS after FROM ledger_accounts a "
            "JOIN bulk_deltas d ON d.id = a.id WHERE a.id = @id",
            {"id": int(bad_id)},
        )
        await _drop(conn)
        await _reset_joins(conn)
        row = bad[0]
        raise Overdraft(AccountName(row["name"], Asset(row["asset"])), int(row["after"]))
    await execute(
        conn,
        "UPDATE ledger_accounts SET balance = balance + d.delta FROM bulk_deltas d "
        "WHERE ledger_accounts.id = d.id AND d.delta <> 0",
    )
    await _reset_joins(conn)


async def _reset_joins(conn: Any) -> None:
    await execute(conn, "RESET enable_hashjoin")
    await execute(conn, "RESET enable_mergejoin")


async def _staged_digest(conn: Any) -> str:
    """The digest `postings_digest` will find, from the staged rows in insertion order."""
    rows = await fetch(
        conn,
        "SELECT encode(sha256(convert_to(string_agg("
        "src || '|' || dst || '|' || asset || '|' || amount::text || E'\\n', "
        f"'' ORDER BY {_ORDER_PG}), 'UTF8')), 'hex') AS h FROM bulk_postings",
    )
    return str(rows[0]["h"])


async def _drop(conn: Any) -> None:
    for table in ("bulk_postings", "bulk_deltas"):
        await execute(conn, f"DROP TABLE IF EXISTS {table}")


async def postings_digest(conn: Any, entry_id: int) -> str:
    """`digest_lines(posting_line(...))` over the entry's postings in id order."""
    rows = await fetch(
        conn,
        "SELECT encode(sha256(convert_to(string_agg("
        "s.name || '|' || d.name || '|' || p.asset || '|' || p.amount::text || E'\\n', "
        "'' ORDER BY p.id), 'UTF8')), 'hex') AS h "
        "FROM ledger_postings p JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id WHERE p.entry_id = @entry",
        {"entry": entry_id},
    )
    return str(rows[0]["h"])
