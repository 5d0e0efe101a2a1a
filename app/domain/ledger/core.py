"""Posting entries: one statement per entry, balance rules, unsealed entries.

An entry is written in one statement (`statements.entry_statement`) and left unsealed:
no chain link, so no writer waits for another's place in the chain. `seal` links
entries into the sha256 hash chain later, in batches.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.transactions import in_transaction

from app.domain.ledger.accounts import AccountName
from app.domain.ledger.durable import wait_durable
from app.domain.ledger.statements import (
    ACCOUNT_IDS_SQL,
    CREATE_ACCOUNTS_SQL,
    ENTRY_BY_KEY_SQL,
    Account,
    Entry,
    Guard,
    Posting,
    Write,
    entry_statement,
)
from app.infra.errors import DomainError, error_codes
from app.infra.orm import from_row
from app.models.ledger import Account as AccountRow
from app.models.ledger import LedgerEntry

LedgerErrorCode = error_codes("LedgerErrorCode", "OVERDRAFT", "UNBALANCED")


class Overdraft(DomainError):
    """The entry would take an account with a balance rule below zero. Carries no API
    field: the caller maps it to its own input."""

    def __init__(self, account: AccountName, balance_after: int) -> None:
        super().__init__(LedgerErrorCode.OVERDRAFT, f"insufficient {account.asset.value} balance")
        self.account = account
        self.balance_after = balance_after


class GuardRefused(Exception):
    """The guard's row was not there (or no longer in the state it asks for): nothing
    was written."""


class StaleAccountIds(RuntimeError):
    """A remembered account id no longer names that account (the table was emptied or
    restored under a running process). Nothing of the entry was written; the ids are
    forgotten, and the caller's transaction must roll back (this is raised into it)."""


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


def postings_digest(postings: Sequence[Posting]) -> str:
    return digest_lines(
        # the asset is a StrEnum: formatted, it is its value
        posting_line(p.source.name, p.destination.name, p.source.asset, p.amount)
        for p in postings
    )


# ------------------------------------------------------------------ account ids

# (name, asset) -> id of accounts seen committed. Account rows are never deleted and
# their name never changes, so an id stays right for the life of the database; the
# entry's statement checks every id against its name anyway, and writes nothing if one
# does not match.
_ACCOUNT_IDS: dict[AccountName, int] = {}
_ACCOUNT_IDS_MAX = 200_000


def forget_account_ids() -> None:
    """Drop every remembered account id (after the tables were emptied)."""
    _ACCOUNT_IDS.clear()


async def _select_ids(
    names: Sequence[AccountName], conn: BaseDBAsyncClient
) -> dict[AccountName, int]:
    by_key = {(a.name, a.asset.value): a for a in names}
    rows = await conn.execute_query_dict(
        ACCOUNT_IDS_SQL, [[a.name for a in names], [a.asset.value for a in names]]
    )
    return {by_key[(r["name"], str(r["asset"]))]: int(r["id"]) for r in rows}


async def _account_ids(
    names: Iterable[AccountName], conn: BaseDBAsyncClient
) -> dict[AccountName, int]:
    """The ids of these accounts; missing ones are created first (holding no lock of
    the entry: creating them after locking the others could deadlock, an id handed out
    before our lock but committed after it sorting below what we hold)."""
    wanted = set(names)
    missing = [a for a in wanted if a not in _ACCOUNT_IDS]
    if not missing:
        return {a: _ACCOUNT_IDS[a] for a in wanted}
    found = await _select_ids(missing, conn)
    absent = [a for a in missing if a not in found]
    if absent:
        await conn.execute_query(
            CREATE_ACCOUNTS_SQL,
            [
                [a.name for a in absent],
                [a.asset.value for a in absent],
                [a.allow_negative for a in absent],
                datetime.now(UTC),
            ],
        )
        found.update(await _select_ids(absent, conn))
    else:
        # Found by a transaction that created none of them: committed rows, kept.
        if len(_ACCOUNT_IDS) + len(found) > _ACCOUNT_IDS_MAX:
            _ACCOUNT_IDS.clear()
        _ACCOUNT_IDS.update(found)
    return {a: _ACCOUNT_IDS[a] if a in _ACCOUNT_IDS else found[a] for a in wanted}


# ------------------------------------------------------------------ posting


@dataclass(frozen=True)
class Written:
    """A guarded entry's outcome: the entry, and what each write read back."""

    entry: LedgerEntry
    returned: tuple[list[dict[str, Any]], ...]

    def rows(self, index: int) -> list[dict[str, Any]]:
        """The rows write number `index` returned (its declared columns)."""
        return self.returned[index]


async def post(entry: Entry, *, conn: BaseDBAsyncClient | None = None) -> LedgerEntry:
    """Write one balanced entry, inside the caller's transaction if `conn` is one.

    With an `idem_key`, a repeat returns the entry already written and moves nothing."""
    return (await post_with(entry, conn=conn)).entry


