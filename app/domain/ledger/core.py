"""Posting entries: balance check, row locks in key order, hash chain."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from app.domain.ledger.accounts import AccountName
from app.domain.ledger.durable import wait_durable
from app.infra.errors import DomainError, error_codes
from app.infra.orm import from_row
from app.infra.sql import fetch, is_pg, run
from app.models.ledger import Account, Asset, LedgerEntry, LedgerHead

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


class _Locked(NamedTuple):
    id: int
    balance: int
    allow_negative: bool


# ------------------------------------------------------------------ posting

# (sql, values), or (name, sql, values): a caller's write made with an entry
Rider = tuple[str, list] | tuple[str, str, list]


@dataclass(frozen=True)
class _Riding:
    """The caller's writes that ride with an entry, what it reads back of them, and the
    row lock the entry is made under (PostgreSQL, see `post`)."""

    riders: Sequence[Rider] = ()
    columns: tuple[str, list] | None = None
    out: dict[str, Any] | None = None
    guard: tuple[str, list] | None = None
    release_early: bool = False

    def ctes(self) -> str:
        return ", ".join(
            f"{r[0] if len(r) == 3 else f'r{i}'} AS ({r[-2]})".replace(GO, "(SELECT go FROM ok)")
            for i, r in enumerate(self.riders)
        )

    def values(self) -> list:
        return [v for r in self.riders for v in r[-1]]

    def statements(self) -> list[tuple[str, list]]:
        """The riders one by one (SQLite, in the entry's transaction): plain statements
        only, made before the entry (a refused entry rolls them back)."""
        if self.columns is not None or self.guard is not None:
            raise ValueError("a guard and read-back columns need PostgreSQL")
        if any(len(r) == 3 for r in self.riders):
            raise ValueError("named riders need PostgreSQL")
        return [(str(r[0]).replace(GO, "1 = 1"), list(r[-1])) for r in self.riders]


# In a rider's SQL: true when the entry is being written (on PostgreSQL the statement's
# verdict on the accounts, the key and the guard; elsewhere always, as a refused entry
# rolls the transaction back).
GO = "{go}"


async def post(
    kind: str,
    ref: str,
    postings: Sequence[Post],
    *,
    idem_key: str | None = None,
    memo: str = "",
    field: str | None = None,
    conn=None,
    key_locked: bool = False,
    riders: Sequence[Rider] = (),
    columns: tuple[str, list] | None = None,
    out: dict[str, Any] | None = None,
    guard: tuple[str, list] | None = None,
    release_early: bool = False,
) -> LedgerEntry:
    """Write one balanced entry. Inside the caller's transaction if `conn` is given.

    With an `idem_key`, a repeat returns the entry already written and moves nothing.
    `key_locked`: the caller's transaction already holds a row lock that every writer
    of this key takes first (e.g. the order row for `order:N:paid`), so the key's own
    advisory lock would only cost a round trip.
    `riders`: the caller's own writes (`sql`, values), made with the entry — inside the
    entry's one statement on PostgreSQL (each an INSERT, UPDATE or DELETE, run as a
    data-modifying CTE), just before it otherwise. Unless gated on `GO` (below) they
    are made also when the key's entry exists already; never when it is refused.
    A rider given as (`name`, `sql`, values) is a CTE of that name, which later riders
    and `columns` (output expressions, values) may read from; `out` receives those
    columns. Named riders and columns exist on PostgreSQL only. A rider that contains
    `GO` ("{go}") as a condition is made only when the entry is.
    `guard` (PostgreSQL): a `SELECT ... FOR UPDATE` of the caller's row, locked before
    any account; the entry is written only if it finds the row, else `GuardRefused`.
    With a guard the statement runs outside a transaction (`conn` a plain client): it
    commits on its own, in the same round trip and without waiting for the disk, so
    the shared accounts and the chain head are held for the statement only; `post`
    returns once the entry is durable (`_EARLY_RELEASE`). Every rider must then be
    gated on `GO` (directly, or by reading a rider that is).
    `release_early` (PostgreSQL, inside the caller's transaction): its commit will not
    wait for the disk either, so the chain head is not held across the flush; the caller
    must `wait_durable` after the commit, before anything is acknowledged.
    """
    postings = [p for p in postings if p.amount != 0]
    for p in postings:
        if p.amount < 0:
            raise ValueError(f"negative posting amount {p.amount}: swap source and destination")
    riding = _Riding(riders, columns, out, guard, release_early or guard is not None)
    if guard is not None and not key_locked:
        raise ValueError("a guard is the key's lock: pass key_locked=True")
    if guard is not None and (conn is None or isinstance(conn, TransactionalDBClient)):
        # its commit must be the statement's own, for the wait for the disk to follow it
        raise ValueError("a guarded entry runs outside a transaction: pass a plain client")
    if conn is None:
        async with in_transaction() as tx:
            return await _post(kind, ref, postings, idem_key, memo, field, tx, key_locked, riding)
    return await _post(kind, ref, postings, idem_key, memo, field, conn, key_locked, riding)


async def _lock_accounts(
    names: Iterable[AccountName], conn, idem_key: str | None = None
) -> tuple[dict[AccountName, _Locked], int | None]:
    """The accounts' rows, locked in primary-key order (missing ones are created first),
    and the id of the entry already written under `idem_key`, if any.

    Two entries touching the same accounts always queue in the same order, so they cannot
    deadlock — as long as every lock of an entry is taken in one ordered pass over rows
    that all exist. So the locking query locks nothing unless it finds every account;
    when one is missing, the accounts are created first (holding no lock of this entry)
    and then locked. (Locking the ones there and creating the rest afterwards deadlocks:
    an id handed out before our lock but committed after it sorts below what we hold.)
    One round trip when the accounts exist: the key check rides along (the caller holds
    the key's advisory lock, so no entry of that key can appear meanwhile).
    """
    wanted = sorted(set(names))
    by_key = {(a.name, a.asset.value): a for a in wanted}
    pairs = ", ".join(["(?, ?)"] * len(wanted))
    keys = [v for a in wanted for v in (a.name, a.asset.value)]
    columns = (
        "SELECT id, name, asset, balance, allow_negative, "
        "(SELECT e.id FROM ledger_entries e WHERE e.idem_key = ?) AS existing "
        f"FROM ledger_accounts WHERE (name, asset) IN ({pairs}) "
    )
    all_or_none = (
        f"AND (SELECT COUNT(*) FROM ledger_accounts WHERE (name, asset) IN ({pairs})) = ? "
    )

    async def lock(sql: str, values: list) -> tuple[dict[AccountName, _Locked], int | None]:
        rows = await fetch(conn, sql + "ORDER BY id FOR UPDATE", values)
        found = {
            by_key[(r["name"], str(r["asset"]))]: _Locked(
                int(r["id"]), int(r["balance"]), bool(r["allow_negative"])
            )
            for r in rows
        }
        return found, (rows[0]["existing"] if rows else None)

    rows, existing = await lock(columns + all_or_none, [idem_key, *keys, *keys, len(wanted)])
    if rows:
        return rows, existing
    if idem_key is not None:
        found = await fetch(conn, "SELECT id FROM ledger_entries WHERE idem_key = ?", [idem_key])
        if found:
            return {}, found[0]["id"]
    await _create_accounts(wanted, conn)
    return await lock(columns, [idem_key, *keys])


async def _create_accounts(names: Sequence[AccountName], conn) -> None:
    """The accounts, at zero, where they do not exist yet (a concurrent creator wins)."""
    now = datetime.now(UTC)
    await run(
        conn,
        "INSERT INTO ledger_accounts (name, asset, balance, allow_negative, created_at) "
        f"VALUES {', '.join(['(?, ?, 0, ?, ?)'] * len(names))} "
        "ON CONFLICT (name, asset) DO NOTHING",
        [v for a in names for v in (a.name, a.asset.value, a.allow_negative, now)],
    )


async def _ride(conn, riding: _Riding) -> None:
    for sql, values in riding.statements():
        await run(conn, sql, values)


async def _post(
    kind, ref, postings, idem_key, memo, field, conn, key_locked, riding: _Riding
) -> LedgerEntry:
    pg = is_pg(conn)
    if idem_key is not None and pg and not key_locked:
        # Concurrent writers of the same key queue here until the first commits, then
        # find its entry below (SQLite has a single writer: nothing to queue).
        await conn.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [idem_key]
        )
    if not postings:
        if idem_key is not None:
            done = await LedgerEntry.filter(idem_key=idem_key).using_db(conn).first()
            if done is not None:
                await _ride(conn, riding)
                return done
        raise ValueError("an entry needs at least one posting")
    if pg:
        return await _post_pg(kind, ref, postings, idem_key, memo, field, conn, riding)
    rows, existing = await _lock_accounts(
        [n for p in postings for n in (p.source, p.destination)], conn, idem_key
    )
    if existing is not None:
        await _ride(conn, riding)
        return await LedgerEntry.filter(id=existing).using_db(conn).get()
    ids = {a: r.id for a, r in rows.items()}
    delta = _deltas(postings, ids)
    for name, row in rows.items():
        after = row.balance + delta[row.id]
        if after < 0 and not row.allow_negative:
            raise Overdraft(name, after, field)
    changed = sorted(k for k, v in delta.items() if v != 0)

    # The entry is written already linked into the hash chain (the chain head is locked
    # here and held to commit, like the accounts above).
    digest = _digest(postings)
    created_at = datetime.now(UTC).replace(microsecond=0)
    head_seq, head_hash = await _lock_head(conn)
    seq = head_seq + 1
    h = entry_hash(head_hash, seq, kind, ref, created_at, len(postings), digest)
    memo = memo[:255]
    entry_values = [kind, ref, idem_key, memo, created_at, len(postings), seq, head_hash, h, digest]
    await _ride(conn, riding)
    if changed:
        await run(conn, _balances_case(delta, changed))
    found = await fetch(conn, _ENTRY_SQL + " RETURNING id", entry_values)
    entry_id = int(found[0]["id"])
    await run(
        conn,
        "INSERT INTO ledger_postings (entry_id, source_id, destination_id, asset, amount) "
        f"VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(postings))}",
        [
            v
            for p in postings
            for v in (entry_id, ids[p.source], ids[p.destination], p.asset.value, p.amount)
        ],
    )
    await run(conn, "UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1", [seq, h])
    return _entry(entry_id, kind, ref, idem_key, memo, created_at, len(postings), seq,
                  head_hash, h, digest)  # fmt: skip


def _deltas(postings: Sequence[Post], ids: dict[AccountName, int]) -> dict[int, int]:
    delta: dict[int, int] = defaultdict(int)
    for p in postings:
        delta[ids[p.source]] -= p.amount
        delta[ids[p.destination]] += p.amount
    return delta


def _digest(postings: Sequence[Post]) -> str:
    return digest_lines(
        posting_line(p.source.name, p.destination.name, p.asset.value, p.amount) for p in postings
    )


def _entry(entry_id, kind, ref, idem_key, memo, created_at, count, seq, prev_hash, h, digest):
    # As read from the database (the model's constructor costs ~0.2 ms: field checks).
    return from_row(
        LedgerEntry,
        dict(
            id=entry_id,
            kind=kind,
            ref=ref,
            idem_key=idem_key,
            memo=memo,
            created_at=created_at,
            posting_count=count,
            seq=seq,
            prev_hash=prev_hash,
            hash=h,
            postings_digest=digest,
        ),
    )


# ------------------------------------------------------------------ PostgreSQL: one statement


class GuardRefused(Exception):
    """The guard's row was not there (or no longer in the state it asks for): nothing
    was written."""


class StaleAccountIds(RuntimeError):
    """A remembered account id no longer names that account (the table was emptied or
    restored under a running process). Nothing of the entry was written; the ids are
    forgotten, and the caller's transaction must roll back (this is raised into it)."""


# (name, asset) -> id of accounts seen committed. Account rows are never deleted and
# their name never changes, so an id stays right for the life of the database; the
# entry's statement checks every id against its name anyway, and writes nothing if one
# does not match.
_ACCOUNT_IDS: dict[AccountName, int] = {}
_ACCOUNT_IDS_MAX = 200_000


def forget_account_ids() -> None:
    """Drop every remembered account id (after the tables were emptied)."""
    _ACCOUNT_IDS.clear()


async def _account_ids(names: Iterable[AccountName], conn) -> dict[AccountName, int]:
    """The ids of these accounts; missing ones are created (in the caller's transaction,
    holding no lock of the entry: see `_lock_accounts`)."""
    wanted = set(names)
    missing = [a for a in wanted if a not in _ACCOUNT_IDS]
    if not missing:
        return {a: _ACCOUNT_IDS[a] for a in wanted}
    await _ensure_head(conn)  # a first entry, or the first since the ids were forgotten
    found = await _select_ids(missing, conn)
    absent = [a for a in missing if a not in found]
    if absent:
        await _create_accounts(absent, conn)
        found.update(await _select_ids(absent, conn))
    else:
        # Found by a transaction that created none of them: committed rows, kept.
        if len(_ACCOUNT_IDS) + len(found) > _ACCOUNT_IDS_MAX:
            _ACCOUNT_IDS.clear()
        _ACCOUNT_IDS.update(found)
    return {a: _ACCOUNT_IDS[a] if a in _ACCOUNT_IDS else found[a] for a in wanted}


async def _select_ids(names: Sequence[AccountName], conn) -> dict[AccountName, int]:
    by_key = {(a.name, a.asset.value): a for a in names}
    rows = await fetch(
        conn,
        "SELECT id, name, asset FROM ledger_accounts "
        f"WHERE (name, asset) IN ({', '.join(['(?, ?)'] * len(names))})",
        [v for a in names for v in (a.name, a.asset.value)],
    )
    return {by_key[(r["name"], str(r["asset"]))]: int(r["id"]) for r in rows}


async def _post_pg(kind, ref, postings, idem_key, memo, field, conn, riding) -> LedgerEntry:
    """The whole entry in one statement: the accounts locked in id order (each id
    checked against its name), the key and every balance checked, and only if all is
    well the balances moved, the chain head advanced (its hash computed by the server
    from the locked tip, the same sha256 `entry_hash` computes), the entry and its
    postings written. The locks are taken and released with one round trip and the
    commit, instead of being held across three."""
    ids = await _account_ids((n for p in postings for n in (p.source, p.destination)), conn)
    delta = _deltas(postings, ids)
    digest = _digest(postings)
    created_at = datetime.now(UTC).replace(microsecond=0)
    memo = memo[:255]
    accounts = sorted(ids.items(), key=lambda item: item[1])
    columns, column_values = riding.columns or ("", [])
    guard, guard_values = riding.guard or ("", [])
    write = _one_statement_sql(
        len(accounts), len(postings), columns, riding.ctes(), guard, riding.release_early
    )
    suffix = _hash_suffix(kind, ref, created_at, len(postings), digest)
    found = await fetch(
        conn,
        write,
        [
            *guard_values,
            *[v for a, i in accounts for v in (i, a.name, a.asset.value, delta[i])],
            idem_key,
            len(accounts),
            *riding.values(),
            suffix,
            kind, ref, idem_key, memo, created_at, len(postings), digest,
            *[v for n, p in enumerate(postings)
              for v in (n, ids[p.source], ids[p.destination], p.asset.value, p.amount)],
            *column_values,
        ],
    )  # fmt: skip
    row = found[0]
    if riding.out is not None:
        riding.out.update(row)
    if riding.guard is not None and row["id"] is not None:
        await wait_durable(conn)  # see _EARLY_RELEASE
    if row["id"] is not None:
        return _entry(int(row["id"]), kind, ref, idem_key, memo, created_at, len(postings),
                      int(row["seq"]), row["prev_hash"], row["hash"], digest)  # fmt: skip
    if not row["guarded"]:
        raise GuardRefused()
    if row["existing"] is not None:
        if riding.guard is not None:
            # the guard's row says "not yet", the ledger "done": its riders were not made,
            # so handing back the entry would claim writes that did not happen
            raise RuntimeError(f"entry {idem_key} exists, but its guard's row was unchanged")
        return await LedgerEntry.filter(id=row["existing"]).using_db(conn).get()
    if row["found"] != len(accounts):
        forget_account_ids()
        raise StaleAccountIds("a remembered ledger account id does not match its account")
    if row["bad"] is not None:
        name = next(a for a, i in accounts if i == row["bad"])
        raise Overdraft(name, int(row["bad_after"]), field)
    raise StaleAccountIds("the ledger's chain head is missing")


def _hash_suffix(kind: str, ref: str, created_at: datetime, count: int, digest: str) -> str:
    """What follows the sequence number in `entry_hash`'s header."""
    return f"|{kind}|{ref}|{created_at.astimezone(UTC).isoformat()}|{count}|{digest}"


async def _ensure_head(conn) -> None:
    await run(
        conn,
        "INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING",
    )


# A guarded statement runs on its own (autocommit) and releases its locks early: its
# commit does not wait for the WAL flush (`synchronous_commit` off for that transaction
# alone), so the shared accounts and the chain head, which every payment needs, are not
# held across a disk flush (`release_early` asks the same of the caller's transaction).
# `post` then waits for the flush before it returns (`wait_durable`: the flush a later
# synchronous commit waits for covers every earlier commit): nothing is acknowledged
# before it is durable, and as WAL is written in order, whatever a crash could lose in
# between (this entry, and anything written after it) was acknowledged to no one. The
# insert position read with it lets a test check that.
_EARLY_RELEASE = (
    "set_config('synchronous_commit', 'off', true) AS early_release, "
    "pg_current_wal_insert_lsn()::text AS wal_at"
)


@lru_cache(maxsize=256)
def _one_statement_sql(
    n_accounts: int,
    n_postings: int,
    columns: str = "",
    riders: str = "",
    guard: str = "",
    release_early: bool = False,
) -> str:
    accounts = ", ".join(["(?::bigint, ?::text, ?::text, ?::bigint)"] * n_accounts)
    rows = ", ".join(["(?::int, ?::bigint, ?::bigint, ?::text, ?::bigint)"] * n_postings)
    bad = "WHERE NOT a.allow_negative AND a.balance + d.delta < 0"
    # The guard's row is locked first (the accounts wait for it: a one-time filter), then
    # the accounts in id order, then the head: the order every writer takes them in.
    # `ok` reads every locked account before the head is locked. The head is read FOR
    # UPDATE, which waits for a writer ahead and then sees its tip.
    return (
        "WITH "
        + (f"g AS ({guard}), " if guard else "")
        + f"d(id, name, asset, delta) AS (VALUES {accounts}), "
        "a AS (SELECT t.id, t.balance, t.allow_negative FROM ledger_accounts t "
        "JOIN d ON t.id = d.id AND t.name = d.name AND t.asset = d.asset "
        + ("WHERE EXISTS (SELECT 1 FROM g) " if guard else "")
        + "ORDER BY t.id FOR UPDATE OF t), "
        "x AS (SELECT count(*) AS found, "
        f"(array_agg(a.id ORDER BY a.id) FILTER ({bad}))[1] AS bad, "
        f"(array_agg(a.balance + d.delta ORDER BY a.id) FILTER ({bad}))[1] AS bad_after, "
        "(SELECT e.id FROM ledger_entries e WHERE e.idem_key = ?::text) AS existing, "
        + ("(SELECT count(*) FROM g) AS guarded " if guard else "1 AS guarded ")
        + "FROM a JOIN d ON d.id = a.id), "
        "ok AS (SELECT found = ?::bigint AND bad IS NULL AND existing IS NULL "
        "AND guarded > 0 AS go FROM x), "
        + (f"{riders}, " if riders else "")
        + "hl AS (SELECT seq, hash FROM ledger_head WHERE id = 1 AND (SELECT go FROM ok) "
        "FOR UPDATE), "
        "h AS (UPDATE ledger_head t SET seq = hl.seq + 1, hash = encode(sha256(convert_to("
        "hl.hash || E'\\n' || (hl.seq + 1)::text || ?::text, 'UTF8')), 'hex') "
        "FROM hl WHERE t.id = 1 RETURNING t.seq, t.hash, hl.hash AS prev_hash), "
        "b AS (UPDATE ledger_accounts t SET balance = t.balance + d.delta FROM d, h "
        "WHERE t.id = d.id AND d.delta <> 0), "
        "e AS (INSERT INTO ledger_entries (kind, ref, idem_key, memo, created_at, "
        "posting_count, seq, prev_hash, hash, postings_digest) "
        "SELECT ?::text, ?::text, ?::text, ?::text, ?::timestamptz, ?::int, h.seq, "
        "h.prev_hash, h.hash, ?::text FROM h RETURNING id, seq, prev_hash, hash), "
        "p AS (INSERT INTO ledger_postings (entry_id, source_id, destination_id, asset, amount) "
        f"SELECT e.id, v.s, v.d, v.a, v.m FROM e, (VALUES {rows}) AS v(n, s, d, a, m) "
        "ORDER BY v.n) "
        "SELECT e.id, e.seq, e.prev_hash, e.hash, x.found, x.bad, x.bad_after, x.existing, "
        f"x.guarded{', ' + columns if columns else ''}"
        + (f", {_EARLY_RELEASE}" if release_early else "")
        + " FROM x LEFT JOIN e ON TRUE"
    )


_ENTRY_SQL = (
    "INSERT INTO ledger_entries (kind, ref, idem_key, memo, created_at, posting_count, seq, "
    "prev_hash, hash, postings_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _balances_case(delta: dict[int, int], changed: list[int]) -> str:
    """Add a delta to each changed balance (SQLite; the rows are the caller's, ints only)."""
    case = " ".join(f"WHEN {k} THEN {int(delta[k])}" for k in changed)
    ids = ", ".join(str(int(k)) for k in changed)
    return f"UPDATE ledger_accounts SET balance = balance + CASE id {case} END WHERE id IN ({ids})"


async def _lock_head(conn) -> tuple[int, str]:
    """The chain's tip (seq, hash), locked to the end of the transaction."""
    sql = "SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE"
    rows = await fetch(conn, sql)
    if not rows:
        await run(
            conn,
            "INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING",
        )
        rows = await fetch(conn, sql)
    return int(rows[0]["seq"]), str(rows[0]["hash"])


async def seal(entry: LedgerEntry, digest: str, conn) -> None:
    """Link an entry written without a chain position into the hash chain."""
    head_seq, head_hash = await _lock_head(conn)
    seq = head_seq + 1
    h = entry_hash(
        head_hash, seq, entry.kind, entry.ref, entry.created_at, entry.posting_count, digest
    )
    await (
        LedgerEntry.filter(id=entry.id)
        .using_db(conn)
        .update(seq=seq, prev_hash=head_hash, hash=h, postings_digest=digest)
    )
    await LedgerHead.filter(id=HEAD_ID).using_db(conn).update(seq=seq, hash=h)
    entry.seq, entry.prev_hash, entry.hash, entry.postings_digest = seq, head_hash, h, digest


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
