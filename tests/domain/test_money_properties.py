"""Money properties under random sequences (SPEC §3, §5, §10), on real PostgreSQL.

A hypothesis state machine drives the real domain functions (`create_order`,
`mark_paid`, `close_order`, `refund_order`, `settle_due`) through random sequences:
orders with and without vouchers, at merchants with different discount rates, by
consumers with one or two inviters and a bound merchant, in a region with agents, under
a policy where every settlement branch pays (platform, agents, two invite levels, bind
reward, both pools, gold coins). Payments are duplicated, reordered and arrive late
(after a close); refunds are partial, full and invalid; a simulated clock advances and
settles lots, after which refunds must be refused.

After EVERY step it checks, from the database:

* each ledger entry balances per asset: for every entry and asset, the sum posted out
  of accounts in that asset equals the sum posted into accounts in that asset, and each
  posting's asset is the asset of both its accounts; every asset sums to zero over all
  accounts; the order transit account is empty between entries;
* no account that does not allow negative balances is negative;
* the pool / voucher identity (SPEC §5), on the ledger, with these definitions:

  - FUND is the CNY that backs the pools and the vouchers: `pool:*:available`,
    `pool:*:available:pending`, `reserve:voucher` and `reserve:voucher:pending`.
  - pool available = the CNY balances of `pool:*:available` + `pool:*:available:pending`.
  - outstanding vouchers = the VOUCHER balances of every holder account (consumer and
    merchant `...:voucher`, `...:voucher:held`, `...:voucher:pending`; that is every
    VOUCHER account but `issuer:voucher`). It must equal, fen for unit, the CNY in
    `reserve:voucher` + `reserve:voucher:pending`.
  - pool cash received = every CNY posting from outside FUND into FUND in entries that
    are not refunds (D's pool contributions and voucher rewards at payment, vouchers
    funded from outside), minus every CNY posting out of FUND in refund entries (what
    refunds took back).
  - vouchers redeemed = VOUCHER retired into `issuer:voucher` by `order_paid` entries,
    minus VOUCHER handed back by `order_refund` entries from `issuer:voucher` to a
    consumer wallet. Its CNY side (FUND -> outside in `order_paid`, minus outside ->
    FUND in `order_refund`) must be equal.
  - Any CNY crossing FUND's boundary that is none of these fails the check.

  Then `pool available + outstanding vouchers = pool cash received - vouchers redeemed`.
  Note: vouchers here are not only pool releases; invite and bind rewards are paid in
  vouchers backed directly from D (into `reserve:voucher:pending`). That is why FUND
  holds the voucher reserve: with "pool cash" restricted to `pool:*` accounts the
  identity would not hold for reasons that have nothing to do with a bug.
* `verify_ledger()` passes; point balances equal the live lots; every refund returned
  exactly the amount asked (cash + vouchers); and every call's outcome (success or the
  exact error code) is the one the rules predict from the state before the call.

The machine runs in a worker thread (hypothesis state machines are synchronous); each
rule submits its coroutine to the session event loop, in the test's context, and waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import re
import secrets
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app.domain import merchants, orders
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.domain.policy import PRESETS_DIR, clear_policy_cache, get_policy
from app.infra.config import get_settings
from app.infra.errors import DomainError
from app.models.merchants import Agent
from app.models.orders import HolderKind, LotStatus, Order, OrderRefund, OrderStatus, PointLot
from app.services import checkout
from tests.conftest import _empty_tables
from tests.factories import give_vouchers, make_merchant, make_user

pytestmark = pytest.mark.postgres

T = TypeVar("T")

SEEN: Counter[str] = Counter()  # what the runs exercised, printed at the end


def event(label: str) -> None:
    SEEN[label] += 1


# ------------------------------------------------------------------ the policy


def _every_branch_policy(directory: Path) -> Path:
    """我店 with a discount range and two invite levels, so every share of D pays."""
    text = (PRESETS_DIR / "wodian.toml").read_text(encoding="utf-8")
    for pattern, repl in (
        (r'name = "wodian"', 'name = "proptest"'),
        (r"discount_max_bps = 2_000", "discount_max_bps = 4_800"),
        (r"invite_rates_bps = \[500\]", "invite_rates_bps = [500, 200]"),
    ):
        text, n = re.subn(pattern, repl, text, count=1)
        assert n == 1, f"wodian.toml changed: {pattern!r} not found"
    path = directory / "proptest.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def every_branch_policy(settings):
    """Make the test policy active for the domain (settings.policy), then restore."""
    old = settings.policy, settings.payment_redis_prefix
    with tempfile.TemporaryDirectory(prefix="proptest-policy-") as d:
        settings.policy = str(_every_branch_policy(Path(d)))
        clear_policy_cache()
        policy = get_policy()
        s = policy.settlement
        assert s.invite_rates_bps == [500, 200] and s.bind_rate_bps and s.agent_share_bps
        assert policy.order.coin_rate_bps and policy.merchant.discount_max_bps == 4_800
        try:
            yield policy
        finally:
            settings.policy, settings.payment_redis_prefix = old
            clear_policy_cache()


# ------------------------------------------------------------------ the loop bridge


class LoopBridge:
    """Run coroutines on the session loop from the machine's thread, in the test's context."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ctx: contextvars.Context):
        self.loop, self.ctx = loop, ctx

    def __call__(self, awaitable: Awaitable[T]) -> T:
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        async def wrapped() -> T:
            return await awaitable

        def start() -> None:
            try:
                task = self.loop.create_task(wrapped(), context=self.ctx.copy())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                done.set_exception(exc)
                return

            def finish(t: asyncio.Task[T]) -> None:
                if t.cancelled():
                    done.cancel()
                elif t.exception() is not None:
                    done.set_exception(t.exception())  # type: ignore[arg-type]
                else:
                    done.set_result(t.result())

            task.add_done_callback(finish)

        self.loop.call_soon_threadsafe(start)
        return done.result(timeout=60)


