"""The multi-asset double-entry ledger (SPEC §2, §10).

`post(kind, ref, postings)` writes one entry: a set of postings
`source -> destination, asset, amount`, each a positive integer. Every posting has both
sides, so an entry balances per asset by construction. Balances live on the account
rows and change in the same transaction: the rows are locked in primary-key order
(no deadlocks), and an entry that would overdraw an account not allowed to go negative
fails whole. Each entry is sealed into a sha256 hash chain just before commit.
"""

from app.domain.ledger.accounts import AccountName, acct
from app.domain.ledger.core import (
    GO,
    GuardRefused,
    LedgerErrorCode,
    Overdraft,
    Post,
    Rider,
    balance_of,
    balances_named,
    balances_of,
    post,
    wait_durable,
)

__all__ = [
    "GO",
    "AccountName",
    "GuardRefused",
    "LedgerErrorCode",
    "Overdraft",
    "Post",
    "Rider",
    "acct",
    "balance_of",
    "balances_named",
    "balances_of",
    "post",
    "wait_durable",
]
