"""What the HTTP layer answers a body that is no GraphQL request: JSON with a code, a 4xx."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from tests.fakes.server import free_port

NOT_OBJECTS = [b"[]", b'[{"query": "{ __typename }"}]', b"1", b"-2.5", b'"{ __typename }"', b"null"]
NOT_JSON = [b"{not json", b"", b"\xff\xfe{}", b'{"query": "{ __typename }"', b"NaN"]
JSON = {"content-type": "application/json"}


def _code(resp) -> str:  # type: ignore[no-untyped-def]
    assert resp.headers["content-type"] == "application/json", resp.text
    (error,) = resp.json()["errors"]
    return str(error["extensions"]["code"])


@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_a_body_that_is_not_an_object_is_a_typed_400(client, body):
    resp = await client.post("/graphql", content=body, headers=JSON)
    assert resp.status_code == 400
    assert _code(resp) == "BODY_NOT_OBJECT"


@pytest.mark.parametrize("body", NOT_JSON)
async def test_malformed_json_is_a_typed_400(client, body):
    resp = await client.post("/graphql", content=body, headers=JSON)
    assert resp.status_code == 400
    assert _code(resp) == "BODY_NOT_JSON"


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    [
        ("POST", "/graphql", b'{"query": 5}', JSON),
        ("POST", "/graphql", b'{"query": "{ __typename }", "variables": [1]}', JSON),
        ("POST", "/graphql", b'{"query": "{ __typename }", "operationName": 7}', JSON),
        ("POST", "/graphql", b"query=x", {"content-type": "application/x-www-form-urlencoded"}),
        ("POST", "/graphql", b"{ __typename }", {"content-type": "text/plain"}),
        ("GET", "/graphql?query=mutation%7Blogout%7D", b"", {}),
        ("GET", "/graphql?query=%7B__typename%7D&variables=%5B1", b"", {}),
    ],
)
async def test_the_views_refusals_are_json_with_a_code(client, method, url, body, headers):
    resp = await client.request(method, url, content=body, headers=headers)
    assert 400 <= resp.status_code < 500
    assert _code(resp) == "BAD_REQUEST"


@pytest.fixture
async def server(db) -> AsyncIterator[int]:
    port = free_port()
    env = {**os.environ, "APP_ENV": "test", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a server in its own process, on purpose
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _chunked(port: int, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """A POST with Transfer-Encoding: chunked (no Content-Length) on a raw connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    writer.write(head.encode())
    answered = b""
    for chunk in [*chunks, b""]:  # (the empty chunk ends the body)
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        # a server that refuses stops reading: wait for its answer before sending more
        # (more bytes it never reads would make its close a reset that loses the answer)
        try:
            answered = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.05)
            break
        except TimeoutError:
            continue
    response = answered + await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("path", ["/graphql", "/pay/notify/wechatpay"])
async def test_a_chunked_body_over_the_limit_is_a_typed_413(server, settings, path):
    chunk = b" " * 8192
    n = settings.max_body_bytes // len(chunk) + 2
    status, body = await _chunked(server, path, [b'{"query": "{ __typename }"', *[chunk] * n, b"}"])
    assert status == 413
    assert b'"code":"BODY_TOO_LARGE"' in body


async def test_a_chunked_body_within_the_limit_is_answered(server):
    status, body = await _chunked(server, "/graphql", [b'{"query": ', b'"{ __typename }"}'])
    assert status == 200
    assert b'{"data":{"__typename":"Query"}}' in body
