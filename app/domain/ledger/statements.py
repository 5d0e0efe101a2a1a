"""Every SQL text the ledger sends for an entry and for sealing, built from typed values.

Callers never write SQL for the ledger: an entry is an `Entry` of `Posting`s, and the
writes that must happen with it (and only with it) are typed: `Insert`, `Update`, under
an optional `Guard` (a row lock plus a condition, e.g. "the order row N, FOR UPDATE,
while its status is pending"). `entry_statement` turns them into ONE statement with
`$n` placeholders (PostgreSQL), so an entry and its gated writes cost one round trip.

Identifiers (tables, columns) come from code and are checked against a plain-name
pattern; every value is a parameter with an explicit cast.
"""

from __future__ import annotations

import functools
import operator
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from app.domain.ledger.accounts import AccountName
from app.models.ledger import Asset

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@functools.lru_cache(maxsize=1024)  # the same few table and column names, every entry
def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return name


# ------------------------------------------------------------------ the typed API


@dataclass(frozen=True)
class Posting:
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


@dataclass(frozen=True)
class Entry:
    """One balanced entry: its postings (zero amounts are dropped, negative ones refused).
    With an `idem_key`, a repeat writes nothing and hands back the first entry."""

    kind: str
    ref: str
    postings: Sequence[Posting]
    idem_key: str | None = None
    memo: str = ""

    def moving(self) -> list[Posting]:
        out = [p for p in self.postings if p.amount != 0]
        for p in out:
            if p.amount < 0:
                raise ValueError(f"negative posting amount {p.amount}: swap source and destination")
        return out


@dataclass(frozen=True)
class Typed:
    """A value with its SQL type spelled out (needed for None, or to override)."""

    value: Any
    sql_type: str


Value = int | str | bool | datetime | date | uuid.UUID | dict[str, Any] | list[Any] | Typed


@dataclass(frozen=True)
class Eq:
    column: str
    value: Value


@dataclass(frozen=True)
class In:
    column: str
    values: tuple[Value, ...]


Cond = Eq | In


@dataclass(frozen=True)
class Guard:
    """The row `table.id = id`, locked FOR UPDATE before any account, and required to
    meet `where`: the entry and its writes are made only if it does."""

    table: str
    id: int
    where: tuple[Cond, ...] = ()


@dataclass(frozen=True)
class Column:
    """A column read back from a write, as `sql_type`."""

    name: str
    sql_type: str


@dataclass(frozen=True)
class Insert:
    table: str
    rows: tuple[Mapping[str, Value], ...]
    returning: tuple[Column, ...] = ()


@dataclass(frozen=True)
class Update:
    table: str
    set: Mapping[str, Value]
    where: tuple[Cond, ...]
    returning: tuple[Column, ...] = ()


Write = Insert | Update


@dataclass(frozen=True)
class Account:
    """An entry's account as the statement sees it: id (remembered), name, net delta."""

    id: int
    name: AccountName
    delta: int


_BY_ID = operator.attrgetter("id")

# ------------------------------------------------------------------ parameters


def sql_type(value: Any) -> str:
    if isinstance(value, Typed):
        return value.sql_type
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "timestamptz"
    if isinstance(value, date):
        return "date"
    if isinstance(value, uuid.UUID):
        return "uuid"
    if isinstance(value, dict | list):
        return "jsonb"
    raise TypeError(f"give {value!r} a type: Typed(value, 'bigint')")


@dataclass
class Params:
    """Numbered `$n` parameters, each with its cast."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: Any, typ: str | None = None) -> str:
        typ = typ or sql_type(value)
        raw = value.value if isinstance(value, Typed) else value
        if typ in ("jsonb", "json") and not isinstance(raw, str | None):
            raw = _json(raw)
        self.values.append(raw)
        return f"${len(self.values)}::{typ}"


_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def _json(value: Any) -> str:
    """JSON text for a `json`/`jsonb` parameter: integers exact, datetimes ISO 8601 with
    their offset (a naive one taken as UTC), dates, UUIDs and enums by value."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def _conds(conds: Sequence[Cond], params: Params, alias: str = "") -> list[str]:
    out = []
    prefix = f"{alias}." if alias else ""
    for c in conds:
        if isinstance(c, Eq):
            out.append(f"{prefix}{_ident(c.column)} = {params.add(c.value)}")
        else:
            if not c.values:
                out.append("FALSE")
                continue
            marks = ", ".join(params.add(v) for v in c.values)
            out.append(f"{prefix}{_ident(c.column)} IN ({marks})")
    return out


# ------------------------------------------------------------------ the entry statement

# What the entry statement hands back, besides the read-back columns (`w<i>_<column>`).
RESULT_COLUMNS = ("id", "found", "bad", "bad_after", "existing", "guarded")