# ------------------------------------------------------------------ ledger checks


async def _rows(sql: str) -> list[dict]:
    from tortoise import connections

    return await connections.get("default").execute_query_dict(sql)


async def check_entries_balance() -> None:
    bad = await _rows(
        "SELECT p.id FROM ledger_postings p "
        "JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id "
        "WHERE s.asset <> p.asset OR d.asset <> p.asset OR p.amount <= 0 "
        "OR p.source_id = p.destination_id"
    )
    assert not bad, f"postings with mixed assets or non-positive amounts: {bad}"
    unbalanced = await _rows(
        "WITH legs AS ("
        "  SELECT p.entry_id, s.asset, -p.amount AS amt FROM ledger_postings p"
        "  JOIN ledger_accounts s ON s.id = p.source_id"
        "  UNION ALL"
        "  SELECT p.entry_id, d.asset, p.amount FROM ledger_postings p"
        "  JOIN ledger_accounts d ON d.id = p.destination_id)"
        " SELECT entry_id, asset, SUM(amt) AS net FROM legs"
        " GROUP BY entry_id, asset HAVING SUM(amt) <> 0"
    )
    assert not unbalanced, f"entries that do not balance per asset: {unbalanced}"
    totals = await _rows(
        "SELECT asset, SUM(balance) AS total FROM ledger_accounts "
        "GROUP BY asset HAVING SUM(balance) <> 0"
    )
    assert not totals, f"assets that do not sum to zero: {totals}"
    assert await balance_of(acct.ORDER_TRANSIT) == 0, "order transit left non-empty"


async def check_no_forbidden_negative() -> None:
    rows = await _rows(
        "SELECT name, asset, balance, allow_negative FROM ledger_accounts "
        "WHERE balance < 0 OR allow_negative"
    )
    for r in rows:
        allowed = r["name"] == "world" or r["name"].startswith(("world", "issuer:", "channel:"))
        assert bool(r["allow_negative"]) == allowed, f"allow_negative wrong on {r}"
        assert r["balance"] >= 0 or allowed, f"negative balance where not allowed: {r}"


