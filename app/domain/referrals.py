"""Invitations by code, the referral tree and a store's bound customers (SPEC §6).

Who invited whom is `users.inviter_id`, written here only: set once, through the
inviter's invite code, before the invitee's first paid order, never to oneself and
never so that the chain of inviters loops.

What an invitation earned is read from the ledger, not kept beside it. An order's
`order_paid` entry pays each inviter's reward into their pending voucher account
(`consumer:N:voucher:pending`) and a refund's `order_refund` entry takes back its part
from there; nothing else posts to that account from an order entry but settlement,
which only moves it on. The postings carry no level, but the entry's ref names the
order (`order:N`) and so its consumer, and the level follows from the consumer: an
inviter is set once and never changed, so whoever is the caller's first- or
second-level invitee now was so when the order paid (a link set after the order
paid it nothing, and a posting that was never made is not counted). A consumer is
never both: that would need the caller to be their own inviter.

The same holds for a store's bind rewards: `bound_merchant` shares go to the store's
pending voucher account, and a consumer is bound to one store, for life.

Every read here is a fixed number of statements, however large the tree.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.transactions import in_transaction

from app.domain.ledger import acct
from app.domain.orders import PAID_STATES
from app.infra.errors import DomainError, NotFound, error_codes
from app.infra.sql import fetch
from app.models.orders import OrderStatus
from app.models.referrals import INVITE_CODE_LENGTH

ReferralErrorCode = error_codes(
    "ReferralErrorCode",
    "INVITE_CODE_UNKNOWN",
    "INVITE_SELF",
    "INVITE_CYCLE",
    "INVITER_ALREADY_SET",
    "INVITE_AFTER_FIRST_ORDER",
)

# No 0/O, 1/I/L: a code read aloud or typed from a poster is not mistaken.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_NO_KEY_ABOVE = 2**63 - 1  # bigint's largest: "before" it is every row
_CODE_ATTEMPTS = 8  # 31^8 codes: a collision is rare, eight in a row is not going to happen
MAX_DEPTH = 2  # SPEC §6.1: never a third level
# A transaction-scoped lock every invitation takes before it looks at the chain: two
# users naming each other at once would each see no cycle in what the other has not
# committed yet. Invitations are rare (once per account), so one lock costs nothing.
_INVITE_LOCK = 0x696E7669  # "invi"


# ---------------------------------------------------------------- invite codes


def normalise_code(text: str | None) -> str:
    """The code in its one spelling: what a person may type or a scanner may read (the
    whole link included) down to the code's characters, upper case."""
    raw = (text or "").strip()
    if "/" in raw:  # the link: its last path segment is the code
        raw = raw.rstrip("/").rsplit("/", 1)[-1]
    code = raw.replace("-", "").replace(" ", "").upper()
    if len(code) != INVITE_CODE_LENGTH or any(c not in ALPHABET for c in code):
        raise DomainError(
            ReferralErrorCode.INVITE_CODE_UNKNOWN, "this is not an invite code", "code"
        )
    return code


_CODE_OF = "SELECT code FROM invite_codes WHERE user_id = ?"
_NEW_CODE = (
    "INSERT INTO invite_codes (user_id, code, created_at) VALUES (?, ?, now()) "
    "ON CONFLICT DO NOTHING RETURNING code"
)


async def invite_code(user_id: int) -> str:
    """The user's invite code, made on their first ask and the same ever after."""
    conn = connections.get("default")
    rows = await fetch(conn, _CODE_OF, [user_id])
    for _ in range(_CODE_ATTEMPTS):
        if rows:
            return str(rows[0]["code"])
        code = "".join(secrets.choice(ALPHABET) for _ in range(INVITE_CODE_LENGTH))
        rows = await fetch(conn, _NEW_CODE, [user_id, code])
        if not rows:  # someone else's code, or this user's made by a concurrent ask
            rows = await fetch(conn, _CODE_OF, [user_id])
    raise DomainError("CONFLICT", "no free invite code was found; try again", "code")


# ---------------------------------------------------------------- accepting an invitation


@dataclass(frozen=True)
class Inviter:
    user_id: int
    nickname: str
    phone: str | None


