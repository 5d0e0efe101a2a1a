"""A caller's writes that ride with a ledger entry (`post(..., riders=...)`)."""

from __future__ import annotations

import pytest

from app.domain.ledger import Overdraft, Post, acct, balance_of, post
from app.domain.ledger.verify import verify_ledger
from app.models.ledger import LedgerEntry
from app.models.users import User
from tests.factories import make_user

RENAME = "UPDATE users SET nickname = ? WHERE id = ?"


async def test_riders_are_written_with_the_entry_and_with_its_repeat(db):
    a, b = await make_user(), await make_user()
    # when an entry is posted with two riders
    entry = await post(
        "test",
        "t:1",
        [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 7)],
        idem_key="k1",
        riders=[(RENAME, ["first", a.id]), (RENAME, ["second", b.id])],
    )
    # then both writes are made and the entry is whole and chained
    assert (await User.get(id=a.id)).nickname == "first"
    assert (await User.get(id=b.id)).nickname == "second"
    assert await balance_of(acct.PLATFORM_REVENUE) == 7
    assert (await verify_ledger()).ok
    # and the entry handed back is the one stored
    stored = await LedgerEntry.get(id=entry.id)
    fields = ("kind", "ref", "idem_key", "seq", "prev_hash", "hash", "postings_digest",
              "posting_count", "created_at")  # fmt: skip
    assert [getattr(entry, f) for f in fields] == [getattr(stored, f) for f in fields]
    # and a repeat of the key moves nothing more, but still makes its riders
    again = await post(
        "test",
        "t:1",
        [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 7)],
        idem_key="k1",
        riders=[(RENAME, ["third", a.id])],
    )
    assert again.id == entry.id and await balance_of(acct.PLATFORM_REVENUE) == 7
    assert (await User.get(id=a.id)).nickname == "third"


async def test_a_refused_entry_makes_no_rider(db):
    a = await make_user()
    with pytest.raises(Overdraft):
        await post(
            "test",
            "t:1",
            [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 1)],
            riders=[(RENAME, ["changed", a.id])],
        )
    assert (await User.get(id=a.id)).nickname == a.nickname
    assert await LedgerEntry.all().count() == 0
