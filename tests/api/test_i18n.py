"""A person reads the answer in Chinese unless the request asks for English; the code
and the field are the same in both (app/infra/i18n.py)."""

from __future__ import annotations

from typing import Any

import httpx

from app.api.graphql.core.ids import encode_id
from app.infra.i18n import language_of
from tests.factories import make_user
from tests.helpers import token_for

EN = {"accept-language": "en"}

CREATE_ORDER = """mutation($i: CreateOrderInput!) { createOrder(input: $i) {
  __typename ... on OrderError { code field message } } }"""


async def ask(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    all_headers = {**(headers or {})}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    resp = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_a_typed_error_is_chinese_by_default_and_english_when_asked(client):
    token = await token_for((await make_user()).id, "consumer")
    # an Order's ID where a Merchant's is expected: a message with values in it
    order_id = str(encode_id("Order", 1))
    variables = {"i": {"merchantId": order_id, "amountFen": 100, "idempotencyKey": "k"}}
    zh = (await ask(client, CREATE_ORDER, variables, token))["data"]["createOrder"]
    en = (await ask(client, CREATE_ORDER, variables, token, EN))["data"]["createOrder"]
    assert zh == {
        "__typename": "OrderError",
        "code": "INVALID",
        "field": "merchantId",
        "message": "需要商户 ID，传入的是订单 ID",
    }
    assert en == {**zh, "message": "expected a Merchant ID, got a Order ID"}


async def test_a_top_level_error_is_chinese_by_default_and_english_when_asked(client):
    query = "{ wallet { vouchersFen } }"
    zh = (await ask(client, query))["errors"][0]
    en = (await ask(client, query, headers={"accept-language": "en-US,en;q=0.9,zh;q=0.8"}))[
        "errors"
    ][0]
    assert zh["message"] == "请先登录" and en["message"] == "sign in first"
    assert zh["extensions"] == en["extensions"] == {"code": "UNAUTHENTICATED", "field": None}

    token = await token_for((await make_user()).id, "consumer")
    query = 'query { order(id: "not-an-id") { id } }'
    zh = (await ask(client, query, token=token))["errors"][0]
    en = (await ask(client, query, token=token, headers=EN))["errors"][0]
    assert (zh["message"], en["message"]) == ("ID 无效", "not a valid ID")
    assert zh["extensions"] == en["extensions"] == {"code": "INVALID", "field": "id"}


async def test_graphqls_own_errors_are_summed_up_in_chinese_detailed_in_english(client):
    zh = (await ask(client, "{ nosuchfield }"))["errors"][0]
    en = (await ask(client, "{ nosuchfield }", headers=EN))["errors"][0]
    assert zh["message"] == "GraphQL 查询与接口定义不符"
    assert "nosuchfield" in en["message"]
    assert zh["extensions"] == en["extensions"]
    assert zh["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    bad = {"i": {"merchantId": "x", "amountFen": "lots", "idempotencyKey": "k"}}
    zh = (await ask(client, CREATE_ORDER, bad))["errors"][0]
    en = (await ask(client, CREATE_ORDER, bad, headers=EN))["errors"][0]
    assert zh["message"] == "参数 amountFen 的值无效"
    assert "lots" in en["message"]
    assert zh["extensions"] == en["extensions"] == {"code": "INVALID", "field": "amountFen"}


async def test_every_request_takes_its_own_language(client):
    """One request asking for English leaves the next, asking nothing, in Chinese."""
    assert (await ask(client, "{ wallet { vouchersFen } }", headers=EN))["errors"][0][
        "message"
    ] == "sign in first"
    assert (await ask(client, "{ wallet { vouchersFen } }"))["errors"][0]["message"] == "请先登录"


async def test_json_errors_outside_graphql_follow_the_language(client, settings):
    big = "{ __typename }" + " " * (settings.max_body_bytes + 10)
    zh = await client.post("/graphql", json={"query": big})
    en = await client.post("/graphql", json={"query": big}, headers=EN)
    assert zh.status_code == en.status_code == 413
    limit = settings.max_body_bytes
    assert zh.json()["errors"][0]["message"] == f"请求体超过 {limit} 字节的上限"
    assert en.json()["errors"][0]["message"] == f"request body exceeds {limit} bytes"
    assert zh.json()["errors"][0]["extensions"] == en.json()["errors"][0]["extensions"]

    zh = await client.post("/pay/notify/paypal", content=b"x=1")
    en = await client.post("/pay/notify/paypal", content=b"x=1", headers=EN)
    assert zh.status_code == en.status_code == 404
    assert zh.json() == {"code": "UNKNOWN_CHANNEL", "message": "未知的支付渠道"}
    assert en.json() == {"code": "UNKNOWN_CHANNEL", "message": "unknown channel"}


def test_the_header_says_english_only_when_it_prefers_english():
    cases = {
        None: "zh",
        "": "zh",
        "*": "zh",
        "fr-FR": "zh",
        "en": "en",
        "EN-gb": "en",
        "en-US,en;q=0.9": "en",
        "fr, en;q=0.5": "en",
        "zh-CN,zh;q=0.9,en;q=0.8": "zh",
        "en;q=0.5, zh;q=0.6": "zh",
        "zh;q=0.5, en;q=0.6": "en",
        "en, zh": "en",  # a tie: the first listed
        "zh, en": "zh",
        "en;q=0": "zh",  # q=0: not acceptable
        "en;q=oops": "zh",
    }
    assert {header: language_of(header) for header in cases} == cases
