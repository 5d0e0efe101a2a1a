"""Invitations by code and what they earn (SPEC §6): the rules, read on real paid orders."""

from __future__ import annotations

import asyncio

import pytest

from app.domain import merchants, orders, referrals
from app.domain.policy import clear_policy_cache
from app.domain.referrals import ALPHABET, ReferralErrorCode
from app.domain.settlement import SettlementPlan
from app.infra.errors import DomainError
from app.models.orders import Order
from app.models.users import User
from app.services import checkout
from tests.factories import make_merchant, make_user, paid_order

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_levels(settings):
    """平川: inviters earn on two levels (1% and 0.5% of A)."""
    old = settings.policy
    settings.policy = "pingchuan"
    clear_policy_cache()
    yield
    settings.policy = old
    clear_policy_cache()


async def refused(user: User, code: str) -> str:
    with pytest.raises(DomainError) as e:
        await referrals.accept_invite(user.id, code)
    assert e.value.field == "code"
    return e.value.code


async def invite(invitee: User, inviter: User) -> None:
    await referrals.accept_invite(invitee.id, await referrals.invite_code(inviter.id))


# ------------------------------------------------------------------ codes


async def test_a_code_is_short_unambiguous_stable_and_ones_own(db):
    a, b = await make_user(), await make_user()
    code = await referrals.invite_code(a.id)
    assert len(code) == 8 and set(code) <= set(ALPHABET)
    assert not set(code) & set("01OIL")
    assert await referrals.invite_code(a.id) == code
    assert await referrals.invite_code(b.id) != code


async def test_concurrent_first_asks_make_one_code(db):
    a = await make_user()
    codes = await asyncio.gather(*(referrals.invite_code(a.id) for _ in range(12)))
    assert len(set(codes)) == 1


async def test_a_code_is_read_however_it_is_typed_or_scanned(db):
    a, b, c, d = [await make_user() for _ in range(4)]
    code = await referrals.invite_code(a.id)
    await referrals.accept_invite(b.id, f" {code[:4].lower()}-{code[4:].lower()} ")
    await referrals.accept_invite(c.id, f"https://points.example/i/{code}")
    await referrals.accept_invite(d.id, code)
    assert {u.inviter_id for u in await User.filter(id__in=[b.id, c.id, d.id])} == {a.id}


# ------------------------------------------------------------------ the rules


async def test_unknown_and_malformed_codes_are_refused(db):
    a = await make_user()
    await referrals.invite_code(a.id)  # a code exists, just not the one given
    assert await refused(a, "ABCDEFGH") == ReferralErrorCode.INVITE_CODE_UNKNOWN
    assert await refused(a, "ABC") == ReferralErrorCode.INVITE_CODE_UNKNOWN
    assert await refused(a, "ABCDEFG0") == ReferralErrorCode.INVITE_CODE_UNKNOWN
    assert await refused(a, "") == ReferralErrorCode.INVITE_CODE_UNKNOWN


async def test_no_one_invites_themselves(db):
    a = await make_user()
    assert await refused(a, await referrals.invite_code(a.id)) == ReferralErrorCode.INVITE_SELF
    assert (await User.get(id=a.id)).inviter_id is None


async def test_once_set_the_inviter_stays_and_the_same_code_is_a_repeat(db):
    a, b, c = await make_user(), await make_user(), await make_user()
    first = await referrals.accept_invite(c.id, await referrals.invite_code(a.id))
    again = await referrals.accept_invite(c.id, await referrals.invite_code(a.id))
    assert first == again and first.user_id == a.id
    code_b = await referrals.invite_code(b.id)
    assert await refused(c, code_b) == ReferralErrorCode.INVITER_ALREADY_SET
    assert (await User.get(id=c.id)).inviter_id == a.id


async def test_no_cycles(db):
    a, b, c = await make_user(), await make_user(), await make_user()
    await invite(b, a)
    await invite(c, b)
    # a -> c would close a -> c -> b -> a; b's own invitee cannot invite b either
    assert await refused(a, await referrals.invite_code(c.id)) == ReferralErrorCode.INVITE_CYCLE
    assert await refused(a, await referrals.invite_code(b.id)) == ReferralErrorCode.INVITE_CYCLE
    assert (await User.get(id=a.id)).inviter_id is None


