"""The store's bind QR (扫码锁客) carries an expiry (`BIND_QR_TTL_S`): a scan after it is
refused; a QR made before QRs carried one is accepted only during the transition the
operator sets (`BIND_QR_LEGACY_UNTIL`)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest
from strawberry.relay import GlobalID

from app.domain import merchants
from app.infra.config import get_settings
from app.infra.errors import DomainError
from app.models.merchants import ConsumerBinding
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

SHOW = """mutation($m: ID!) { merchantBindQr(merchantId: $m) { __typename
  ... on BindQr { payload expiresAt } } }"""
BIND = """mutation($q: String!) { bindMerchant(qr: $q) { __typename
  ... on BindSuccess { merchant { name } } ... on MerchantError { code field } } }"""


def _legacy_qr(merchant_id: int) -> str:
    """A bind QR as the platform printed them before they carried an expiry."""
    key = get_settings().jwt_secret.encode()
    sig = hmac.new(key, f"bind:{merchant_id}:0".encode(), hashlib.sha256).hexdigest()[:32]
    return f"msp1.{merchant_id}.0.{sig}"


@pytest.fixture
def legacy_until(monkeypatch):
    """Sets the transition's last day (exclusive) on the process's settings."""

    def set_(day: date | None) -> None:
        monkeypatch.setattr(get_settings(), "bind_qr_legacy_until", day)

    return set_


async def test_the_bind_qr_shows_its_expiry_and_binds_before_it(client, db):
    store = await make_merchant()
    owner = await token_for(store.owner_id, "merchant_owner")
    before = datetime.now(UTC)
    shown = (await gql(client, SHOW, {"m": str(GlobalID("Merchant", str(store.id)))}, owner))[
        "data"
    ]["merchantBindQr"]
    expires = datetime.fromisoformat(shown["expiresAt"])
    ttl = timedelta(seconds=get_settings().bind_qr_ttl_s)
    assert before + ttl - timedelta(seconds=2) <= expires <= datetime.now(UTC) + ttl
    consumer = await token_for((await make_user()).id)
    bound = (await gql(client, BIND, {"q": shown["payload"]}, consumer))["data"]["bindMerchant"]
    assert bound["__typename"] == "BindSuccess"


async def test_a_bind_qr_past_its_expiry_is_refused(client, db):
    store = await make_merchant()
    consumer = await make_user()
    stale = merchants.bind_qr(
        store.id, now=datetime.now(UTC) - timedelta(seconds=get_settings().bind_qr_ttl_s + 1)
    )
    refused = (await gql(client, BIND, {"q": stale.payload}, await token_for(consumer.id)))["data"][
        "bindMerchant"
    ]
    assert refused == {"__typename": "MerchantError", "code": "QR_EXPIRED", "field": "qr"}
    assert not await ConsumerBinding.exists(consumer_id=consumer.id)
    # its expiry is signed: moving it forward breaks the signature
    tag, mid, did, exp, sig = stale.payload.split(".")
    moved = f"{tag}.{mid}.{did}.{int(exp) + 86_400}.{sig}"
    refused = (await gql(client, BIND, {"q": moved}, await token_for(consumer.id)))["data"]
    assert refused["bindMerchant"]["code"] == "QR_INVALID"


async def test_a_qr_without_expiry_binds_only_during_the_transition(db, legacy_until):
    store = await make_merchant()
    old = _legacy_qr(store.id)
    # by default such a QR is refused
    legacy_until(None)
    with pytest.raises(DomainError) as refused:
        await merchants.bind_by_qr((await make_user()).id, old)
    assert refused.value.code == "QR_EXPIRED"
    # during the transition it binds; from its last day on, it is refused
    legacy_until(date(2030, 1, 1))
    day_before = datetime(2029, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    binding = await merchants.bind_by_qr((await make_user()).id, old, now=day_before)
    assert binding.merchant_id == store.id
    with pytest.raises(DomainError) as late:
        await merchants.bind_by_qr(
            (await make_user()).id, old, now=day_before + timedelta(minutes=1)
        )
    assert late.value.code == "QR_EXPIRED"
