"""Scroll snapshots of `nearbyMerchants` (issue 14): none for anonymous callers, whose
cursors are positions that recompute the ranking; a few per signed-in client, the
oldest overwritten; a cursor whose snapshot is gone (or is another client's) continues
by recomputation after its position."""

from __future__ import annotations

import pytest

from app.infra.redis import get_redis
from tests.geo.factories import CENTRE, clear_geo_keys, merchant, offset, user
from tests.helpers import gql, token_for

NEARBY = """query($loc: LocationInput!, $after: String) {
  nearbyMerchants(location: $loc, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"""
LOC = {"lat": CENTRE[0], "lng": CENTRE[1], "coordSystem": "GCJ02"}


@pytest.fixture(autouse=True)
async def geo_keys(db):
    await clear_geo_keys()
    yield


async def _page(client, token=None, after=None) -> tuple[list[str], str | None, bool]:
    body = await gql(client, NEARBY, {"loc": LOC, "after": after}, token)
    conn = body["data"]["nearbyMerchants"]
    info = conn["pageInfo"]
    return [e["node"]["name"] for e in conn["edges"]], info["endCursor"], info["hasNextPage"]


async def _snapshot_keys() -> list[str]:
    return [k async for k in get_redis().scan_iter(match="geo:v1:snap:*")]


async def test_anonymous_nearby_stores_nothing_and_still_scrolls(client):
    for i in range(1, 6):
        await merchant(at=offset(*CENTRE, north_m=100 * i), name=f"m{i}")
    await _page(client)  # (the first query builds the index)
    before = await get_redis().dbsize()
    pages = [await _page(client) for _ in range(20)]
    # tried 20 first pages selecting endCursor: no key left behind
    assert await get_redis().dbsize() == before and await _snapshot_keys() == []
    names, cursor, more = pages[-1]
    assert names == ["m1", "m2"] and more and cursor
    # the cursor is a position: the next pages are worked out again from it
    names2, cursor2, more2 = await _page(client, after=cursor)
    names3, _, more3 = await _page(client, after=cursor2)
    assert (names2, more2, names3, more3) == (["m3", "m4"], True, ["m5"], False)
    assert await get_redis().dbsize() == before


async def test_a_signed_in_client_keeps_only_its_newest_snapshots(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "nearby_snapshots_per_client", 2)
    for i in range(1, 6):
        await merchant(at=offset(*CENTRE, north_m=100 * i), name=f"m{i}")
    alice = await token_for((await user()).id, "consumer")
    bob = await token_for((await user()).id, "consumer")
    cursors = [(await _page(client, alice))[1] for _ in range(5)]
    # tried 5 scrolls: one key for the client, holding the newest 2 (and the count)
    keys = await _snapshot_keys()
    assert len(keys) == 1
    assert await get_redis().hlen(keys[0]) == 3
    # a merchant opens between m2 and m3: a kept snapshot does not see it...
    await merchant(at=offset(*CENTRE, north_m=250), name="newcomer")
    assert (await _page(client, alice, cursors[-1]))[0] == ["m3", "m4"]
    assert (await _page(client, alice, cursors[-2]))[0] == ["m3", "m4"]
    # ...an overwritten one is answered by recomputing after the cursor's position,
    assert (await _page(client, alice, cursors[0]))[0] == ["newcomer", "m3"]
    # and so is another client's cursor (snapshots are read per client)
    assert (await _page(client, bob, cursors[-1]))[0] == ["newcomer", "m3"]
    # bob's own scroll gets a key of its own
    await _page(client, bob)
    assert len(await _snapshot_keys()) == 2
