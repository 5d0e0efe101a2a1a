"""Account names: `owner:id:purpose` (or `owner:purpose`), in one asset each.

One place decides which accounts may go negative: the outside world, issuers (where
points, coins and vouchers come from) and payment-channel clearing accounts.
"""

from __future__ import annotations

from typing import NamedTuple

from app.models.ledger import Asset

# `platform:loss` is an expense account: what the platform pays out of its own pocket
# (a dispute reversal's spent vouchers) shows as its negative balance.
NEGATIVE_ALLOWED_PREFIXES = ("world", "issuer:", "channel:", "platform:loss")
# A receivable is a claim on someone outside the platform's books, like a channel's
# clearing account: its negative balance is what they owe (SPEC §9 split caps).
RECEIVABLE_SUFFIX = ":receivable"


class AccountName(NamedTuple):
    """An account's name and asset. A named tuple, not a dataclass: it is hashed a few
    dozen times per entry (ids, deltas), and a tuple's hash runs no Python code."""

    name: str
    asset: Asset

    @property
    def allow_negative(self) -> bool:
        return (
            self.name == "world"
            or self.name.startswith(NEGATIVE_ALLOWED_PREFIXES)
            or self.name.endswith(RECEIVABLE_SUFFIX)
        )

    def __str__(self) -> str:
        return f"{self.name}/{self.asset.value}"


class acct:  # noqa: N801 - a namespace of constructors, read like `acct.consumer_voucher(7)`
    """Constructors for every account the product uses."""

    WORLD_CNY = AccountName("world", Asset.CNY)

    @staticmethod
    def channel_clearing(channel: str) -> AccountName:
        return AccountName(f"channel:{channel}:clearing", Asset.CNY)

    @staticmethod
    def issuer(asset: Asset) -> AccountName:
        return AccountName(f"issuer:{asset.value.lower()}", asset)

    # -- consumers (users)
    @staticmethod
    def consumer_voucher(user_id: int) -> AccountName:
        return AccountName(f"consumer:{user_id}:voucher", Asset.VOUCHER)

    @staticmethod
    def consumer_shopping_points(user_id: int) -> AccountName:
        return AccountName(f"consumer:{user_id}:shopping_points", Asset.SHOPPING_POINTS)

    @staticmethod
    def consumer_gold_coins(user_id: int) -> AccountName:
        return AccountName(f"consumer:{user_id}:gold_coins", Asset.GOLD_COINS)

    @staticmethod
    def consumer_points(user_id: int, state: str) -> AccountName:
        return AccountName(f"consumer:{user_id}:points_{state}", Asset.POINTS)

    @staticmethod
    def consumer_refund_due(user_id: int) -> AccountName:
        return AccountName(f"consumer:{user_id}:refund_due", Asset.CNY)

    # -- merchants
    @staticmethod
    def merchant_payable(merchant_id: int) -> AccountName:
        return AccountName(f"merchant:{merchant_id}:payable", Asset.CNY)

    @staticmethod
    def merchant_receivable(merchant_id: int) -> AccountName:
        """What the merchant owes the platform (minus its balance): the part of D a
        channel's split cap left with it, until netted from what it is owed."""
        return AccountName(f"merchant:{merchant_id}{RECEIVABLE_SUFFIX}", Asset.CNY)

    @staticmethod
    def merchant_voucher(merchant_id: int) -> AccountName:
        return AccountName(f"merchant:{merchant_id}:voucher", Asset.VOUCHER)

    @staticmethod
    def merchant_shopping_points(merchant_id: int) -> AccountName:
        return AccountName(f"merchant:{merchant_id}:shopping_points", Asset.SHOPPING_POINTS)

    @staticmethod
    def merchant_points(merchant_id: int, state: str) -> AccountName:
        return AccountName(f"merchant:{merchant_id}:points_{state}", Asset.POINTS)

    @staticmethod
    def merchant_traffic_points(merchant_id: int) -> AccountName:
        return AccountName(f"merchant:{merchant_id}:traffic_points", Asset.TRAFFIC_POINTS)

    # -- platform, agents, pools
    PLATFORM_REVENUE = AccountName("platform:revenue", Asset.CNY)
    PLATFORM_LOSS = AccountName("platform:loss", Asset.CNY)

    @staticmethod
    def agent_payable(agent_id: int) -> AccountName:
        return AccountName(f"agent:{agent_id}:payable", Asset.CNY)

    @staticmethod
    def pool_available(pool: str) -> AccountName:
        """CNY the pool's contributions paid in and not yet handed out (SPEC §4)."""
        return AccountName(f"pool:{pool}:available", Asset.CNY)

    # CNY that backs vouchers / shopping points already handed out and not yet spent.
    VOUCHER_RESERVE = AccountName("reserve:voucher", Asset.CNY)
    SHOPPING_POINTS_RESERVE = AccountName("reserve:shopping_points", Asset.CNY)

    @staticmethod
    def pending(account: AccountName) -> AccountName:
        """The same account, for value inside an order's refund window (not yet theirs)."""
        return AccountName(f"{account.name}:pending", account.asset)

    @staticmethod
    def consumer_voucher_held(user_id: int) -> AccountName:
        """Vouchers set aside for an order that is not paid yet."""
        return AccountName(f"consumer:{user_id}:voucher:held", Asset.VOUCHER)

    @staticmethod
    def held(account: AccountName) -> AccountName:
        """The same account, for value set aside for something not done yet (a mall
        redemption awaiting the operator)."""
        return AccountName(f"{account.name}:held", account.asset)

    # CNY that backed shopping points spent in the mall: owed for the goods handed over.
    MALL_PAYABLE = AccountName("mall:payable", Asset.CNY)

    # CNY of a paid order on its way to the parties (nets to zero inside each entry).
    ORDER_TRANSIT = AccountName("transit:orders", Asset.CNY)
