"""Sealing: link unsealed entries into the sha256 hash chain, in batches, off the hot path.

Entries are written with no chain link (`seq` NULL). `seal_pending` takes them in id
order, a batch at a time, each batch in one transaction under the chain head's lock
(one sealer at a time): every entry gets the next `seq`, the previous entry's hash and
its own (`entry_hash` over its kind, ref, time, posting count and the postings digest
written with it), and the head records the new tip. Run by the worker's cron
(`seal_ledger`) and the `seal-ledger` command; `verify-ledger` checks the result.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from app.domain.ledger.core import entry_hash
from app.domain.ledger.statements import ENSURE_HEAD_SQL, LOCK_HEAD_SQL, SEAL_SQL, UNSEALED_SQL

BATCH = 1000


async def seal_pending(batch: int = BATCH, limit: int | None = None) -> int:
    """Seal every entry unsealed now (at most `limit`); the number sealed."""
    sealed = 0
    while limit is None or sealed < limit:
        size = batch if limit is None else min(batch, limit - sealed)
        done = await seal_batch(size)
        sealed += done
        if done < size:
            break
    return sealed


async def seal_batch(size: int = BATCH) -> int:
    """One batch of at most `size` entries, in id order; the number sealed."""
    async with in_transaction() as tx:
        await tx.execute_query(ENSURE_HEAD_SQL)
        head = (await tx.execute_query_dict(LOCK_HEAD_SQL))[0]
        rows = await tx.execute_query_dict(UNSEALED_SQL, [size])
        if not rows:
            return 0
        seq, prev = int(head["seq"]), str(head["hash"])
        ids, seqs, prevs, hashes = [], [], [], []
        for r in rows:
            seq += 1
            h = entry_hash(
                prev, seq, r["kind"], r["ref"], r["created_at"], int(r["posting_count"]),
                r["postings_digest"],
            )  # fmt: skip
            ids.append(int(r["id"]))
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(h)
            prev = h
        moved = await tx.execute_query_dict(
            SEAL_SQL, [ids, seqs, prevs, hashes, seq, prev, len(ids)]
        )
        if not moved:
            raise RuntimeError("entries being sealed changed under the chain head's lock")
    return len(rows)