# An autocommit statement that sets this commits without waiting for the WAL flush: its
# row locks (hot shared accounts) are not held across the disk; the caller waits for a
# flush before acknowledging anything (`durable.wait_durable`).
EARLY_RELEASE = "set_config('synchronous_commit', 'off', true) AS early_release"

_GO = "EXISTS (SELECT 1 FROM e)"


def entry_statement(
    entry: Entry,
    postings: Sequence[Posting],
    accounts: Sequence[Account],
    ids: Mapping[AccountName, int],
    created_at: datetime,
    digest: str,
    *,
    guard: Guard | None = None,
    writes: Sequence[Write] = (),
    early_release: bool = False,
) -> tuple[str, list[Any]]:
    """The whole entry in one statement.

    Lock order, the same for every writer (no deadlocks): the guard's row; then every
    account of the entry in one pass, in id order (FOR NO KEY UPDATE: inserting a
    posting that references the row still may), each checked against its remembered
    name; then, only if the verdict is good (no account with a balance rule below zero),
    the entry row (ON CONFLICT on its key does nothing: a concurrent writer of the same
    key that committed first wins), the balances, the postings and the caller's writes —
    each gated on the entry row being written. The entry is written unsealed (no chain
    link): `seal` links it later.

    Accounts without a balance rule are locked too, in the same pass: the hot ones
    (`world`, `issuer:*`, channel clearing) are the oldest, so the lowest ids, and a
    writer queues for them before it holds anything else. Moving them instead by an
    atomic add after the ruled accounts were locked made every payment wait for them
    while holding its own (4.5 times the statement's time at 8 clients: BENCHMARKS.md).
    """
    p = Params()
    ctes: list[str] = []
    if guard is not None:
        where = [f"id = {p.add(guard.id, 'bigint')}", *_conds(guard.where, p)]
        ctes.append(
            f"g AS (SELECT id FROM {_ident(guard.table)} WHERE {' AND '.join(where)} FOR UPDATE)"
        )
    ordered = sorted(accounts, key=_BY_ID)
    # The accounts and the postings go as one JSON parameter each, whatever their
    # number: the text depends on the entry's shape only, so a connection prepares it
    # once, and its rows cost no parameter each (arrays would: the driver inspects
    # every element of an array parameter in Python).
    accounts_json = _json(
        [{"id": a.id, "name": a.name.name, "asset": a.name.asset, "delta": a.delta}
         for a in ordered]
    )  # fmt: skip
    ctes.append(
        f"d AS (SELECT * FROM json_to_recordset({p.add(accounts_json, 'json')}) "
        "AS d(id bigint, name text, asset text, delta bigint))"
    )
    match = "JOIN d ON t.id = d.id AND t.name = d.name AND t.asset = d.asset"
    ctes.append(
        f"a AS (SELECT t.id, t.balance, t.allow_negative FROM ledger_accounts t {match}"
        + (" WHERE EXISTS (SELECT 1 FROM g)" if guard else "")
        + " ORDER BY t.id FOR NO KEY UPDATE OF t)"
    )
    bad = (
        "FROM a JOIN d ON d.id = a.id WHERE NOT a.allow_negative AND a.balance + d.delta < 0 "
        "ORDER BY a.id LIMIT 1"
    )
    ctes.append(
        "x AS (SELECT (SELECT count(*) FROM a) AS found, "
        f"(SELECT a.id {bad}) AS bad, (SELECT a.balance + d.delta {bad}) AS bad_after, "
        "(SELECT le.id FROM ledger_entries le WHERE le.idem_key = "
        f"{p.add(Typed(entry.idem_key, 'text'))}) AS existing, "
        + ("(SELECT count(*) FROM g) AS guarded)" if guard else "1 AS guarded)")
    )
    ctes.append(
        f"ok AS (SELECT found = {p.add(len(ordered), 'bigint')} AND bad IS NULL "
        "AND existing IS NULL AND guarded > 0 AS go FROM x)"
    )
    ctes.append(
        "e AS (INSERT INTO ledger_entries (kind, ref, idem_key, memo, created_at, "
        "posting_count, seq, prev_hash, hash, postings_digest) SELECT "
        f"{p.add(entry.kind, 'text')}, {p.add(entry.ref, 'text')}, "
        f"{p.add(Typed(entry.idem_key, 'text'))}, {p.add(entry.memo[:255], 'text')}, "
        f"{p.add(created_at, 'timestamptz')}, {p.add(len(postings), 'int')}, NULL, '', '', "
        f"{p.add(digest, 'text')} WHERE (SELECT go FROM ok) "
        "ON CONFLICT (idem_key) DO NOTHING RETURNING id)"
    )
    ctes.append(
        "b AS (UPDATE ledger_accounts t SET balance = t.balance + d.delta FROM d "
        f"WHERE t.id = d.id AND d.delta <> 0 AND {_GO})"
    )
    lines = _json(
        [{"n": n, "s": ids[q.source], "d": ids[q.destination], "a": q.source.asset,
          "m": q.amount} for n, q in enumerate(postings)]
    )  # fmt: skip
    ctes.append(
        "p AS (INSERT INTO ledger_postings (entry_id, source_id, destination_id, asset, amount) "
        f"SELECT e.id, v.s, v.d, v.a, v.m FROM e, json_to_recordset({p.add(lines, 'json')}) "
        "AS v(n int, s bigint, d bigint, a text, m bigint) ORDER BY v.n)"
    )
    outputs: list[str] = []
    for i, w in enumerate(writes):
        ctes.append(f"w{i} AS ({write_sql(w, p)})")
        outputs += [
            f"ARRAY(SELECT w{i}.{_ident(c.name)}::{c.sql_type} FROM w{i}) AS w{i}_{c.name}"
            for c in w.returning
        ]
    select = ["e.id", "x.found", "x.bad", "x.bad_after", "x.existing", "x.guarded", *outputs]
    if early_release:
        select.append(EARLY_RELEASE)
    sql = "WITH " + ", ".join(ctes) + f" SELECT {', '.join(select)} FROM x LEFT JOIN e ON TRUE"
    return sql, p.values


