"""Recompute the hash chain and every balance from postings (`verify-ledger`).

The chain proves each entry follows the one before it; only the chain head row says
where it ends. So the tip is checked against the head: deleting the newest entries
(with their postings and balance moves) leaves a chain that links, but one shorter
than the head records.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections

from app.domain.ledger.core import digest_lines, entry_hash, posting_line
from app.models.ledger import Account, LedgerEntry, LedgerHead

BATCH = 2000


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    accounts: int
    problem: str | None = None


async def verify_ledger() -> VerifyReport:
    conn = connections.get("default")
    names = {r["id"]: r["name"] for r in await Account.all().values("id", "name")}
    # Read before the chain: entries written while it is walked only lengthen it, and
    # the entry and its head move commit together, so the chain reaches at least this.
    head = await LedgerHead.first()
    head_seq, head_hash = (int(head.seq), head.hash) if head is not None else (0, "")
    hash_at_head = ""
    prev_hash, expected_seq, checked = "", 1, 0
    while True:
        entries = await LedgerEntry.filter(seq__gt=expected_seq - 1).order_by("seq").limit(BATCH)
        if not entries:
            break
        for e in entries:
            if e.seq != expected_seq:
                return VerifyReport(
                    False,
                    checked,
                    len(names),
                    f"chain gap: expected seq {expected_seq}, found {e.seq}",
                )
            if e.prev_hash != prev_hash:
                return VerifyReport(
                    False,
                    checked,
                    len(names),
                    f"entry {e.id} (seq {e.seq}): prev_hash does not link",
                )
            lines, count = [], 0
            offset = 0
            while True:
                rows = await conn.execute_query_dict(
                    "SELECT source_id, destination_id, asset, amount FROM ledger_postings "
                    f"WHERE entry_id = {int(e.id)} ORDER BY id LIMIT {BATCH} OFFSET {offset}"
                )
                for r in rows:
                    lines.append(
                        posting_line(
                            names[r["source_id"]],
                            names[r["destination_id"]],
                            str(r["asset"]),
                            int(r["amount"]),
                        )
                    )
                count += len(rows)
                offset += BATCH
                if len(rows) < BATCH:
                    break
            digest = digest_lines(lines)
            if count != e.posting_count or digest != e.postings_digest:
                return VerifyReport(
                    False, checked, len(names), f"entry {e.id} (seq {e.seq}): postings were altered"
                )
            h = entry_hash(prev_hash, e.seq, e.kind, e.ref, e.created_at, count, digest)
            if h != e.hash:
                return VerifyReport(
                    False, checked, len(names), f"entry {e.id} (seq {e.seq}): hash mismatch"
                )
            prev_hash = e.hash
            if e.seq == head_seq:
                hash_at_head = e.hash
            expected_seq += 1
            checked += 1
    tip = expected_seq - 1
    if tip < head_seq:
        return VerifyReport(
            False,
            checked,
            len(names),
            f"chain ends at seq {tip} but its head records seq {head_seq}: "
            "the newest entries are missing",
        )
    if head_seq and hash_at_head != head_hash:
        return VerifyReport(
            False, checked, len(names), f"entry at seq {head_seq} is not the one its head records"
        )
    if tip and head is None:
        return VerifyReport(False, checked, len(names), "the chain head row is missing")
    unsealed = await LedgerEntry.filter(seq=None).count()
    if unsealed:
        return VerifyReport(False, checked, len(names), f"{unsealed} entries are not in the chain")
    # Every balance equals what its postings say.
    rows = await conn.execute_query_dict(
        "SELECT a.id, a.name, a.asset, a.balance, "
        "COALESCE((SELECT SUM(amount) FROM ledger_postings p WHERE p.destination_id = a.id), 0)"
        " - COALESCE((SELECT SUM(amount) FROM ledger_postings p WHERE p.source_id = a.id), 0)"
        " AS computed, a.allow_negative FROM ledger_accounts a ORDER BY a.id"
    )
    for r in rows:
        if int(r["balance"]) != int(r["computed"]):
            return VerifyReport(
                False,
                checked,
                len(names),
                f"account {r['name']}/{r['asset']}: balance {r['balance']} "
                f"but postings say {r['computed']}",
            )
        if int(r["balance"]) < 0 and not r["allow_negative"]:
            return VerifyReport(
                False, checked, len(names), f"account {r['name']}/{r['asset']} is negative"
            )
    return VerifyReport(True, checked, len(names))
