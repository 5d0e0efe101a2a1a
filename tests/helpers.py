"""Small helpers shared by API tests."""

from __future__ import annotations

from typing import Any

import httpx


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    expect_errors: bool = False,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = resp.json()
    if not expect_errors:
        assert resp.status_code == 200, body
        assert not body.get("errors"), body
    return body


async def token_for(subject: int, role: str) -> str:
    from app.domain.tokens import issue_pair

    return (await issue_pair(subject, role)).access_token