async def post_with(
    entry: Entry,
    *,
    writes: Sequence[Write] = (),
    guard: Guard | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> Written:
    """An entry with the caller's writes, made in its one statement and only if the
    entry is (a refusal or a repeat of its key makes none of them).

    `guard`: the entry is made only if the guard's row is there and in its state (the
    row is locked first), else `GuardRefused`. A guarded entry given a plain client (not
    a transaction) commits on its own without waiting for the disk, so the hot shared
    accounts it moves are not held across the flush, and returns once it is durable."""
    postings = entry.moving()
    if conn is None:
        async with in_transaction() as tx:
            return await _post(entry, postings, writes, guard, tx)
    return await _post(entry, postings, writes, guard, conn)


async def _existing(key: str, conn: BaseDBAsyncClient) -> LedgerEntry | None:
    rows = await conn.execute_query_dict(ENTRY_BY_KEY_SQL, [key])
    return from_row(LedgerEntry, rows[0]) if rows else None


async def _post(
    entry: Entry,
    postings: list[Posting],
    writes: Sequence[Write],
    guard: Guard | None,
    conn: BaseDBAsyncClient,
) -> Written:
    if not postings:
        if entry.idem_key is not None:
            done = await _existing(entry.idem_key, conn)
            if done is not None:
                return Written(done, tuple([] for _ in writes))
        raise ValueError("an entry needs at least one posting")
    ids = await _account_ids((n for p in postings for n in (p.source, p.destination)), conn)
    delta: dict[AccountName, int] = defaultdict(int)
    for p in postings:
        delta[p.source] -= p.amount
        delta[p.destination] += p.amount
    accounts = [Account(i, name, delta[name]) for name, i in ids.items()]
    digest = postings_digest(postings)
    created_at = datetime.now(UTC).replace(microsecond=0)
    early = guard is not None and not isinstance(conn, TransactionalDBClient)
    sql, values = entry_statement(
        entry, postings, accounts, ids, created_at, digest,
        guard=guard, writes=writes, early_release=early,
    )  # fmt: skip
    row = (await conn.execute_query_dict(sql, values))[0]
    if row["id"] is not None:
        if early:
            await wait_durable(conn)
        returned = tuple(
            [dict(zip([c.name for c in w.returning], vals, strict=True))
             for vals in zip(*[row[f"w{i}_{c.name}"] for c in w.returning], strict=True)]
            if w.returning else []
            for i, w in enumerate(writes)
        )  # fmt: skip
        made = from_row(
            LedgerEntry,
            {"id": int(row["id"]), "kind": entry.kind, "ref": entry.ref,
             "idem_key": entry.idem_key, "memo": entry.memo[:255], "created_at": created_at,
             "posting_count": len(postings), "seq": None, "prev_hash": "", "hash": "",
             "postings_digest": digest},
        )  # fmt: skip
        return Written(made, returned)
    if not row["guarded"]:
        raise GuardRefused()
    if row["existing"] is not None:  # a repeat: checked before the balances it would fail
        return await _repeat(entry.idem_key, writes, conn)
    if row["found"] != len(accounts):
        forget_account_ids()
        raise StaleAccountIds("a remembered ledger account id does not match its account")
    if row["bad"] is not None:
        name = next(a.name for a in accounts if a.id == row["bad"])
        raise Overdraft(name, int(row["bad_after"]))
    # the key's entry was committed by a concurrent writer while this one waited
    return await _repeat(entry.idem_key, writes, conn)


async def _repeat(key: str | None, writes: Sequence[Write], conn: BaseDBAsyncClient) -> Written:
    """The entry already written under `key` (the statement wrote nothing)."""
    done = await _existing(key, conn) if key is not None else None
    if done is None:
        raise RuntimeError(f"entry {key} was neither written nor found")
    if writes:
        # the writes were not made: handing back the entry would claim they were
        raise RuntimeError(f"entry {key} exists, but its writes were not made")
    return Written(done, ())


# ------------------------------------------------------------------ reading


async def balance_of(name: AccountName) -> int:
    row = await AccountRow.filter(name=name.name, asset=name.asset).values("balance")
    return int(row[0]["balance"]) if row else 0


async def balances_of(names: Iterable[AccountName]) -> dict[AccountName, int]:
    wanted = list(names)
    rows = await AccountRow.filter(name__in=[n.name for n in wanted]).values(
        "name", "asset", "balance"
    )
    got = {(r["name"], str(r["asset"])): int(r["balance"]) for r in rows}
    return {n: got.get((n.name, n.asset.value), 0) for n in wanted}


async def balances_named(**names: AccountName) -> dict[str, int]:
    """Balances keyed by the caller's own names (e.g. the fields of a wallet type)."""
    got = await balances_of(names.values())
    return {key: got[name] for key, name in names.items()}


def default_client() -> BaseDBAsyncClient:
    """The plain (autocommit) client, for a guarded entry that commits on its own."""
    return connections.get("default")
