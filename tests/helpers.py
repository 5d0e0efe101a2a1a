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


async def token_for(subject: int, role: str = "") -> str:
    """An access token for a user (a device when `role` is "pos_device"). What a user may
    do comes from the database on each request, not from `role`: it only names the kind."""
    from app.domain.principals import Kind
    from app.domain.tokens import issue_pair

    kind = Kind.DEVICE if role == "pos_device" else Kind.USER
    return (await issue_pair(subject, kind)).access_token