FUND_SQL = (
    "(({a}.name LIKE 'pool:%:available' OR {a}.name LIKE 'pool:%:available:pending' "
    "OR {a}.name IN ('reserve:voucher', 'reserve:voucher:pending')) AND {a}.asset = 'CNY')"
)


@dataclass
class PoolIdentity:
    pool_available: int
    outstanding_vouchers: int
    voucher_reserve: int
    cash_received: int
    redeemed_voucher: int
    redeemed_cny: int
    unexplained: list[dict]

    @property
    def holds(self) -> bool:
        return (
            not self.unexplained
            and self.outstanding_vouchers == self.voucher_reserve
            and self.redeemed_voucher == self.redeemed_cny
            and self.pool_available + self.outstanding_vouchers
            == self.cash_received - self.redeemed_voucher
        )


async def pool_identity() -> PoolIdentity:
    """Both sides of `pool available + outstanding vouchers = received - redeemed`."""
    pool = await _rows(
        "SELECT COALESCE(SUM(balance), 0) AS v FROM ledger_accounts "
        "WHERE asset = 'CNY' AND (name LIKE 'pool:%:available' "
        "OR name LIKE 'pool:%:available:pending')"
    )
    reserve = await _rows(
        "SELECT COALESCE(SUM(balance), 0) AS v FROM ledger_accounts "
        "WHERE asset = 'CNY' AND name IN ('reserve:voucher', 'reserve:voucher:pending')"
    )
    outstanding = await _rows(
        "SELECT COALESCE(SUM(balance), 0) AS v FROM ledger_accounts "
        "WHERE asset = 'VOUCHER' AND name <> 'issuer:voucher'"
    )
    crossings = await _rows(
        "SELECT e.kind, "
        f"{FUND_SQL.format(a='d')} AS into_fund, SUM(p.amount) AS total "
        "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
        "JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id "
        f"WHERE p.asset = 'CNY' AND {FUND_SQL.format(a='s')} <> {FUND_SQL.format(a='d')} "
        "GROUP BY e.kind, into_fund"
    )
    received = redeemed_cny = 0
    unexplained = []
    for r in crossings:
        total, into = int(r["total"]), bool(r["into_fund"])
        if r["kind"] == "order_refund":
            if into:
                redeemed_cny -= total  # vouchers handed back: their backing returns
            else:
                received -= total  # shares of D taken back
        elif r["kind"] == "order_paid" and not into:
            redeemed_cny += total  # the backing of vouchers spent goes to the merchant
        elif into:
            received += total
        else:
            unexplained.append(r)
    vouchers = await _rows(
        "SELECT e.kind, s.name AS src, d.name AS dst, SUM(p.amount) AS total "
        "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
        "JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id "
        "WHERE p.asset = 'VOUCHER' AND e.kind IN ('order_paid', 'order_refund') "
        "GROUP BY e.kind, s.name, d.name"
    )
    redeemed_voucher = 0
    for r in vouchers:
        if r["kind"] == "order_paid" and r["dst"] == "issuer:voucher":
            redeemed_voucher += int(r["total"])
        elif (
            r["kind"] == "order_refund"
            and r["src"] == "issuer:voucher"
            and re.fullmatch(r"consumer:\d+:voucher", r["dst"])
        ):
            redeemed_voucher -= int(r["total"])
    return PoolIdentity(
        pool_available=int(pool[0]["v"]),
        outstanding_vouchers=int(outstanding[0]["v"]),
        voucher_reserve=int(reserve[0]["v"]),
        cash_received=received,
        redeemed_voucher=redeemed_voucher,
        redeemed_cny=redeemed_cny,
        unexplained=unexplained,
    )