_INVITER_OF_CODE = (
    "SELECT u.id, u.nickname, u.phone FROM invite_codes c JOIN users u ON u.id = c.user_id "
    "WHERE c.code = ?"
)
_LOCK_INVITEE = "SELECT inviter_id FROM users WHERE id = ? FOR UPDATE"
# Whether the invitee ever paid an order: refunded ones count, they were paid.
_HAS_PAID = "SELECT 1 AS paid FROM orders WHERE consumer_id = ? AND status IN ({}) LIMIT 1".format(
    ", ".join(f"'{s.value}'" for s in PAID_STATES)
)
# The inviter's chain upwards; UNION (not ALL) ends even on a chain that loops.
_CHAIN_REACHES = (
    "WITH RECURSIVE up(id) AS (SELECT ?::bigint UNION "
    "SELECT u.inviter_id FROM users u JOIN up ON u.id = up.id WHERE u.inviter_id IS NOT NULL) "
    "SELECT 1 AS hit FROM up WHERE id = ? LIMIT 1"
)
_SET_INVITER = "UPDATE users SET inviter_id = ? WHERE id = ? RETURNING id"


async def accept_invite(user_id: int, code_text: str) -> Inviter:
    """Make the code's owner the user's inviter (SPEC §6.4). The same code again is a
    repeat and answers as the first time did."""
    code = normalise_code(code_text)
    async with in_transaction() as conn:
        found = await fetch(conn, _INVITER_OF_CODE, [code])
        if not found:
            raise DomainError(
                ReferralErrorCode.INVITE_CODE_UNKNOWN, "no one has this invite code", "code"
            )
        inviter = Inviter(int(found[0]["id"]), found[0]["nickname"] or "", found[0]["phone"])
        if inviter.user_id == user_id:
            raise DomainError(ReferralErrorCode.INVITE_SELF, "you cannot invite yourself", "code")
        await fetch(conn, "SELECT pg_advisory_xact_lock(?::bigint) AS locked", [_INVITE_LOCK])
        invitee = await fetch(conn, _LOCK_INVITEE, [user_id])
        if not invitee:
            raise NotFound("user", "code")
        current = invitee[0]["inviter_id"]
        if current == inviter.user_id:
            return inviter
        if current is not None:
            raise DomainError(
                ReferralErrorCode.INVITER_ALREADY_SET, "inviter is already set", "code"
            )
        if await fetch(conn, _HAS_PAID, [user_id]):
            raise DomainError(
                ReferralErrorCode.INVITE_AFTER_FIRST_ORDER,
                "an invitation is accepted before your first paid order only",
                "code",
            )
        if await fetch(conn, _CHAIN_REACHES, [inviter.user_id, user_id]):
            raise DomainError(
                ReferralErrorCode.INVITE_CYCLE, "that would make an invitation cycle", "code"
            )
        await fetch(conn, _SET_INVITER, [inviter.user_id, user_id])
    return inviter


# ---------------------------------------------------------------- masking


def mask_name(nickname: str | None) -> str:
    """张** : the first character, the rest hidden (its length too)."""
    name = (nickname or "").strip()
    return f"{name[0]}**" if name else "**"


def mask_phone(phone: str | None) -> str | None:
    """138****1234: the carrier prefix and the last four digits."""
    if not phone:
        return None
    if len(phone) < 8:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def display_name(nickname: str | None, phone: str | None) -> str:
    """What a tree shows for a person: their masked nickname, else their masked phone."""
    if (nickname or "").strip():
        return mask_name(nickname)
    return mask_phone(phone) or mask_name(None)


# ---------------------------------------------------------------- the referral tree


@dataclass(frozen=True)
class Level:
    level: int
    invitees: int
    earned_fen: int  # rewards paid to the caller by this level's orders, net of refunds
    pending_fen: int  # the part of it still inside its orders' refund windows


@dataclass(frozen=True)
class Invitee:
    level: int
    user_id: int
    name: str  # masked
    phone: str | None  # masked
    joined_at: datetime
    earned_fen: int  # what this invitee's orders paid the caller


def check_depth(depth: int) -> int:
    if depth not in (1, MAX_DEPTH):
        raise DomainError("INVALID", "depth is 1 or 2", "depth")
    return depth


