"""Recompute the hash chain and every balance from postings (`verify-ledger`).

Three parts:
- the sealed chain, walked by `seq`: each entry links to the one before, its hash is
  `entry_hash` over its header and the digest of its postings as they are now;
- the unsealed tail (entries not yet sealed, `seq` NULL): each one's postings still
  match the digest and count written with it;
- the tip against the head: the chain reaches the seq the head records, and the entry
  there has the hash the head records (deleting the newest sealed entries leaves a
  chain that links, but one shorter than the head says).
Then every balance equals what its postings say, and none with a rule is negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from app.domain.ledger.core import digest_lines, entry_hash, posting_line

BATCH = 2000

_HEAD = "SELECT seq, hash FROM ledger_head WHERE id = 1"
_SEALED = (
    "SELECT id, seq, kind, ref, created_at, posting_count, postings_digest, prev_hash, hash "
    "FROM ledger_entries WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int"
)
_UNSEALED = (
    "SELECT id, seq, kind, ref, created_at, posting_count, postings_digest, prev_hash, hash "
    "FROM ledger_entries WHERE seq IS NULL AND id > $1::bigint ORDER BY id LIMIT $2::int"
)
_POSTINGS = (
    "SELECT id, source_id, destination_id, asset, amount FROM ledger_postings "
    "WHERE entry_id = $1::bigint AND id > $2::bigint ORDER BY id LIMIT $3::int"
)
_BALANCES = (
    "SELECT a.id, a.name, a.asset, a.balance, "
    "COALESCE((SELECT SUM(amount) FROM ledger_postings p WHERE p.destination_id = a.id), 0)"
    " - COALESCE((SELECT SUM(amount) FROM ledger_postings p WHERE p.source_id = a.id), 0)"
    " AS computed, a.allow_negative FROM ledger_accounts a ORDER BY a.id"
)


@dataclass
class VerifyReport:
    ok: bool
    entries: int  # sealed entries checked
    accounts: int
    problem: str | None = None
    unsealed: int = 0  # entries of the tail, checked against their digest


class _Broken(Exception):
    pass


async def _postings_hold(conn: BaseDBAsyncClient, names: dict[int, str], e: dict[str, Any]) -> None:
    lines: list[str] = []
    last = 0
    while True:
        rows = await conn.execute_query_dict(_POSTINGS, [int(e["id"]), last, BATCH])
        for r in rows:
            lines.append(
                posting_line(
                    names[r["source_id"]], names[r["destination_id"]], str(r["asset"]),
                    int(r["amount"]),
                )
            )  # fmt: skip
        if len(rows) < BATCH:
            break
        last = int(rows[-1]["id"])
    if len(lines) != int(e["posting_count"]) or digest_lines(lines) != e["postings_digest"]:
        where = f"seq {e['seq']}" if e["seq"] is not None else "unsealed"
        raise _Broken(f"entry {e['id']} ({where}): postings were altered")


async def verify_ledger() -> VerifyReport:
    conn = connections.get("default")
    names = {
        int(r["id"]): str(r["name"])
        for r in await conn.execute_query_dict("SELECT id, name FROM ledger_accounts")
    }
    # Read before the chain: sealing while it is walked only lengthens it, and the
    # entries and their head move commit together, so the chain reaches at least this.
    heads = await conn.execute_query_dict(_HEAD)
    head_seq, head_hash = (int(heads[0]["seq"]), str(heads[0]["hash"])) if heads else (0, "")
    checked = unsealed = 0
    try:
        prev_hash, tip, hash_at_head = "", 0, ""
        while True:
            entries = await conn.execute_query_dict(_SEALED, [tip, BATCH])
            if not entries:
                break
            for e in entries:
                if e["seq"] != tip + 1:
                    raise _Broken(f"chain gap: expected seq {tip + 1}, found {e['seq']}")
                if e["prev_hash"] != prev_hash:
                    raise _Broken(f"entry {e['id']} (seq {e['seq']}): prev_hash does not link")
                await _postings_hold(conn, names, e)
                h = entry_hash(
                    prev_hash, int(e["seq"]), e["kind"], e["ref"], e["created_at"],
                    int(e["posting_count"]), e["postings_digest"],
                )  # fmt: skip
                if h != e["hash"]:
                    raise _Broken(f"entry {e['id']} (seq {e['seq']}): hash mismatch")
                prev_hash, tip = h, int(e["seq"])
                if tip == head_seq:
                    hash_at_head = h
                checked += 1
        if tip < head_seq:
            raise _Broken(
                f"chain ends at seq {tip} but its head records seq {head_seq}: "
                "the newest entries are missing"
            )
        if head_seq and hash_at_head != head_hash:
            raise _Broken(f"entry at seq {head_seq} is not the one its head records")
        if tip and not heads:
            raise _Broken("the chain head row is missing")
        last = 0
        while True:
            tail = await conn.execute_query_dict(_UNSEALED, [last, BATCH])
            for e in tail:
                await _postings_hold(conn, names, e)
                unsealed += 1
            if len(tail) < BATCH:
                break
            last = int(tail[-1]["id"])
        for r in await conn.execute_query_dict(_BALANCES):
            if int(r["balance"]) != int(r["computed"]):
                raise _Broken(
                    f"account {r['name']}/{r['asset']}: balance {r['balance']} "
                    f"but postings say {r['computed']}"
                )
            if int(r["balance"]) < 0 and not r["allow_negative"]:
                raise _Broken(f"account {r['name']}/{r['asset']} is negative")
    except _Broken as broken:
        return VerifyReport(False, checked, len(names), str(broken), unsealed)
    return VerifyReport(True, checked, len(names), None, unsealed)
