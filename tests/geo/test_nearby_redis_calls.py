"""The nearby script's own Redis calls (app.infra.redis.run_script) on a real server: a server
that lost its scripts, or closed the connection, is met without an error."""

from __future__ import annotations

import pytest

from app.infra.config import get_settings
from app.infra.redis import LEAN_NAME, get_redis
from app.services.discovery import nearby
from tests.geo.factories import CENTRE, merchant, offset

pytestmark = pytest.mark.redis


def ids(page):
    return [x.merchant_id for x in page.items]


async def test_a_server_that_lost_the_script_gets_it_again(db):
    ms = [await merchant(at=offset(*CENTRE, north_m=100 * i)) for i in range(1, 4)]
    before = await nearby(*CENTRE)
    await get_redis().script_flush()
    after = await nearby(*CENTRE)
    assert ids(before) == ids(after) == [m.id for m in ms]


async def test_a_connection_the_server_closed_is_retried(db):
    ms = [await merchant(at=offset(*CENTRE, north_m=100 * i)) for i in range(1, 4)]
    before = await nearby(*CENTRE)
    r = get_redis()
    if get_settings().runtime_shortcuts:
        used = [c for c in await r.client_list() if c["name"] == LEAN_NAME]
        assert used  # the lean pool's connection the first query used
    else:
        # the public path: the script ran on the client's own pool, whose one connection
        # (the test's calls come one at a time) is the one asking now
        me = await r.client_id()
        used = [c for c in await r.client_list() if int(c["id"]) == me]
        assert used
    for c in used:
        await r.client_kill_filter(_id=c["id"], skipme=False)
    after = await nearby(*CENTRE)
    assert ids(before) == ids(after) == [m.id for m in ms]