async def check_points_match_lots() -> None:
    """Pending / active point balances equal the points of the live lots."""
    rows = await _rows(
        "SELECT name, balance FROM ledger_accounts WHERE asset = 'POINTS' "
        "AND name NOT LIKE 'issuer:%'"
    )
    balances = {r["name"]: int(r["balance"]) for r in rows}
    lots: dict[str, int] = {}
    for lot in await PointLot.filter(status__in=[LotStatus.PENDING, LotStatus.ACTIVE]):
        state = "pending" if lot.status == LotStatus.PENDING else "active"
        name = (
            acct.consumer_points(lot.holder_id, state)
            if lot.holder_kind == HolderKind.CONSUMER
            else acct.merchant_points(lot.holder_id, state)
        ).name
        lots[name] = lots.get(name, 0) + lot.points
    for name in set(balances) | set(lots):
        assert balances.get(name, 0) == lots.get(name, 0), (
            f"{name}: balance {balances.get(name, 0)} but live lots hold {lots.get(name, 0)}"
        )
    assert not await PointLot.filter(status=LotStatus.CANCELLED, points__gt=0).exists()


async def check_refunds_exact() -> None:
    """Each refund returned to the consumer exactly what it was for (cash + vouchers)."""
    asked = await _rows(
        "SELECT o.id, o.refunded_fen, COALESCE(SUM(r.amount_fen), 0) AS refunds "
        "FROM orders o LEFT JOIN order_refunds r ON r.order_id = o.id GROUP BY o.id"
    )
    for r in asked:
        assert int(r["refunded_fen"]) == int(r["refunds"]), f"order {r['id']} refunds drift"
    returned = await _rows(
        "SELECT COALESCE(SUM(p.amount), 0) AS v FROM ledger_postings p "
        "JOIN ledger_entries e ON e.id = p.entry_id "
        "JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id "
        "WHERE e.kind = 'order_refund' AND s.name = 'transit:orders' "
        "AND (d.name LIKE 'channel:%:clearing' OR d.name = 'reserve:voucher')"
    )
    total_asked = sum(int(r["refunds"]) for r in asked)
    assert int(returned[0]["v"]) == total_asked, (
        f"refunds asked for {total_asked} fen, the consumer got {returned[0]['v']}"
    )


async def check_all() -> PoolIdentity:
    await check_entries_balance()
    await check_no_forbidden_negative()
    ident = await pool_identity()
    assert ident.holds, f"pool/voucher identity broken: {ident}"
    report = await verify_ledger()
    assert report.ok, report.problem
    await check_points_match_lots()
    await check_refunds_exact()
    return ident


# ------------------------------------------------------------------ the world


@dataclass
class World:
    consumers: list[int]  # user ids that place orders (one of them owns merchants[0])
    merchants: list[int]
    owners: dict[int, int]  # merchant id -> owner user id


async def build_world() -> World:
    """Three consumers in an invite chain (c3 -> c2 -> c1), two of them bound to a
    merchant; three merchants at different discount rates, two in a region with agents,
    one recruited; a merchant owner who also shops elsewhere."""
    await _empty_tables()
    # Order ids start again at 1: the payment channel's state (Redis) must start afresh too.
    get_settings().payment_redis_prefix = f"proptest:{secrets.token_hex(6)}"
    c1 = await make_user()
    c2 = await make_user(inviter=c1)
    c3 = await make_user(inviter=c2)
    m1 = await make_merchant(discount_bps=2_000, region_code="310101")
    m2 = await make_merchant(discount_bps=3_333, region_code="310104", recruiter_user_id=c1.id)
    m3 = await make_merchant(discount_bps=4_800, region_code="440305")
    for level, code in (("province", "310000"), ("city", "310100"), ("district", "310101")):
        await Agent.create(user=await make_user(), level=level, region_code=code)
    await merchants.bind_by_qr(c2.id, merchants.merchant_qr(m1.id))
    await merchants.bind_by_qr(c3.id, merchants.merchant_qr(m3.id))
    for c in (c1, c2, c3):
        await give_vouchers(c.id, 5_000)
    await give_vouchers(m1.owner_id, 2_000)
    return World(
        consumers=[c1.id, c2.id, c3.id, m1.owner_id],
        merchants=[m1.id, m2.id, m3.id],
        owners={m.id: m.owner_id for m in (m1, m2, m3)},
    )


