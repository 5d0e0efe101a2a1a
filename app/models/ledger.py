"""The double-entry ledger: accounts with balances, entries, postings."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Asset(StrEnum):
    """Every asset is an integer: fen for CNY, hundredths ("centi") for the rest."""

    CNY = "CNY"
    POINTS = "POINTS"
    VOUCHER = "VOUCHER"
    SHOPPING_POINTS = "SHOPPING_POINTS"
    GOLD_COINS = "GOLD_COINS"
    TRAFFIC_POINTS = "TRAFFIC_POINTS"


ACCOUNT_NAME_MAX = 96


class Account(Model):
    """One balance: an account name (owner:id:purpose) in one asset."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=ACCOUNT_NAME_MAX)
    asset = fields.CharEnumField(Asset, max_length=16)
    balance = fields.BigIntField(default=0)
    # Only issuers, the outside world and channel clearing may go below zero.
    allow_negative = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_accounts"
        unique_together = (("name", "asset"),)


class LedgerEntry(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=40, db_index=True)
    ref = fields.CharField(max_length=96, db_index=True)  # what it is about: order:12
    # A repeatable write carries a key; the same key never posts twice.
    idem_key = fields.CharField(max_length=128, null=True, unique=True)
    memo = fields.CharField(max_length=255, default="")
    # Position in the hash chain; set when the entry is sealed, just before commit.
    seq = fields.BigIntField(null=True, unique=True)
    posting_count = fields.IntField(default=0)
    postings_digest = fields.CharField(max_length=64, default="")
    prev_hash = fields.CharField(max_length=64, default="")
    hash = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "ledger_entries"


class Posting(Model):
    id = fields.BigIntField(primary_key=True)
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        "core.LedgerEntry", related_name="postings", on_delete=fields.RESTRICT
    )
    source: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "core.Account", related_name="outgoing", on_delete=fields.RESTRICT
    )
    destination: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "core.Account", related_name="incoming", on_delete=fields.RESTRICT
    )
    asset = fields.CharEnumField(Asset, max_length=16)
    amount = fields.BigIntField()

    class Meta:
        table = "ledger_postings"
        # verify-ledger and per-account history read postings by account.
        indexes = (("source_id",), ("destination_id",), ("entry_id", "id"))


class LedgerHead(Model):
    """The single row holding the tip of the chain. Locking it orders the chain."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64, default="")

    class Meta:
        table = "ledger_head"
