"""Hostile input at the boundary: every shape gets a typed error on its field, never
INTERNAL (strings PostgreSQL cannot store, other scripts' digits, Global IDs out of
range or of unknown types, dates at the calendar's ends, non-ASCII secrets)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from app.models.users import Role
from app.services import auth
from tests.factories import make_merchant, make_user
from tests.helpers import token_for

HOSTILE_TEXT = ["a\x00b", "\x00", "\ud800", "x\udfffy"]
# Arabic-Indic, Devanagari, Thai: `\d` / isdigit accept them all (full-width
# digits are NFKC-normalised to ASCII: one spelling, app/services/auth.normalise_phone)
PHONES = ["١٣٥١١١١٢٢٢٢", "१३५११११२२२२", "๑๓๕๑๑๑๑๒๒๒๒"]
REGIONS = ["١١٠١٠١", "１１０１０１", "11010²"]
SECRETS = ["秘密", "é" * 32, "\ud800"]


_SURROGATES = re.compile("[\ud800-\udfff]")


def gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


AUTH = "... on AuthError { code field }"
MERCHANT = "... on MerchantError { code field }"


async def _post(client, query: str, variables: dict[str, Any], token: str | None = None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    headers["content-type"] = "application/json"
    # json.dumps writes a lone surrogate as its \\u escape, as a hostile client would
    body = json.dumps({"query": query, "variables": variables}).encode()
    resp = await client.post("/graphql", content=body, headers=headers)
    assert resp.status_code < 500, resp.text
    return resp.json()


def _typed(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """The code and field the answer refuses with, or None if it did not refuse."""
    for error in body.get("errors") or []:
        ext = error.get("extensions") or {}
        return ext.get("code"), ext.get("field")
    for value in (body.get("data") or {}).values():
        if isinstance(value, dict) and "code" in value:
            return value["code"], value.get("field")
    return None


@pytest.fixture
def sms():
    sender = auth.MemorySmsSender()
    auth.set_sms_sender(sender)
    yield sender
    auth.set_sms_sender(None)


async def test_hostile_inputs_are_typed_refusals(client, db, sms):
    owner = await make_user(Role.MERCHANT_OWNER)
    merchant = await make_merchant(owner)
    consumer = await make_user()
    admin = await make_user(Role.ADMIN)
    tokens = {
        "owner": await token_for(owner.id, "merchant_owner"),
        "consumer": await token_for(consumer.id, "consumer"),
        "admin": await token_for(admin.id, "admin"),
    }
    mid = gid(f"Merchant:{merchant.id}")
    apply = "mutation($i: ApplyMerchantInput!) { applyMerchant(input: $i) { " + MERCHANT + " } }"
    location = {"lat": "31.23", "lng": "121.47", "coordSystem": "GCJ02"}

    def applying(**change: Any) -> dict[str, Any]:
        return {
            "i": {
                "name": "Shop",
                "category": "food",
                "address": "1 Road",
                "location": location,
                "regionCode": "310101",
                **change,
            }
        }

    # (what, query, variables, token, the field it must be refused on)
    cases: list[tuple[str, str, dict[str, Any], str | None, str]] = []
    for text in HOSTILE_TEXT:
        login = "mutation($s: String!, $p: String!) { posDeviceLogin(serial: $s, secret: $p) { "
        cases += [
            ("serial", login + AUTH + " } }", {"s": text, "p": "x"}, None, "serial"),
            ("secret", login + AUTH + " } }", {"s": "x", "p": text}, None, "secret"),
            (
                "account",
                "query($n: String!) { account(name: $n) { asset } }",
                {"n": text},
                "admin",
                "name",
            ),
            ("name in input", apply, applying(name=text), "consumer", "name"),
            ("list/nested", apply, applying(location={**location, "lat": text}), "consumer", "lat"),
        ]
    # the same strings as literals in the document (escaped as GraphQL writes them)
    cases += [
        (
            "literal serial",
            'mutation { posDeviceLogin(serial: "a\\u0000", secret: "x") { ' + AUTH + " } }",
            {},
            None,
            "serial",
        ),
        (
            "literal in input",
            'mutation { applyMerchant(input: {name: "\\u0000", category: "f",'
            ' address: "", regionCode: "310101", location: {lat: "1", lng: "1"}}) { '
            + MERCHANT
            + " } }",
            {},
            "consumer",
            "name",
        ),
        (
            "block string",
            'mutation { bindMerchant(qr: """a\x00""") { ' + MERCHANT + " } }",
            {},
            "consumer",
            "qr",
        ),
    ]
    for phone in PHONES:
        cases.append(
            (
                "phone",
                "mutation($p: String!) { requestSmsCode(phone: $p) { " + AUTH + " } }",
                {"p": phone},
                None,
                "phone",
            )
        )
    for region in REGIONS:
        cases.append(("region", apply, applying(regionCode=region), "consumer", "regionCode"))
    for bad in ["Shop\u202egnp.exe", "Shop\x07", "Shop\u2066x"]:
        cases.append(("display name", apply, applying(name=bad), "consumer", "name"))
        cases.append(("address", apply, applying(address=bad), "consumer", "address"))
    for secret in SECRETS[:2]:
        cases.append(
            (
                "sms code",
                'mutation($c: String!) { loginWithSms(phone: "13511112222",'
                " code: $c) { " + AUTH + " } }",
                {"c": secret},
                None,
                "code",
            )
        )
        cases.append(
            (
                "qr signature",
                "mutation($q: String!) { bindMerchant(qr: $q) { " + MERCHANT + " } }",
                {"q": f"msp1.{merchant.id}.0.{secret}"},
                "consumer",
                "qr",
            )
        )
        cases.append(
            (
                "device secret",
                'mutation($p: String!) { posDeviceLogin(serial: "s", '
                "secret: $p) { " + AUTH + " } }",
                {"p": secret},
                None,
                "secret",
            )
        )
    for raw in [
        "Foo:1",
        f"Merchant:{2**63}",
        "Merchant:99999999999999999999999",
        "Merchant:0",
        "Merchant:-1",
        "Merchant:٣",
        "Merchant: 1",
        "Merchant:1_0",
        "Merchant:abc",
        "Query:1",
        "PageInfo:1",
    ]:
        cases.append(
            ("node id", "query($i: ID!) { node(id: $i) { id } }", {"i": gid(raw)}, "consumer", "id")
        )
        cases.append(
            (
                "merchant id",
                "query($i: ID!) { merchant(id: $i) { id } }",
                {"i": gid(raw)},
                "consumer",
                "id",
            )
        )
    stats = (
        "query($m: ID!, $f: Date!, $t: Date!) "
        "{ merchantStats(merchantId: $m, from: $f, to: $t) { dateFrom } }"
    )
    for f, t, field in [
        ("9999-12-31", "9999-12-31", "from"),
        ("0001-01-01", "0001-01-01", "from"),
        ("2026-01-01", "9999-12-31", "to"),
        ("2020-01-01", "2026-01-01", "to"),
    ]:
        cases.append(("date range", stats, {"m": mid, "f": f, "t": t}, "owner", field))
    agent = (
        'query($m: String!) { agentStatement(agentId: "'
        + gid("Agent:1")
        + '", month: $m) { month } }'
    )
    for month in ["9999-12", "٢٠٢٦-٠١", "2026-01\n"]:
        cases.append(("month", agent, {"m": month}, "admin", "month"))

    wrong = []
    for what, query, variables, who, field in cases:
        body = await _post(client, query, variables, tokens.get(who or ""))
        typed = _typed(body)
        if _SURROGATES.search(json.dumps(variables, ensure_ascii=False)):
            field = None  # refused whole: JSON text cannot hold a lone surrogate
        if typed is None or typed[0] == "INTERNAL" or typed[1] != field:
            wrong.append((what, variables, typed, body))
    print(
        f"inputs tried {len(cases)}, refused with a typed error {len(cases) - len(wrong)},"
        f" wrong {len(wrong)}"
    )
    assert not wrong, "\n".join(repr(w[:3]) for w in wrong)
    assert sms.sent == []  # no spelling of a phone number in other digits got a code


async def test_normal_names_are_normalised_not_refused(client, db):
    consumer = await make_user()
    token = await token_for(consumer.id, "consumer")
    query = (
        "mutation($i: ApplyMerchantInput!) { applyMerchant(input: $i) { "
        "... on MerchantSuccess { merchant { name address regionCode } } "
        "... on MerchantError { code field } } }"
    )
    variables = {
        "i": {
            "name": "  Ｃａｆé 咖啡 ",
            "category": "food",
            "address": "南京路１号",
            "location": {"lat": "31.23", "lng": "121.47"},
            "regionCode": " 310101 ",
        }
    }
    body = await _post(client, query, variables, token)
    assert body["data"]["applyMerchant"]["merchant"] == {
        "name": "Café 咖啡",
        "address": "南京路1号",
        "regionCode": "310101",
    }
