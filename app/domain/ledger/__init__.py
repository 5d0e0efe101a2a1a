"""The multi-asset double-entry ledger (SPEC §2, §10). Its rules: docs/ledger.md.

`post(Entry(kind, ref, postings, idem_key=..., memo=...))` writes one entry: a set of
postings `source -> destination, amount`, each a positive integer in one asset. Every
posting has both sides, so an entry balances per asset by construction. Balances live
on the account rows and change in the entry's one statement; an entry that would take
an account with a balance rule below zero fails whole (`Overdraft`). `post_with` adds
the caller's typed writes (`Insert`, `Update`) under a `Guard`, made only with the
entry. Entries are sealed into a sha256 hash chain afterwards, in batches (`seal`).
"""

from app.domain.ledger.accounts import AccountName, acct
from app.domain.ledger.core import (
    GuardRefused,
    LedgerErrorCode,
    Overdraft,
    StaleAccountIds,
    Written,
    balance_of,
    balances_named,
    balances_of,
    default_client,
    post,
    post_with,
)
from app.domain.ledger.durable import wait_durable
from app.domain.ledger.statements import (
    Column,
    Entry,
    Eq,
    Guard,
    In,
    Insert,
    Posting,
    Typed,
    Update,
    Write,
)

Post = Posting  # the short name the callers read postings with

__all__ = [
    "AccountName",
    "Column",
    "Entry",
    "Eq",
    "Guard",
    "GuardRefused",
    "In",
    "Insert",
    "LedgerErrorCode",
    "Overdraft",
    "Post",
    "Posting",
    "StaleAccountIds",
    "Typed",
    "Update",
    "Write",
    "Written",
    "acct",
    "balance_of",
    "balances_named",
    "balances_of",
    "default_client",
    "post",
    "post_with",
    "wait_durable",
]