def shanghai_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=orders.SHANGHAI).astimezone(UTC)


async def expect(call: Awaitable[T], code: str | None) -> T | None:
    """Await the call; it must succeed when `code` is None, else fail with that code."""
    try:
        result = await call
    except DomainError as e:
        assert code is not None, f"unexpected {e.code}: {e}"
        assert e.code == code, f"expected {code}, got {e.code}: {e}"
        return None
    assert code is None, f"expected {code}, but the call succeeded"
    return result


AMOUNTS = st.one_of(
    st.integers(1, 12),
    st.integers(13, 300_000),
    st.sampled_from([9_999, 10_000, 3_333, 100_001]),
)
VOUCHER_CHOICES = st.sampled_from(["none", "none", "part", "all_of_amount", "wallet+1", "random"])
REFUND_CHOICES = st.sampled_from(
    ["rest", "rest", "rest-1", "one", "half", "random", "over", "zero"]
)


class MoneyMachine(RuleBasedStateMachine):
    run: Callable[[Awaitable[Any]], Any]  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.keys = itertools.count(1)
        self.order_ids: list[int] = []
        self.txn_of: dict[int, str] = {}
        self.refund_calls: list[tuple[int, int, str]] = []
        self.today = orders.today_shanghai()
        self.clock = self.today
        self.world: World

    # -- setup

    @initialize()
    def setup(self) -> None:
        self.world = self.run(build_world())

    # -- helpers

    def _order(self, pick: int, prefer: tuple[OrderStatus, ...] = ()) -> Order:
        """An order by index; among those in `prefer` states when there are any."""
        ids = self.order_ids
        if prefer:
            ids = (
                self.run(
                    Order.filter(id__in=ids, status__in=list(prefer))
                    .order_by("id")
                    .values_list("id", flat=True)
                )
                or ids
            )
        return self.run(Order.get(id=ids[pick % len(ids)]))

    def _wallet(self, user_id: int) -> int:
        return self.run(balance_of(acct.consumer_voucher(user_id)))

    # -- orders

    def buy(self, who: int, where: int, amount: int, voucher: str, r) -> None:
        consumer, merchant = self.world.consumers[who], self.world.merchants[where]
        wallet = self._wallet(consumer)
        v = {
            "none": 0,
            "part": min(wallet, amount // 3),
            "all_of_amount": amount,
            "wallet+1": wallet + 1,
            "random": r.randint(0, max(0, min(wallet, amount))),
        }[voucher]
        if v > amount:
            code: str | None = "VOUCHER_INVALID"
        elif self.world.owners[merchant] == consumer:
            code = "SELF_PURCHASE"
        elif v > wallet:
            code = "VOUCHER_INSUFFICIENT"
        else:
            code = None
        key = f"k{next(self.keys)}"
        event(f"create: {code or 'ok'}")
        order = self.run(
            expect(
                checkout.create_order(
                    consumer_id=consumer,
                    merchant_id=merchant,
                    amount_fen=amount,
                    voucher_fen=v,
                    idempotency_key=key,
                ),
                code,
            )
        )
        if order is None:
            assert self._wallet(consumer) == wallet, "a refused order moved vouchers"
            return
        assert self._wallet(consumer) == wallet - v
        expected = OrderStatus.PAID if v == amount else OrderStatus.PAYING
        assert order.status == expected
        if order.status == OrderStatus.PAID:
            self.txn_of[order.id] = order.channel_txn_id
        self.order_ids.append(order.id)
        # the same key again: the same order; with another amount: refused
        again = self.run(
            checkout.create_order(
                consumer_id=consumer,
                merchant_id=merchant,
                amount_fen=amount,
                voucher_fen=v,
                idempotency_key=key,
            )
        )
        assert again.id == order.id
        self.run(
            expect(
                checkout.create_order(
                    consumer_id=consumer,
                    merchant_id=merchant,
                    amount_fen=amount + 1,
                    voucher_fen=v,
                    idempotency_key=key,
                ),
                "IDEMPOTENCY_KEY_REUSED",
            )
        )

    def pay(self, pick: int, how: str, any_order: bool) -> None:
        """A payment notification: first, repeated, from another txn, or short-paid; to
        an unpaid order, or (any_order) to any order: paid, closed or refunded."""
        unpaid = (OrderStatus.CREATED, OrderStatus.PAYING)
        order = self._order(pick, () if any_order else unpaid)
        txn = self.txn_of.get(order.id, f"txn-{order.id}")
        amount = order.cash_fen
        if how == "other":
            txn = f"{txn}-dup"
        if how == "short":
            amount -= 1
        if order.status in orders.PAID_STATES:
            code = None if txn == order.channel_txn_id else "DUPLICATE_PAYMENT"
        elif order.status == OrderStatus.CLOSED:
            code = "INVALID_STATE"
        elif amount != order.cash_fen:
            code = "AMOUNT_MISMATCH"
        else:
            code = None
        event(f"pay ({how}, {order.status}): {code or 'ok'}")
        lots_before = self.run(PointLot.filter(order_id=order.id).count())
        paid = self.run(
            expect(
                orders.mark_paid(
                    order.id, channel=order.channel, channel_txn_id=txn, amount_fen=amount
                ),
                code,
            )
        )
        lots_after = self.run(PointLot.filter(order_id=order.id).count())
        if paid is not None and order.status not in orders.PAID_STATES:
            self.txn_of[order.id] = txn
            assert paid.status == OrderStatus.PAID and lots_after <= 2
            for kind in sorted({p["kind"] for p in (paid.settlement or {}).get("parties", [])}):
                event(f"settlement pays: {kind}")
        else:
            assert lots_after == lots_before, "a repeated or refused payment made lots"
        entries = self.run(
            _rows(
                f"SELECT COUNT(*) AS n FROM ledger_entries "
                f"WHERE kind = 'order_paid' AND ref = 'order:{order.id}'"
            )
        )
        assert int(entries[0]["n"]) == (1 if order.id in self.txn_of else 0)

    def close(self, pick: int) -> None:
        order = self._order(pick)
        wallet = self._wallet(order.consumer_id)
        code = (
            None
            if order.status in (OrderStatus.CREATED, OrderStatus.PAYING, OrderStatus.CLOSED)
            else "INVALID_STATE"
        )
        event(f"close ({order.status}): {code or 'ok'}")
        closed = self.run(expect(orders.close_order(order.id), code))
        back = order.voucher_fen if closed and order.status != OrderStatus.CLOSED else 0
        assert self._wallet(order.consumer_id) == wallet + back

    def refund(self, pick: int, how: str, r, any_order: bool) -> None:
        refundable = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
        order = self._order(pick, () if any_order else refundable)
        rest = order.amount_fen - order.refunded_fen
        amount = {
            "rest": rest,
            "rest-1": rest - 1,
            "one": 1,
            "half": rest // 2,
            "random": r.randint(1, max(1, rest)),
            "over": rest + 1,
            "zero": 0,
        }[how]
        if amount <= 0:
            code: str | None = "AMOUNT_INVALID"
        elif order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
            code = "INVALID_STATE"
        elif order.settled_at is not None or self.clock >= order.settle_on:
            code = "REFUND_WINDOW_CLOSED"
        elif amount > rest:
            code = "REFUND_EXCEEDS_PAID"
        else:
            code = None
        key = f"r{next(self.keys)}"
        event(f"refund ({how}): {code or 'ok'}")
        done = self.run(
            expect(
                orders.refund_order(
                    order.id, amount, refund_key=key, now=shanghai_noon(self.clock)
                ),
                code,
            )
        )
        after = self.run(Order.get(id=order.id))
        if done is None:
            assert after.refunded_fen == order.refunded_fen and after.status == order.status
            return
        self.refund_calls.append((order.id, amount, key))
        assert after.refunded_fen == order.refunded_fen + amount
        full = after.refunded_fen == after.amount_fen
        assert after.status == (OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED)

    def refund_repeated(self, pick: int) -> None:
        """The same refund key again refunds nothing more."""
        order_id, amount, key = self.refund_calls[pick % len(self.refund_calls)]
        before = self.run(Order.get(id=order_id))
        n = self.run(OrderRefund.filter(order_id=order_id).count())
        self.run(
            orders.refund_order(order_id, amount, refund_key=key, now=shanghai_noon(self.clock))
        )
        assert self.run(Order.get(id=order_id)).refunded_fen == before.refunded_fen
        assert self.run(OrderRefund.filter(order_id=order_id).count()) == n

    def settle_after(self, days: int) -> None:
        """Time passes; the settle job runs (twice: the second finds nothing)."""
        self.clock += timedelta(days=days)
        due = self.run(
            Order.filter(
                settled_at=None,
                settle_on__lte=self.clock,
                status__in=list(orders.PAID_STATES),
            ).count()
        )
        assert self.run(orders.settle_due(self.clock)) == due
        event(f"settle: {min(due, 3)}{'+' if due >= 3 else ''} orders")
        assert self.run(orders.settle_due(self.clock)) == 0
        live = self.run(
            PointLot.filter(order__settled_at__isnull=False, status=LotStatus.PENDING).count()
        )
        assert live == 0, "a settled order kept pending lots"

    def top_up_vouchers(self, who: int, fen: int) -> None:
        self.run(give_vouchers(self.world.consumers[who], fen))

    # -- one step: an action and its arguments, drawn here (not one rule per action: the
    # stateful runner's swarm mode would switch `buy` off for whole examples)

    ACTIONS: dict[str, dict[str, st.SearchStrategy]] = {
        "buy": {
            "who": st.integers(0, 3),
            "where": st.integers(0, 2),
            "amount": AMOUNTS,
            "voucher": VOUCHER_CHOICES,
            "r": st.randoms(use_true_random=False),
        },
        "pay": {
            "pick": st.integers(0, 10_000),
            "how": st.sampled_from(["same", "same", "same", "other", "short"]),
            "any_order": st.booleans(),
        },
        "refund": {
            "pick": st.integers(0, 10_000),
            "how": REFUND_CHOICES,
            "r": st.randoms(use_true_random=False),
            "any_order": st.booleans(),
        },
        "close": {"pick": st.integers(0, 10_000)},
        "refund_repeated": {"pick": st.integers(0, 10_000)},
        "settle_after": {"days": st.integers(1, 9)},
        "top_up_vouchers": {"who": st.integers(0, 3), "fen": st.integers(1, 20_000)},
    }
    WEIGHTED = (
        ["buy"] * 4
        + ["pay"] * 4
        + ["refund"] * 3
        + ["close"] * 2
        + [
            "refund_repeated",
            "settle_after",
            "top_up_vouchers",
        ]
    )

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(self.WEIGHTED), label="action")
        if not self.order_ids and action in ("pay", "refund", "close"):
            action = "buy"
        if not self.refund_calls and action == "refund_repeated":
            action = "refund"
            if not self.order_ids:
                action = "buy"
        kwargs = {k: data.draw(v, label=k) for k, v in self.ACTIONS[action].items()}
        getattr(self, action)(**kwargs)

    # -- after every step

    @invariant()
    def money_is_sound(self) -> None:
        if hasattr(self, "world"):
            self.run(check_all())


async def test_random_sequences_keep_the_money_sound(db, every_branch_policy):
    bridge = LoopBridge(asyncio.get_running_loop(), contextvars.copy_context())
    MoneyMachine.run = staticmethod(bridge)  # type: ignore[assignment]
    budget = settings(
        max_examples=25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    SEEN.clear()
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: run_state_machine_as_test(MoneyMachine, settings=budget)
    )
    await _empty_tables()
    print("\nexercised:\n" + "\n".join(f"{n:6d}  {k}" for k, n in sorted(SEEN.items())))