# The caller's invitees, one row per level (`?` 1: the caller; 2: the depth).
_TREE = (
    "WITH l1 AS (SELECT id FROM users WHERE inviter_id = ?), "
    "tree AS (SELECT id, 1 AS level FROM l1 UNION ALL "
    "SELECT u.id, 2 FROM users u JOIN l1 ON u.inviter_id = l1.id WHERE ? >= 2)"
)
# The order an `order_paid` / `order_refund` entry is about (its ref is `order:N`).
_ENTRY_ORDER = "CASE WHEN e.ref ~ '^order:[0-9]{1,18}$' THEN substr(e.ref, 7)::bigint END"
_REWARD_KINDS = "e.kind IN ('order_paid', 'order_refund')"
# Money into (+) and out of (-) one account (`?`: its name, asset), by entry.
_MOVES = (
    "acc AS (SELECT id FROM ledger_accounts WHERE name = ? AND asset = ?), "
    "moves AS (SELECT p.entry_id, p.amount AS fen FROM ledger_postings p "
    "JOIN acc ON p.destination_id = acc.id "
    "UNION ALL SELECT p.entry_id, -p.amount FROM ledger_postings p "
    "JOIN acc ON p.source_id = acc.id)"
)
_LEVELS = (
    f"{_TREE}, {_MOVES}, "
    "earned AS (SELECT t.level, SUM(m.fen) AS fen, "
    "COALESCE(SUM(m.fen) FILTER (WHERE o.settled_at IS NULL), 0) AS pending "
    f"FROM moves m JOIN ledger_entries e ON e.id = m.entry_id AND {_REWARD_KINDS} "
    f"JOIN orders o ON o.id = {_ENTRY_ORDER} "
    "JOIN tree t ON t.id = o.consumer_id GROUP BY t.level), "
    "counts AS (SELECT level, COUNT(*) AS n FROM tree GROUP BY level) "
    "SELECT lv.level, COALESCE(c.n, 0) AS invitees, COALESCE(e.fen, 0) AS earned, "
    "COALESCE(e.pending, 0) AS pending "
    "FROM (VALUES (1), (2)) AS lv(level) LEFT JOIN counts c ON c.level = lv.level "
    "LEFT JOIN earned e ON e.level = lv.level WHERE lv.level <= ? ORDER BY lv.level"
)
# What one person's orders moved into (+) and out of (-) the reward account `acc`.
_EARNED_FROM = (
    "SELECT COALESCE(SUM(CASE WHEN p.destination_id = acc.id THEN p.amount "
    "ELSE -p.amount END), 0) AS fen "
    "FROM orders o JOIN ledger_entries e ON e.ref = 'order:' || o.id AND "
    f"{_REWARD_KINDS} "
    "JOIN ledger_postings p ON p.entry_id = e.id "
    "AND (p.destination_id = acc.id OR p.source_id = acc.id) "
    "WHERE o.consumer_id = {person}"
)
# A page of the tree: level 1 first, the newest invitees first within a level; keyset
# after (level, id). The page is cut before anything is read per row.
_PAGE = (
    f"{_TREE}, acc AS (SELECT id FROM ledger_accounts WHERE name = ? AND asset = ?), "
    "page AS (SELECT id, level FROM tree WHERE level > ? OR (level = ? AND id < ?) "
    "ORDER BY level, id DESC LIMIT ?) "
    "SELECT t.level, u.id, u.nickname, u.phone, u.created_at, "
    "COALESCE(r.fen, 0) AS earned "
    "FROM page t JOIN users u ON u.id = t.id "
    "LEFT JOIN acc ON TRUE "
    f"LEFT JOIN LATERAL ({_EARNED_FROM.format(person='t.id')}) r ON TRUE "
    "ORDER BY t.level, t.id DESC"
)


def _reward_account(user_id: int) -> tuple[str, str]:
    account = acct.pending(acct.consumer_voucher(user_id))
    return account.name, account.asset.value


async def referral_levels(user_id: int, depth: int) -> list[Level]:
    """Invitees and earnings per level, level 1 first: one statement."""
    depth = check_depth(depth)
    rows = await fetch(
        connections.get("default"), _LEVELS, [user_id, depth, *_reward_account(user_id), depth]
    )
    return [
        Level(
            level=int(r["level"]),
            invitees=int(r["invitees"]),
            earned_fen=int(r["earned"]),
            pending_fen=int(r["pending"]),
        )
        for r in rows
    ]


async def referral_page(
    user_id: int, depth: int, limit: int, after: tuple[int, int] | None = None
) -> list[Invitee]:
    """Up to `limit` invitees after the keyset position (level, user id): one statement."""
    depth = check_depth(depth)
    level, last_id = after if after is not None else (0, 0)
    rows = await fetch(
        connections.get("default"),
        _PAGE,
        [user_id, depth, *_reward_account(user_id), level, level, last_id, limit],
    )
    return [
        Invitee(
            level=int(r["level"]),
            user_id=int(r["id"]),
            name=display_name(r["nickname"], r["phone"]),
            phone=mask_phone(r["phone"]),
            joined_at=r["created_at"],
            earned_fen=int(r["earned"]),
        )
        for r in rows
    ]


