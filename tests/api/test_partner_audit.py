"""The partner read audit: one row per partner request (operation, document hash, cost,
when), queryable by admins, never costing a partner its answer, pruned after its
retention period by the worker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from strawberry.relay import GlobalID
from tortoise import connections

from app.domain import partners
from app.domain.partners import SCOPES
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from app.infra.config import get_settings
from app.models.partners import PartnerReadAudit
from app.models.users import Role
from app.services import read_audit
from app.worker import prune_partner_reads
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

LIST = "query List { merchants(first: 5) { edges { node { id } } } }"
AUDIT = """query($a: ID!, $after: String) { partnerReadAudit(appId: $a, first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { operationName operationType documentSha256 requestedCost actualCost
                 throttled requestId at } } } }"""


async def _partner(name: str = "Audited", capacity: int | None = None):
    await make_merchant(region_code="310101")
    # one point a second: the bucket must not refill between this test's requests however
    # slowly the machine serves them (the default 50/s did, on a loaded machine)
    app = (
        await partners.create_app(
            name, SCOPES, region_codes=["310000"], cost_capacity=capacity, cost_restore_rate=1
        )
    ).app
    return app, issue_access(app.id, Kind.PARTNER, scopes=SCOPES, ttl_s=600)


async def test_each_partner_request_leaves_one_row_admins_can_read(client):
    app, token = await _partner(capacity=20)
    other, other_token = await _partner("Other")
    await gql(client, LIST, token=token)
    await gql(client, "{ merchants(first: 1) { totalCount } }", token=token)
    throttled = await gql(client, LIST, token=token, expect_errors=True)  # 20 - 7 - ... < 16
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    await gql(client, LIST, token=other_token)
    await read_audit.drain()
    assert await PartnerReadAudit.filter(app_id=app.id).count() == 3
    assert await PartnerReadAudit.filter(app_id=other.id).count() == 1

    admin = await token_for((await make_user(Role.ADMIN)).id)
    gid = str(GlobalID("PartnerApp", str(app.id)))
    page = (await gql(client, AUDIT, {"a": gid}, admin))["data"]["partnerReadAudit"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    newest, middle = (e["node"] for e in page["edges"])
    assert newest["throttled"] and newest["actualCost"] is None
    assert newest["operationName"] == "List" and newest["operationType"] == "query"
    assert newest["documentSha256"] == hashlib.sha256(LIST.encode()).hexdigest()
    assert newest["requestedCost"] == 16
    assert middle["operationName"] is None and not middle["throttled"]
    assert middle["actualCost"] <= middle["requestedCost"]
    rest = await gql(client, AUDIT, {"a": gid, "after": page["pageInfo"]["endCursor"]}, admin)
    first = rest["data"]["partnerReadAudit"]["edges"][0]["node"]
    assert (first["operationName"], first["requestedCost"], first["actualCost"]) == ("List", 16, 7)
    # admins only: a partner cannot read the audit, even its own
    body = await gql(client, AUDIT, {"a": gid}, other_token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_an_audit_that_cannot_be_written_never_costs_the_answer(client):
    app, token = await _partner()
    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE partner_read_audit RENAME TO partner_read_audit_away")
    try:
        body = await gql(client, LIST, token=token)
        assert body["data"]["merchants"]["edges"]
        await read_audit.drain()  # the write fails, logged, and is given up
    finally:
        await conn.execute_script(
            "ALTER TABLE partner_read_audit_away RENAME TO partner_read_audit"
        )
    await gql(client, LIST, token=token)
    await read_audit.drain()
    assert await PartnerReadAudit.filter(app_id=app.id).count() == 1


async def test_rows_past_the_retention_period_are_pruned(db):
    keep = get_settings().partner_read_audit_keep_days
    now = datetime.now(UTC)
    for days in (keep + 30, keep + 1, keep - 1, 0):
        await PartnerReadAudit.create(
            app_id=1, requested_cost=1, actual_cost=1, request_id="r",
            at=now - timedelta(days=days),
        )  # fmt: skip
    assert await prune_partner_reads({}) == 2
    ages = sorted((now - r.at).days for r in await PartnerReadAudit.all())
    assert ages == [0, keep - 1]