async def test_two_users_naming_each_other_at_once_make_no_cycle(db):
    for _ in range(5):
        a, b = await make_user(), await make_user()
        code_a, code_b = await referrals.invite_code(a.id), await referrals.invite_code(b.id)
        results = await asyncio.gather(
            referrals.accept_invite(a.id, code_b),
            referrals.accept_invite(b.id, code_a),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, DomainError)]
        assert len(errors) == 1 and errors[0].code == ReferralErrorCode.INVITE_CYCLE
        a, b = await User.get(id=a.id), await User.get(id=b.id)
        assert (a.inviter_id == b.id) != (b.inviter_id == a.id)


async def test_an_invitation_comes_before_the_first_paid_order(db):
    a, b, shop = await make_user(), await make_user(), await make_merchant()
    unpaid = await checkout.create_order(
        consumer_id=b.id, merchant_id=shop.id, amount_fen=1_000, idempotency_key="u1"
    )
    assert unpaid.status not in orders.PAID_STATES
    code = await referrals.invite_code(a.id)
    c = await make_user()
    await referrals.accept_invite(c.id, code)  # c has no order: fine
    await paid_order(b, shop, 1_000)
    assert await refused(b, code) == ReferralErrorCode.INVITE_AFTER_FIRST_ORDER
    # a repeat of an invitation accepted in time still answers as it did
    await paid_order(c, shop, 1_000)
    assert (await referrals.accept_invite(c.id, code)).user_id == a.id


async def test_a_refunded_first_order_still_counts(db):
    a, b, shop = await make_user(), await make_user(), await make_merchant()
    order = await paid_order(b, shop, 1_000)
    await orders.refund_order(order.id, 1_000, refund_key="r1")
    assert await refused(b, await referrals.invite_code(a.id)) == (
        ReferralErrorCode.INVITE_AFTER_FIRST_ORDER
    )


# ------------------------------------------------------------------ masking


def test_names_and_phones_are_masked():
    assert referrals.mask_name("张三丰") == "张**"
    assert referrals.mask_name("张三") == "张**"
    assert referrals.mask_name("Alexander") == "A**"
    assert referrals.mask_phone("13812341234") == "138****1234"
    assert referrals.mask_phone("1234567") == "*******"
    assert referrals.mask_phone(None) is None
    assert referrals.display_name("", "13812341234") == "138****1234"
    assert referrals.display_name("", None) == "**"


# ------------------------------------------------------------------ the tree


async def kept(order: Order, kind: str, holder_id: int) -> int:
    """What the order's own settlement plan gives this party, less what its refunds took
    back (as the refund apportions it)."""
    order = await Order.get(id=order.id)
    plan = SettlementPlan.from_json(order.settlement)
    back = plan.refunded_shares(order.refunded_fen)[1:]
    return sum(
        p.fen - gone
        for p, gone in zip(plan.parties, back, strict=True)
        if p.kind == kind and str(p.id) == str(holder_id)
    )


async def _inviter_share(order: Order, inviter: User) -> int:
    return await kept(order, "inviter", inviter.id)