# ---------------------------------------------------------------- a store's customers


@dataclass(frozen=True)
class CustomersSummary:
    customers: int
    orders: int  # paid orders of bound customers since they bound, at any store
    amount_fen: int  # their amount, net of refunds
    reward_fen: int  # bind rewards the store earned, net of refunds


@dataclass(frozen=True)
class Customer:
    binding_id: int
    user_id: int
    name: str  # masked
    phone: str | None  # masked
    bound_at: datetime
    orders: int
    amount_fen: int
    reward_fen: int


# Orders that count as brought: paid and not wholly refunded, after the binding.
_BROUGHT = f"o.status IN ('{OrderStatus.PAID.value}', '{OrderStatus.PARTIALLY_REFUNDED.value}')"
_SUMMARY = (
    f"WITH {_MOVES}, "
    "b AS (SELECT consumer_id, created_at FROM consumer_bindings WHERE merchant_id = ?) "
    "SELECT (SELECT COUNT(*) FROM b) AS customers, "
    "(SELECT COUNT(*) FROM b JOIN orders o ON o.consumer_id = b.consumer_id "
    f"AND o.paid_at >= b.created_at AND {_BROUGHT}) AS orders, "
    "(SELECT COALESCE(SUM(o.amount_fen - o.refunded_fen), 0) FROM b "
    "JOIN orders o ON o.consumer_id = b.consumer_id "
    f"AND o.paid_at >= b.created_at AND {_BROUGHT}) AS amount, "
    "(SELECT COALESCE(SUM(m.fen), 0) FROM moves m "
    f"JOIN ledger_entries e ON e.id = m.entry_id AND {_REWARD_KINDS}) AS reward"
)
_CUSTOMERS = (
    "WITH acc AS (SELECT id FROM ledger_accounts WHERE name = ? AND asset = ?), "
    "page AS (SELECT id, consumer_id, created_at FROM consumer_bindings "
    "WHERE merchant_id = ? AND id < ? ORDER BY id DESC LIMIT ?) "
    "SELECT b.id AS binding_id, b.consumer_id, b.created_at, u.nickname, u.phone, "
    "bo.n, bo.amount, COALESCE(r.fen, 0) AS reward "
    "FROM page b JOIN users u ON u.id = b.consumer_id "
    "LEFT JOIN acc ON TRUE "
    "CROSS JOIN LATERAL (SELECT COUNT(*) AS n, "
    "COALESCE(SUM(o.amount_fen - o.refunded_fen), 0) AS amount FROM orders o "
    f"WHERE o.consumer_id = b.consumer_id AND o.paid_at >= b.created_at AND {_BROUGHT}) bo "
    f"LEFT JOIN LATERAL ({_EARNED_FROM.format(person='b.consumer_id')}) r ON TRUE "
    "ORDER BY b.id DESC"
)


def _store_reward_account(merchant_id: int) -> tuple[str, str]:
    account = acct.pending(acct.merchant_voucher(merchant_id))
    return account.name, account.asset.value


async def customers_summary(merchant_id: int) -> CustomersSummary:
    """The store's bound consumers and what they brought, in total: one statement."""
    rows = await fetch(
        connections.get("default"),
        _SUMMARY,
        [*_store_reward_account(merchant_id), merchant_id],
    )
    r = rows[0]
    return CustomersSummary(
        customers=int(r["customers"]),
        orders=int(r["orders"]),
        amount_fen=int(r["amount"]),
        reward_fen=int(r["reward"]),
    )


async def customers_page(merchant_id: int, limit: int, before_id: int | None) -> list[Customer]:
    """Up to `limit` bound consumers, the newest binding first, each with what they
    brought: one statement."""
    rows = await fetch(
        connections.get("default"),
        _CUSTOMERS,
        [
            *_store_reward_account(merchant_id),
            merchant_id,
            before_id if before_id is not None else _NO_KEY_ABOVE,
            limit,
        ],
    )
    return [
        Customer(
            binding_id=int(r["binding_id"]),
            user_id=int(r["consumer_id"]),
            name=display_name(r["nickname"], r["phone"]),
            phone=mask_phone(r["phone"]),
            bound_at=r["created_at"],
            orders=int(r["n"]),
            amount_fen=int(r["amount"]),
            reward_fen=int(r["reward"]),
        )
        for r in rows
    ]
