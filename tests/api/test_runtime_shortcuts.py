"""RUNTIME_SHORTCUTS switches every shorter path through a library's private API off
(CONTRIBUTING.md, rule 4): with it off, the private path is not taken (the test makes
it fail if it were) and the public one gives the same answer."""

from __future__ import annotations

import httpx
import pytest
from tortoise import connections

from app.api.graphql.runtime.execution import PlainCompletion
from app.api.graphql.runtime.view import GraphQLApp
from app.api.graphql.schema import make_schema, schema
from app.infra import http as infra_http
from app.infra import redis as infra_redis
from app.infra.config import get_settings
from app.infra.orm import from_row
from app.infra.redis import get_redis, run_commands, run_script, script_sha
from app.models.users import User
from tests.factories import make_user

QUERY = {"query": "query { __typename }"}


def shortcuts(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(get_settings(), "runtime_shortcuts", on)


@pytest.mark.parametrize("on", [True, False])
async def test_the_view_takes_its_fast_post_only_with_shortcuts_on(db, monkeypatch, on):
    calls = []
    fast_post = GraphQLApp._fast_post

    async def spy(self, *args):  # (the body is read and checked on both paths)
        calls.append(1)
        return await fast_post(self, *args)

    monkeypatch.setattr(GraphQLApp, "_fast_post", spy)
    view = GraphQLApp(schema, settings=get_settings().model_copy(update={"runtime_shortcuts": on}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=view), base_url="http://test"
    ) as c:
        response = await c.post("/", json=QUERY)
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert len(calls) == (1 if on else 0)


def test_the_schema_completes_plain_objects_its_own_way_only_with_shortcuts_on():
    on = make_schema(get_settings().model_copy(update={"runtime_shortcuts": True}))
    off = make_schema(get_settings().model_copy(update={"runtime_shortcuts": False}))
    assert on.execution_context_class is PlainCompletion
    assert not issubclass(off.execution_context_class, PlainCompletion)


async def test_a_row_becomes_the_same_model_either_way(db, monkeypatch):
    user = await make_user()
    rows = await connections.get("default").execute_query_dict(
        "SELECT * FROM users WHERE id = $1", [user.id]
    )
    fast = from_row(User, rows[0])
    shortcuts(monkeypatch, False)
    with monkeypatch.context() as m:
        m.setattr(User, "_init_from_db", None)  # (calling it would raise)
        slow = from_row(User, rows[0])
    fields = User._meta.db_fields
    assert {f: getattr(slow, f) for f in fields} == {f: getattr(fast, f) for f in fields}
    slow.nickname = "renamed"
    await slow.save(update_fields=["nickname"])  # an UPDATE of the saved row
    assert (await User.get(id=user.id)).nickname == "renamed"
    assert await User.filter(phone=user.phone).count() == 1


@pytest.mark.parametrize("on", [True, False])
async def test_an_http_request_goes_by_the_transport_only_with_shortcuts_on(monkeypatch, on):
    shortcuts(monkeypatch, on)
    sent = []
    if not on:
        real_send = httpx.AsyncClient.send

        async def send(self, request, **kw):
            sent.append(request.url.path)
            return await real_send(self, request, **kw)

        monkeypatch.setattr(httpx.AsyncClient, "send", send)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"path": request.url.path})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        response = await infra_http.send_read(client, client.build_request("GET", "http://p/x"))
    assert response.json() == {"path": "/x"}
    assert sent == ([] if on else ["/x"])


SCRIPT = "return redis.call('HGETALL', KEYS[1])"


@pytest.mark.redis
async def test_redis_batches_and_scripts_leave_the_lean_pool_with_shortcuts_off(monkeypatch):
    r = get_redis()
    key = "test:shortcuts"
    batch = [("DEL", key), ("HSET", key, "a", "1"), ("HGETALL", key), ("HINCRBY", key, "a", 1)]
    on = await run_commands(r, batch, transaction=True)
    script_on = await run_script(r, SCRIPT, script_sha(SCRIPT), [key], [])
    shortcuts(monkeypatch, False)

    async def refuse(*args):
        raise AssertionError("the lean pool was used")

    monkeypatch.setattr(infra_redis, "_on_lean_connection", refuse)
    off = await run_commands(r, batch, transaction=True)
    script_off = await run_script(r, SCRIPT, script_sha(SCRIPT), [key], [])
    # the replies as the server sent them, either way (HGETALL: a flat list, no dict)
    assert off[1:] == on[1:] == [1, ["a", "1"], 2]
    assert script_off == script_on == ["a", "2"]
    await r.delete(key)
