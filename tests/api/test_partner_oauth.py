"""`POST /oauth/token`: the client-credentials grant and every error RFC 6749 §5.2 names,
and the admin's create / rotate / revoke of partner apps as the token endpoint sees them."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import jwt
import pytest
from strawberry.relay import GlobalID

from app.domain import partners
from app.infra.config import get_settings
from app.models.partners import PartnerApp
from app.models.users import Role
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

FORM = {"content-type": "application/x-www-form-urlencoded"}

CREATE = """mutation($n: String!, $s: [String!]!, $m: [ID!], $r: [String!]) {
  createPartnerApp(name: $n, scopes: $s, merchantIds: $m, regionCodes: $r) {
    __typename
    ... on PartnerAppCreated { clientId clientSecret app { id name scopes regionCodes active } }
    ... on PartnerError { code field message } } }"""
ROTATE = """mutation($a: ID!, $g: Int!) { rotatePartnerSecret(appId: $a, graceSeconds: $g) {
  __typename ... on PartnerSecretRotated { clientSecret app { previousSecretExpiresAt } }
  ... on PartnerError { code field } } }"""
REVOKE = """mutation($a: ID!, $r: String!) { revokePartnerApp(appId: $a, reason: $r) {
  __typename ... on PartnerAppRevoked { app { active revokedReason } }
  ... on PartnerError { code field } } }"""
APPS = "{ partnerApps { totalCount edges { node { name clientId scopes active } } } }"
MERCHANT = "query($i: ID!) { merchant(id: $i) { id name } }"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


async def ask(client, data: str | dict | None, headers: dict | None = None, *, form: bool = True):
    h = {**(FORM if form else {}), **(headers or {})}
    body = (
        data
        if isinstance(data, str)
        else "&".join(f"{k}={quote_plus(v)}" for k, v in (data or {}).items())
    )
    return await client.post("/oauth/token", content=body.encode(), headers=h)


async def make_app(scopes=("read:merchants",), **kw) -> tuple[PartnerApp, str]:
    issued = await partners.create_app(kw.pop("name", "Acme"), scopes, **kw)
    return issued.app, issued.secret


async def test_a_client_gets_a_short_lived_partner_token_with_basic(client, settings):
    store = await make_merchant()
    app, secret = await make_app(("read:merchants", "read:orders"), merchant_ids=[store.id])
    resp = await ask(client, {"grant_type": "client_credentials"}, basic(app.client_id, secret))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert resp.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.partner_token_ttl_s
    assert body["scope"] == "read:merchants read:orders"
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["knd"], claims["sub"], claims["typ"]) == ("partner", str(app.id), "access")
    assert claims["exp"] - claims["iat"] == settings.partner_token_ttl_s
    # and the token reads as the partner app
    res = await gql(
        client, MERCHANT, {"i": str(GlobalID("Merchant", str(store.id)))}, body["access_token"]
    )
    assert res["data"]["merchant"]["name"] == store.name


async def test_client_secret_post_and_a_narrower_scope(client):
    app, secret = await make_app(("read:merchants", "read:orders", "read:stats"))
    resp = await ask(
        client,
        {"grant_type": "client_credentials", "client_id": app.client_id,
         "client_secret": secret, "scope": "read:stats read:merchants"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "read:merchants read:stats"


@pytest.mark.parametrize(
    ("body", "headers", "form", "error"),
    [
        # no grant_type at all
        ({"client_id": "x"}, None, True, "invalid_request"),
        # not form-encoded
        ('{"grant_type": "client_credentials"}', None, False, "invalid_request"),
        # a parameter twice
        ("grant_type=client_credentials&grant_type=client_credentials", None, True,
         "invalid_request"),
        # malformed form
        ("grant_type=client_credentials&&=", None, True, "invalid_request"),
        # a grant this server does not offer
        ({"grant_type": "password", "username": "a", "password": "b"}, None, True,
         "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "c"}, None, True, "unsupported_grant_type"),
    ],
)  # fmt: skip
async def test_malformed_requests(client, body, headers, form, error):
    resp = await ask(client, body, headers, form=form)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json()["error_description"].isascii()


async def test_two_ways_of_authenticating_at_once_is_invalid_request(client):
    app, secret = await make_app()
    data = {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": secret}
    resp = await ask(client, data, basic(app.client_id, secret))
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")


async def test_invalid_client_is_401_with_a_basic_challenge(client):
    app, secret = await make_app()
    grant = {"grant_type": "client_credentials"}
    cases = [
        (grant, basic(app.client_id, secret + "x")),  # wrong secret, Basic
        (grant, basic("pa_nobody", secret)),  # unknown client, Basic
        (grant, {"authorization": "Basic !!notbase64"}),  # malformed Basic
        (grant, {"authorization": "Basic " + base64.b64encode(b"nocolon").decode()}),
        ({**grant, "client_id": app.client_id, "client_secret": "wrong"}, None),  # post
        ({**grant, "client_id": app.client_id}, None),  # no secret
        (grant, None),  # no client authentication at all
    ]
    for data, headers in cases:
        resp = await ask(client, data, headers)
        assert resp.status_code == 401, (data, headers, resp.text)
        assert resp.json()["error"] == "invalid_client"
        assert resp.headers["www-authenticate"].startswith("Basic")
        assert resp.headers["cache-control"] == "no-store"


async def test_invalid_scope(client):
    app, secret = await make_app(("read:merchants",))
    auth = basic(app.client_id, secret)
    for scope in (
        "read:orders",
        "read:merchants read:orders",
        "nonsense",
        "read:merchants  read:merchants",
    ):
        resp = await ask(client, {"grant_type": "client_credentials", "scope": scope}, auth)
        assert (resp.status_code, resp.json()["error"]) == (400, "invalid_scope"), scope


async def test_a_revoked_client_is_unauthorized_and_its_tokens_stop(client):
    admin = await make_user(Role.ADMIN)
    app, secret = await make_app()
    auth = basic(app.client_id, secret)
    token = (await ask(client, {"grant_type": "client_credentials"}, auth)).json()["access_token"]
    assert (await gql(client, "{ merchants { totalCount } }", token=token))["data"]
    res = await gql(
        client, REVOKE, {"a": str(GlobalID("PartnerApp", str(app.id))), "r": "contract ended"},
        await token_for(admin.id),
    )  # fmt: skip
    assert res["data"]["revokePartnerApp"]["app"] == {
        "active": False,
        "revokedReason": "contract ended",
    }
    resp = await ask(client, {"grant_type": "client_credentials"}, auth)
    assert (resp.status_code, resp.json()["error"]) == (400, "unauthorized_client")
    # the token it had is refused on its next request
    body = await gql(client, "{ merchants { totalCount } }", token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
    # a wrong secret for the revoked app is still only invalid_client
    resp = await ask(client, {"grant_type": "client_credentials"}, basic(app.client_id, "x"))
    assert resp.json()["error"] == "invalid_client"


async def test_a_rotated_secret_works_for_its_grace_period_only(client):
    admin = await token_for((await make_user(Role.ADMIN)).id)
    app, old = await make_app()
    gid = str(GlobalID("PartnerApp", str(app.id)))
    res = (await gql(client, ROTATE, {"a": gid, "g": 3600}, admin))["data"]["rotatePartnerSecret"]
    new = res["clientSecret"]
    assert res["app"]["previousSecretExpiresAt"] is not None
    grant = {"grant_type": "client_credentials"}
    for secret in (old, new):
        resp = await ask(client, grant, basic(app.client_id, secret))
        assert resp.status_code == 200, resp.text
    # rotating again with no grace: only the newest works
    newest = (await gql(client, ROTATE, {"a": gid, "g": 0}, admin))["data"]["rotatePartnerSecret"]
    for secret, status in ((old, 401), (new, 401), (newest["clientSecret"], 200)):
        assert (await ask(client, grant, basic(app.client_id, secret))).status_code == status
    # a grace period past its end: the old secret is refused
    third = (await gql(client, ROTATE, {"a": gid, "g": 60}, admin))["data"]["rotatePartnerSecret"]
    await PartnerApp.filter(id=app.id).update(previous_secret_expires_at=app.created_at)
    assert (
        await ask(client, grant, basic(app.client_id, newest["clientSecret"]))
    ).status_code == 401
    assert (
        await ask(client, grant, basic(app.client_id, third["clientSecret"]))
    ).status_code == 200
    bad = (await gql(client, ROTATE, {"a": gid, "g": -1}, admin))["data"]["rotatePartnerSecret"]
    assert bad == {"__typename": "PartnerError", "code": "INVALID", "field": "graceSeconds"}


async def test_the_secret_is_stored_as_a_salted_scrypt_hash(db):
    a, secret_a = await make_app(name="A")
    b, _ = await make_app(name="B")
    assert secret_a not in a.secret_hash
    scheme, n, r, p, salt, digest = a.secret_hash.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**14, 8, 1)
    assert salt != b.secret_hash.split("$")[4]
    assert await partners.secret_matches(secret_a, a.secret_hash)
    assert not await partners.secret_matches(secret_a + "!", a.secret_hash)


async def test_token_requests_are_rate_limited_per_client(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "rate_oauth_token_per_client", 3)
    app, _secret = await make_app()
    auth = basic(app.client_id, "wrong")
    for _ in range(3):
        assert (await ask(client, {"grant_type": "client_credentials"}, auth)).status_code == 401
    resp = await ask(client, {"grant_type": "client_credentials"}, auth)
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.json()["error"] == "rate_limited"


async def test_only_post_is_taken(client):
    resp = await client.get("/oauth/token")
    assert resp.status_code == 405


async def test_admin_creates_and_lists_apps_with_validated_scopes_and_regions(client):
    admin = await token_for((await make_user(Role.ADMIN)).id)
    store = await make_merchant()
    mid = str(GlobalID("Merchant", str(store.id)))
    res = await gql(
        client, CREATE,
        {"n": "Chain Co", "s": ["read:orders", "read:merchants"], "m": [mid], "r": ["310100"]},
        admin,
    )  # fmt: skip
    created = res["data"]["createPartnerApp"]
    assert created["__typename"] == "PartnerAppCreated"
    assert created["clientSecret"].startswith("pas_") and created["clientId"].startswith("pa_")
    assert created["app"]["scopes"] == ["read:merchants", "read:orders"]
    assert created["app"]["regionCodes"] == ["310100"]
    listed = (await gql(client, APPS, token=admin))["data"]["partnerApps"]
    assert listed["totalCount"] == 1
    assert "clientSecret" not in listed["edges"][0]["node"]
    # a repeat of the same create makes no second app
    again = (await gql(client, CREATE, {"n": "Chain Co", "s": ["read:orders"]}, admin))["data"]
    assert again["createPartnerApp"]["code"] == "NAME_TAKEN"
    for variables, field in [
        ({"n": "X", "s": ["read:everything"]}, "scopes"),
        ({"n": "X", "s": []}, "scopes"),
        ({"n": "X", "s": ["read:orders"], "r": ["31010"]}, "regionCodes"),
        ({"n": "X", "s": ["read:orders"], "m": [str(GlobalID("Merchant", "999"))]}, "merchantIds"),
        ({"n": " ", "s": ["read:orders"]}, "name"),
    ]:
        err = (await gql(client, CREATE, variables, admin))["data"]["createPartnerApp"]
        assert (err["__typename"], err["field"]) == ("PartnerError", field), (variables, err)
    # only admins
    user = await token_for((await make_user()).id)
    body = await gql(client, APPS, token=user, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
