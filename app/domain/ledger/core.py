"""Posting entries: balance check, row locks in key order, hash chain."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from app.domain.ledger.accounts import AccountName
from app.errors import DomainError, error_codes
from app.models.ledger import Account, Asset, LedgerEntry, LedgerHead, Posting

LedgerErrorCode = error_codes("LedgerErrorCode", "OVERDRAFT", "UNBALANCED")

HEAD_ID = 1


@dataclass(frozen=True)
class Post:
    """Move `amount` (a positive integer in the asset's unit) from source to destination."""

    source: AccountName
    destination: AccountName
    amount: int

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("ledger amounts are integers")
        if self.source.asset != self.destination.asset:
            raise ValueError(f"asset mismatch: {self.source} -> {self.destination}")
        if self.source == self.destination:
            raise ValueError(f"posting to itself: {self.source}")

    @property
    def asset(self) -> Asset:
        return self.source.asset


class Overdraft(DomainError):
    def __init__(self, account: AccountName, balance_after: int, field: str | None = None):
        super().__init__(
            LedgerErrorCode.OVERDRAFT,
            f"insufficient {account.asset.value} balance",
            field,
        )
        self.account = account
        self.balance_after = balance_after


# ------------------------------------------------------------------ hashing


def posting_line(source: str, destination: str, asset: str, amount: int) -> str:
    return f"{source}|{destination}|{asset}|{amount}"


def digest_lines(lines: Iterable[str]) -> str:
    """sha256 over the entry's posting lines, in posting-id order, each ending in \\n."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def entry_hash(
    prev_hash: str, seq: int, kind: str, ref: str, created_at: datetime, count: int, digest: str
) -> str:
    header = f"{seq}|{kind}|{ref}|{created_at.astimezone(UTC).isoformat()}|{count}|{digest}"
    return hashlib.sha256(f"{prev_hash}\n{header}".encode()).hexdigest()


# ------------------------------------------------------------------ accounts


async def ensure_accounts(names: Iterable[AccountName], conn) -> dict[AccountName, int]:
    """Ids of the accounts, creating missing ones (safe under concurrency)."""
    wanted = sorted(set(names))
    by_key = {(a.name, a.asset.value): a for a in wanted}
    found = (
        await Account.filter(name__in=[a.name for a in wanted])
        .using_db(conn)
        .values("id", "name", "asset")
    )
    ids = {
        by_key[(r["name"], str(r["asset"]))]: r["id"]
        for r in found
        if (r["name"], str(r["asset"])) in by_key
    }
    missing = [a for a in wanted if a not in ids]
    if missing:
        await Account.bulk_create(
            [Account(name=a.name, asset=a.asset, allow_negative=a.allow_negative) for a in missing],
            ignore_conflicts=True,
            using_db=conn,
        )
        found = (
            await Account.filter(name__in=[a.name for a in missing])
            .using_db(conn)
            .values("id", "name", "asset")
        )
        for r in found:
            key = (r["name"], str(r["asset"]))
            if key in by_key:
                ids[by_key[key]] = r["id"]
    return ids


# ------------------------------------------------------------------ posting


async def post(
    kind: str,
    ref: str,
    postings: Sequence[Post],
    *,
    idem_key: str | None = None,
    memo: str = "",
    field: str | None = None,
    conn=None,
) -> LedgerEntry:
    """Write one balanced entry. Inside the caller's transaction if `conn` is given.

    With an `idem_key`, a repeat returns the entry already written and moves nothing.
    """
    postings = [p for p in postings if p.amount != 0]
    for p in postings:
        if p.amount < 0:
            raise ValueError(f"negative posting amount {p.amount}: swap source and destination")
    if conn is None:
        async with in_transaction() as tx:
            return await _post(kind, ref, postings, idem_key, memo, field, tx)
    return await _post(kind, ref, postings, idem_key, memo, field, conn)


async def _lock_accounts(names: Iterable[AccountName], conn) -> dict[AccountName, Account]:
    """The accounts' rows, locked in primary-key order (missing ones are created first).

    Two entries touching the same accounts always queue in the same order, so they cannot
    deadlock. One round trip when the accounts exist. (Model rows, not `.values()`:
    Tortoise silently drops FOR UPDATE from values queries.)
    """
    wanted = sorted(set(names))
    by_key = {(a.name, a.asset.value): a for a in wanted}

    async def lock() -> dict[AccountName, Account]:
        rows = (
            await Account.filter(name__in=sorted({a.name for a in wanted}))
            .order_by("id")
            .select_for_update()
            .using_db(conn)
        )
        keyed = ((by_key.get((r.name, str(r.asset))), r) for r in rows)
        return {a: r for a, r in keyed if a is not None}

    rows = await lock()
    missing = [a for a in wanted if a not in rows]
    if missing:  # new ids are above every locked one: the order still holds
        await Account.bulk_create(
            [Account(name=a.name, asset=a.asset, allow_negative=a.allow_negative) for a in missing],
            ignore_conflicts=True,
            using_db=conn,
        )
        rows = await lock()
    return rows


async def _post(kind, ref, postings, idem_key, memo, field, conn) -> LedgerEntry:
    if idem_key is not None:
        if conn.capabilities.dialect == "postgres":
            # Concurrent writers of the same key queue here until the first commits, then
            # find its entry below (SQLite has a single writer: nothing to queue).
            await conn.execute_query(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [idem_key]
            )
        existing = await LedgerEntry.filter(idem_key=idem_key).using_db(conn).first()
        if existing is not None:
            return existing
    if not postings:
        raise ValueError("an entry needs at least one posting")
    rows = await _lock_accounts([n for p in postings for n in (p.source, p.destination)], conn)
    ids = {a: r.id for a, r in rows.items()}

    delta: dict[int, int] = defaultdict(int)
    for p in postings:
        delta[ids[p.source]] -= p.amount
        delta[ids[p.destination]] += p.amount
    for name, row in rows.items():
        after = row.balance + delta[row.id]
        if after < 0 and not row.allow_negative:
            raise Overdraft(name, after, field)
    changed = sorted(k for k, v in delta.items() if v != 0)
    if changed:
        case = " ".join(f"WHEN {k} THEN {delta[k]}" for k in changed)
        await conn.execute_query(
            f"UPDATE ledger_accounts SET balance = balance + CASE id {case} END "
            f"WHERE id IN ({', '.join(str(k) for k in changed)})"
        )

    # The entry is written already linked into the hash chain (the chain head is locked
    # here and held to commit, like the shared accounts above).
    digest = digest_lines(
        posting_line(p.source.name, p.destination.name, p.asset.value, p.amount) for p in postings
    )
    created_at = datetime.now(UTC).replace(microsecond=0)
    head = await _lock_head(conn)
    seq = head.seq + 1
    h = entry_hash(head.hash, seq, kind, ref, created_at, len(postings), digest)
    entry = await LedgerEntry.create(
        kind=kind,
        ref=ref,
        idem_key=idem_key,
        memo=memo[:255],
        created_at=created_at,
        posting_count=len(postings),
        seq=seq,
        prev_hash=head.hash,
        hash=h,
        postings_digest=digest,
        using_db=conn,
    )
    await Posting.bulk_create(
        [
            Posting(
                entry_id=entry.id,
                source_id=ids[p.source],
                destination_id=ids[p.destination],
                asset=p.asset,
                amount=p.amount,
            )
            for p in postings
        ],
        using_db=conn,
    )
    await LedgerHead.filter(id=HEAD_ID).using_db(conn).update(seq=seq, hash=h)
    return entry


async def _lock_head(conn) -> LedgerHead:
    head = await LedgerHead.filter(id=HEAD_ID).select_for_update().using_db(conn).first()
    if head is None:
        await LedgerHead.bulk_create(
            [LedgerHead(id=HEAD_ID, seq=0, hash="")], ignore_conflicts=True, using_db=conn
        )
        head = await LedgerHead.filter(id=HEAD_ID).select_for_update().using_db(conn).first()
    assert head is not None
    return head


async def seal(entry: LedgerEntry, digest: str, conn) -> None:
    """Link an entry written without a chain position into the hash chain."""
    head = await _lock_head(conn)
    seq = head.seq + 1
    h = entry_hash(
        head.hash, seq, entry.kind, entry.ref, entry.created_at, entry.posting_count, digest
    )
    await (
        LedgerEntry.filter(id=entry.id)
        .using_db(conn)
        .update(seq=seq, prev_hash=head.hash, hash=h, postings_digest=digest)
    )
    await LedgerHead.filter(id=HEAD_ID).using_db(conn).update(seq=seq, hash=h)
    entry.seq, entry.prev_hash, entry.hash, entry.postings_digest = seq, head.hash, h, digest


# ------------------------------------------------------------------ reading


async def balance_of(name: AccountName) -> int:
    row = await Account.filter(name=name.name, asset=name.asset).values("balance")
    return int(row[0]["balance"]) if row else 0


async def balances_of(names: Iterable[AccountName]) -> dict[AccountName, int]:
    names = list(names)
    rows = await Account.filter(name__in=[n.name for n in names]).values("name", "asset", "balance")
    got = {(r["name"], str(r["asset"])): int(r["balance"]) for r in rows}
    return {n: got.get((n.name, n.asset.value), 0) for n in names}


async def balances_named(**names: AccountName) -> dict[str, int]:
    """Balances keyed by the caller's own names (e.g. the fields of a wallet type)."""
    got = await balances_of(names.values())
    return {key: got[name] for key, name in names.items()}
