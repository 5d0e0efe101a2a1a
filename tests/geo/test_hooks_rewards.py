"""The paid-order hook looks a weekly task's reward up only when one may be unpaid."""

from __future__ import annotations

import pytest

from app.models.geo import TaskReward
from app.services import discovery as hooks
from app.services import traffic
from tests.factories import make_merchant, make_user, paid_order

# The payment's own statement reads the rewards (PostgreSQL); the orders are real ones,
# paid now, so all in this week.
pytestmark = pytest.mark.postgres


def weekly_task():
    from app.domain.policy import get_policy

    return next(t for t in get_policy().traffic.tasks if t.metric == hooks.WEEK_ORDERS)


@pytest.fixture
def lookups(monkeypatch):
    """Counts the hook's calls of `pay_due_tasks` (the reward lookups), still calling it."""
    calls: list[int] = []
    real = traffic.pay_due_tasks

    async def counted(merchant_id, metric, period, value):
        calls.append(value)
        return await real(merchant_id, metric, period, value)

    monkeypatch.setattr(traffic, "pay_due_tasks", counted)
    return calls


async def test_orders_after_the_reward_skip_the_lookup(lookups):
    t = weekly_task()
    m, c = await make_merchant(), await make_user()
    for _ in range(t.threshold + 3):
        await paid_order(c, m, 1_000)
    # the threshold-th order looked the reward up and paid it; the ones before had no
    # task in reach and the ones after found it paid in the counter's own statement
    assert lookups == [t.threshold]
    assert await TaskReward.filter(merchant_id=m.id, task_code=t.code).count() == 1


async def test_a_reward_missed_at_the_threshold_is_paid_by_a_later_order(lookups, monkeypatch):
    t = weekly_task()
    m, c = await make_merchant(), await make_user()
    for _ in range(t.threshold - 1):
        await paid_order(c, m, 1_000)

    async def down(*args):
        raise RuntimeError("database away")

    # given the hook of the threshold-th order failed (logged, the payment stands)
    with monkeypatch.context() as mp:
        mp.setattr(traffic, "pay_due_tasks", down)
        await paid_order(c, m, 1_000)
    assert not await TaskReward.exists(merchant_id=m.id, task_code=t.code)
    # when the next order of the week is paid, it sees the task unpaid and pays it
    await paid_order(c, m, 1_000)
    assert lookups == [t.threshold + 1]
    assert await TaskReward.filter(merchant_id=m.id, task_code=t.code).count() == 1
