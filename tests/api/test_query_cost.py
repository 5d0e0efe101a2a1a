"""One cost rule for documents: refused above the limit, fast however large the expansion."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx

from app.api.graphql.core.context import Context
from app.api.graphql.core.cost import query_cost
from app.api.graphql.schema import schema
from app.models.users import User
from tests.fakes.server import free_port
from tests.helpers import token_for

ORDER_PAGE = "myOrders(first: {n}) {{ edges {{ node {{ id amountFen status }} }} }}"


def doubling(levels: int, name: str = "F") -> str:
    """Under 1.3 KB: each fragment spreads the next twice, 2^levels leaves."""
    parts = [f"query {{ ...{name}0 }}"]
    parts += [
        f"fragment {name}{i} on Query {{ ...{name}{i + 1} ...{name}{i + 1} }}"
        for i in range(levels)
    ]
    parts.append(f"fragment {name}{levels} on Query {{ __typename }}")
    return "\n".join(parts)


async def test_fragment_doubling_is_refused_fast(client, settings):
    await client.post("/graphql", json={"query": "{ __typename }"})  # the app's first call
    started = time.perf_counter()
    resp = await client.post("/graphql", json={"query": doubling(30)})
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"30-level fragment doubling refused in {elapsed_ms:.2f} ms")
    assert resp.status_code == 200
    (error,) = resp.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 2**30 + 0  # every leaf counted, once per path
    assert error["extensions"]["limit"] == settings.max_query_cost
    assert elapsed_ms < 50


async def test_aliases_of_a_paged_field_are_costed(client, db):
    user = await User.create(phone="13511112222")
    token = await token_for(user.id, "consumer")
    headers = {"authorization": f"Bearer {token}"}
    one = "{ " + ORDER_PAGE.format(n=100) + " }"
    resp = await client.post("/graphql", json={"query": one}, headers=headers)
    assert resp.json() == {"data": {"myOrders": {"edges": []}}}
    fan_out = "{ " + " ".join(f"a{i}: " + ORDER_PAGE.format(n=100) for i in range(30)) + " }"
    resp = await client.post("/graphql", json={"query": fan_out}, headers=headers)
    (error,) = resp.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 30 * (1 + 100 * (1 + 1 + 3))


async def test_page_variables_decide_the_cost(client, db):
    fan_out = "query($n: Int) { " + " ".join(
        f"a{i}: myOrders(first: $n) {{ edges {{ node {{ id amountFen status }} }} }}"
        for i in range(30)
    )
    query = fan_out + " }"
    small = await client.post("/graphql", json={"query": query, "variables": {"n": 2}})
    assert all(
        e["extensions"]["code"] != "QUERY_TOO_COMPLEX" for e in small.json().get("errors", [])
    )
    for variables in ({"n": 100}, {}, {"n": None}, {"n": "2"}, {"n": 10**6}):
        big = await client.post("/graphql", json={"query": query, "variables": variables})
        (error,) = big.json()["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", variables


async def test_depth_counts_through_fragments(client, settings):
    levels = settings.max_query_depth + 1
    chain = [f"fragment D{i} on User {{ x{i}: me {{ ...D{i + 1} }} }}" for i in range(levels)]
    query = "{ me { ...D0 } } " + " ".join(chain) + f" fragment D{levels} on User {{ id }}"
    (error,) = (await client.post("/graphql", json={"query": query})).json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["depth"] > settings.max_query_depth


async def test_fragment_cycles_answer_a_validation_error(client):
    query = "{ ...A } fragment A on Query { ...B } fragment B on Query { me { id } ...A }"
    errors = (await client.post("/graphql", json={"query": query})).json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}


async def test_many_fields_of_one_name_validate_in_linear_time(client, db):
    user = await User.create(phone="13511112222")
    headers = {"authorization": f"Bearer {await token_for(user.id, 'consumer')}"}
    # graphql-core's own merge rule compares every pair: seconds for this document
    same = "{ " + " ".join("me { role }" for _ in range(450)) + " }"
    await client.post("/graphql", json={"query": "{ __typename }"})
    started = time.perf_counter()
    resp = await client.post("/graphql", json={"query": same}, headers=headers)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert resp.json() == {"data": {"me": {"role": "CONSUMER"}}}
    assert elapsed_ms < 500, elapsed_ms
    conflicting = same[:-1] + " me { role: id } }"
    (error,) = (await client.post("/graphql", json={"query": conflicting})).json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["locations"][-1]["column"] > len(same) - 20  # the field that differs


async def test_fields_that_cannot_merge_are_still_refused(client):
    for query in [
        "{ a: me { id } a: wallet { __typename } }",
        '{ node(id: "x") { ... on Merchant { x: name } ... on Order { x: amountFen } } }',
        "{ myOrders(first: 1) { totalCount } myOrders(first: 2) { totalCount } }",
        "{ ...G ...H } fragment G on Query { me { x: id } } fragment H on Query { me { x: role } }",
    ]:
        errors = (await client.post("/graphql", json={"query": query})).json()["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["GRAPHQL_VALIDATION_FAILED"], query


async def test_the_cost_is_kept_on_the_context(db):
    context = Context(request=None, request_id="cost")
    result = await schema.execute(
        "query($n: Int) { myOrders(first: $n) { edges { node { id } } } __typename }",
        variable_values={"n": 7},
        context_value=context,
    )
    assert result.errors  # not signed in; the cost is measured all the same
    measured = query_cost(context)
    assert measured is not None
    assert (measured.cost, measured.depth) == (1 + 7 * (1 + 1 + 1) + 1, 3)


async def test_healthz_answers_while_costly_documents_arrive(db):
    """A real server; the requests are written on raw keep-alive connections, so what is
    timed is the server, not this process's HTTP client."""
    port = free_port()
    env = {**os.environ, "APP_ENV": "test", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a server in its own process, on purpose
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for _ in range(100):
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            await c.post("/graphql", json={"query": "{ __typename }"})
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(9)]
        timings = []
        for round_ in range(3):  # a fresh document each round: not yet known to the server
            post = _post(port, doubling(30, name=f"R{round_}F"))
            for _, writer in connections[:-1]:
                writer.write(post)
            reader, writer = connections[-1]
            started = time.perf_counter()
            writer.write(f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
            health = await asyncio.wait_for(_response(reader), 10)
            timings.append((time.perf_counter() - started) * 1000)
            assert health.endswith(b"ok")
            answers = [await asyncio.wait_for(_response(r), 10) for r, _ in connections[:-1]]
            assert all(b"QUERY_TOO_COMPLEX" in answer for answer in answers)
        figures = ", ".join(f"{t:.2f} ms" for t in timings)
        print(f"/healthz with 8 costly documents arriving: {figures}")
        assert sorted(timings)[1] < 50  # the median of three rounds (the machine is shared)
        for _, writer in connections:
            writer.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _post(port: int, query: str) -> bytes:
    body = json.dumps({"query": query}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)