def write_sql(w: Write, p: Params) -> str:
    """A gated write: made only where the entry row is (`e`)."""
    back = " RETURNING " + ", ".join(_ident(c.name) for c in w.returning) if w.returning else ""
    if isinstance(w, Insert):
        return _insert_sql(w, p) + back
    if not w.set or not w.where:
        raise ValueError("an Update needs columns to set and a where")
    sets = ", ".join(f"{_ident(c)} = {p.add(v)}" for c, v in w.set.items())
    where = " AND ".join([*_conds(w.where, p), _GO])
    return f"UPDATE {_ident(w.table)} SET {sets} WHERE {where}{back}"


def _insert_sql(w: Insert, p: Params) -> str:
    """The rows as one JSON parameter, typed column by column as the first row's values
    are (so a None there must be `Typed`): the text depends on the columns only."""
    if not w.rows:
        raise ValueError("an Insert needs at least one row")
    first = w.rows[0]
    columns = list(first)
    types = [sql_type(v) for v in first.values()]
    for row in w.rows:
        if list(row) != columns:
            raise ValueError("every row of an Insert has the same columns, in order")
    # a JSON column's text given as a string is that JSON itself, as `Params.add` takes it
    texts = [c for c, t in zip(columns, types, strict=True) if t in ("json", "jsonb")]
    rows = [{c: v.value if isinstance(v, Typed) else v for c, v in row.items()} for row in w.rows]
    for row in rows:
        for c in texts:
            text = row[c]
            if isinstance(text, str):
                row[c] = orjson.Fragment(text)
    names = ", ".join(_ident(c) for c in columns)
    spec = ", ".join(f"{_ident(c)} {t}" for c, t in zip(columns, types, strict=True))
    return (
        f"INSERT INTO {_ident(w.table)} ({names}) SELECT {names} FROM "
        f"json_to_recordset({p.add(_json(rows), 'json')}) AS v({spec}) WHERE {_GO}"
    )


# ------------------------------------------------------------------ accounts

ACCOUNT_IDS_SQL = (
    "SELECT id, name, asset FROM ledger_accounts "
    "WHERE (name, asset) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)

CREATE_ACCOUNTS_SQL = (
    "INSERT INTO ledger_accounts (name, asset, balance, allow_negative, created_at) "
    "SELECT n, a, 0, g, $4::timestamptz FROM unnest($1::text[], $2::text[], $3::boolean[]) "
    "AS v(n, a, g) ON CONFLICT (name, asset) DO NOTHING"
)

ENTRY_BY_KEY_SQL = "SELECT * FROM ledger_entries WHERE idem_key = $1::text"

# ------------------------------------------------------------------ sealing

# The chain's tip, locked: one sealer at a time (created at zero on first use).
ENSURE_HEAD_SQL = (
    "INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING"
)
LOCK_HEAD_SQL = "SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE"

# Unsealed entries in id order (a partial index keeps this cheap whatever the table's size).
UNSEALED_SQL = (
    "SELECT id, kind, ref, created_at, posting_count, postings_digest FROM ledger_entries "
    "WHERE seq IS NULL ORDER BY id LIMIT $1::int"
)

# A batch's chain links and the new tip, in one statement.
SEAL_SQL = (
    "WITH s AS (UPDATE ledger_entries t SET seq = v.seq, prev_hash = v.prev, hash = v.h "
    "FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS v(id, seq, prev, h) "
    "WHERE t.id = v.id AND t.seq IS NULL RETURNING t.id) "
    "UPDATE ledger_head SET seq = $5::bigint, hash = $6::text WHERE id = 1 "
    "AND (SELECT count(*) FROM s) = $7::bigint RETURNING seq"
)