async def test_counts_and_earnings_per_level_follow_the_ledger(db, two_levels):
    root, shop = await make_user(), await make_merchant()
    a, b = await make_user(nickname="张三丰"), await make_user(nickname="", phone="13912345678")
    a1, b1, b2 = await make_user(), await make_user(), await make_user()
    deep = await make_user()  # a third level: pays root nothing and is not in the tree
    await invite(a, root)
    await invite(a1, a)
    await invite(b1, b)
    # b1 pays before b names root: that order gave root nothing, and counts nothing
    early = await paid_order(b1, shop, 40_000)
    assert await _inviter_share(early, root) == 0
    await invite(b, root)
    await invite(b2, b)
    await invite(deep, a1)

    paid = {
        "a": await paid_order(a, shop, 10_000),
        "a1": await paid_order(a1, shop, 20_000),
        "b1": await paid_order(b1, shop, 30_000),
        "b2": await paid_order(b2, shop, 8_000),
        "deep": await paid_order(deep, shop, 50_000),
        "root": await paid_order(root, shop, 70_000),
    }
    b2_before = await _inviter_share(paid["b2"], root)
    await orders.refund_order(paid["b2"].id, 2_000, refund_key="b2-part")
    assert 0 < await _inviter_share(paid["b2"], root) < b2_before
    level1 = await _inviter_share(paid["a"], root)
    level2 = sum([await _inviter_share(paid[k], root) for k in ("a1", "b1", "b2")])
    assert level1 > 0 and level2 > 0 and await _inviter_share(paid["deep"], root) == 0

    levels = await referrals.referral_levels(root.id, 2)
    assert [(lv.level, lv.invitees) for lv in levels] == [(1, 2), (2, 3)]
    assert levels[0].earned_fen == level1 == levels[0].pending_fen
    assert levels[1].earned_fen == level2
    assert levels[1].earned_fen == levels[1].pending_fen

    # depth 1: the first level only
    assert [(lv.level, lv.invitees, lv.earned_fen) for lv in
            await referrals.referral_levels(root.id, 1)] == [(1, 2, level1)]  # fmt: skip

    # settled orders stay earned and stop being pending
    await orders.settle_order(paid["a"].id)
    after = await referrals.referral_levels(root.id, 2)
    assert after[0].earned_fen == level1 and after[0].pending_fen == 0
    assert after[1] == levels[1]

    # the page: level 1 then level 2, newest first; masked; what each one earned root
    page = await referrals.referral_page(root.id, 2, 10)
    assert [(i.level, i.user_id) for i in page] == [
        (1, b.id), (1, a.id), (2, b2.id), (2, b1.id), (2, a1.id)
    ]  # fmt: skip
    by_id = {i.user_id: i for i in page}
    assert by_id[a.id].name == "张**"
    assert by_id[b.id].name == "139****5678" == by_id[b.id].phone
    assert by_id[a.id].earned_fen == level1
    assert by_id[b1.id].earned_fen == await _inviter_share(paid["b1"], root)
    assert sum(by_id[i].earned_fen for i in (a1.id, b1.id, b2.id)) == levels[1].earned_fen
    # keyset pages add up to the whole, with no repeats
    first = await referrals.referral_page(root.id, 2, 2)
    rest = await referrals.referral_page(root.id, 2, 10, (first[-1].level, first[-1].user_id))
    assert [i.user_id for i in first + rest] == [i.user_id for i in page]
    assert [i.level for i in await referrals.referral_page(root.id, 1, 10)] == [1, 1]


async def test_depth_is_one_or_two(db):
    a = await make_user()
    for depth in (0, 3, -1):
        with pytest.raises(DomainError) as e:
            await referrals.referral_levels(a.id, depth)
        assert (e.value.code, e.value.field) == ("INVALID", "depth")


# ------------------------------------------------------------------ a store's customers


async def test_a_store_sees_what_its_bound_customers_brought(db):
    shop, elsewhere = await make_merchant(), await make_merchant()
    before, bound, other = await make_user(), await make_user(), await make_user()
    early = await paid_order(bound, elsewhere, 5_000)  # before binding: not brought
    await merchants.bind_by_qr(bound.id, merchants.merchant_qr(shop.id))
    await merchants.bind_by_qr(before.id, merchants.merchant_qr(shop.id))
    await merchants.bind_by_qr(other.id, merchants.merchant_qr(elsewhere.id))
    o1 = await paid_order(bound, elsewhere, 10_000)
    o2 = await paid_order(bound, shop, 20_000)
    await orders.refund_order(o2.id, 5_000, refund_key="o2")
    await paid_order(other, shop, 30_000)  # bound to another store
    whole = await paid_order(bound, shop, 4_000)
    await orders.refund_order(whole.id, 4_000, refund_key="whole")

    assert await kept(early, "bound_merchant", shop.id) == 0
    assert await kept(whole, "bound_merchant", shop.id) == 0  # all given back
    expected_reward = sum([await kept(o, "bound_merchant", shop.id) for o in (o1, o2)])
    assert expected_reward > 0
    o2_after = await Order.get(id=o2.id)

    summary = await referrals.customers_summary(shop.id)
    assert summary.customers == 2
    assert summary.orders == 2  # o1 and o2; `whole` was refunded whole, `early` came before
    assert summary.amount_fen == 10_000 + 20_000 - o2_after.refunded_fen
    assert summary.reward_fen == expected_reward

    page = await referrals.customers_page(shop.id, 10, None)
    assert [c.user_id for c in page] == [before.id, bound.id]
    row = page[1]
    assert (row.orders, row.amount_fen, row.reward_fen) == (
        summary.orders,
        summary.amount_fen,
        summary.reward_fen,
    )
    assert (page[0].orders, page[0].amount_fen, page[0].reward_fen) == (0, 0, 0)
    assert row.phone is not None and "****" in row.phone
    assert [c.user_id for c in await referrals.customers_page(shop.id, 10, page[0].binding_id)] == [
        bound.id
    ]
