"""`app.infra.redis.run_commands`: several commands in one round trip on the lean pool, on a
real server and on the in-process stand-in alike."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from app.infra.config import get_settings
from app.infra.redis import LEAN_NAME, get_redis, run_commands


async def test_a_transaction_hands_back_each_reply(db):
    r = get_redis()
    # when a value is read and a hash bumped in one MULTI
    await r.set("t:epoch", "7")
    replies = await run_commands(
        r, [("GET", "t:epoch"), ("HINCRBYFLOAT", "t:h", "m", 1.5)], transaction=True
    )
    # then the replies come back in order and the write is made
    assert replies[0] == "7"
    assert float(replies[1]) == 1.5
    assert float(await r.hget("t:h", "m")) == 1.5


async def test_a_refused_command_raises_and_the_next_call_works(db):
    r = get_redis()
    await r.set("t:text", "not a hash")
    # a command the server refuses, outside and inside a transaction
    with pytest.raises(ResponseError):
        await run_commands(r, [("HINCRBY", "t:text", "f", 1), ("SET", "t:after", "1")])
    with pytest.raises(ResponseError):
        await run_commands(r, [("HINCRBY", "t:text", "f", 1)], transaction=True)
    # then nothing is left unread: the next call reads its own reply
    assert await run_commands(r, [("GET", "t:text")]) == ["not a hash"]


@pytest.mark.redis
async def test_a_connection_the_server_closed_is_met_on_a_new_one(db):
    r = get_redis()
    await run_commands(r, [("SET", "t:k", "1")])
    if get_settings().runtime_shortcuts:
        used = [c for c in await r.client_list() if c["name"] == LEAN_NAME]
    else:  # the public path: the client's own pool, one connection (calls come in turn)
        me = await r.client_id()
        used = [c for c in await r.client_list() if int(c["id"]) == me]
    assert used
    for c in used:
        await r.client_kill_filter(_id=c["id"], skipme=False)
    # when the next call meets the connection the server closed, it runs once, on a new one
    assert await run_commands(r, [("INCR", "t:n")], transaction=True) == [1]
    assert await r.get("t:n") == "1"
