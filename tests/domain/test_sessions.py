"""A subject's state per request: served from Redis while nothing changed, read again
from the database after every change the product makes (real PostgreSQL and Redis)."""

from __future__ import annotations

import jwt
import pytest

from app.domain import merchants, partners, sessions, tokens, users
from app.domain.principals import DevicePrincipal, Kind, UserPrincipal
from app.infra.errors import DomainError
from app.infra.redis import get_redis
from app.models.merchants import PosDevice
from app.models.users import Role, User
from tests.factories import make_merchant, make_user


async def _principal(token: str):
    return await tokens.authenticate(token)


async def test_the_state_is_served_from_redis_until_a_change_bumps_it(db):
    user = await make_user()
    token = (await tokens.issue_pair(user.id, Kind.USER)).access_token
    assert await _principal(token) == UserPrincipal(user.id, Role.CONSUMER, _family(token))
    # a write that bypasses the product's paths is not seen: the request did not read
    # the database, it was served the cached state
    await User.filter(id=user.id).update(role=Role.AGENT)
    assert (await _principal(token)).role == Role.CONSUMER  # type: ignore[union-attr]
    # the product's paths bump the version: seen on the next request
    await users.set_role(user.id, Role.ADMIN)
    assert (await _principal(token)).role == Role.ADMIN  # type: ignore[union-attr]


async def test_a_reload_that_lost_a_race_with_a_change_is_not_served(db):
    user = await make_user(Role.ADMIN)
    token = (await tokens.issue_pair(user.id, Kind.USER)).access_token
    await _principal(token)
    await users.set_role(user.id, Role.CONSUMER)
    # a request that read the admin row before the change committed writes it late,
    # tagged with the version it read (before the bump)
    await get_redis().set(f"auth:state:user:{user.id}", "0|1|admin")
    assert (await _principal(token)).role == Role.CONSUMER  # type: ignore[union-attr]


async def test_every_role_change_of_the_product_reaches_live_sessions(db):
    owner, staff = await make_user(), await make_user()
    owner_token = (await tokens.issue_pair(owner.id, Kind.USER)).access_token
    staff_token = (await tokens.issue_pair(staff.id, Kind.USER)).access_token
    store = await make_merchant(owner=owner, approve=False)
    assert (await _principal(owner_token)).role == Role.CONSUMER  # type: ignore[union-attr]
    assert (await _principal(staff_token)).role == Role.CONSUMER  # type: ignore[union-attr]
    await merchants.approve_merchant(store.id)
    assert (await _principal(owner_token)).role == Role.MERCHANT_OWNER  # type: ignore[union-attr]
    await merchants.add_staff(owner.id, store.id, staff.id)
    assert (await _principal(staff_token)).role == Role.MERCHANT_STAFF  # type: ignore[union-attr]


async def test_freeze_and_unfreeze_reach_live_sessions_and_refresh(db):
    admin, user = await make_user(Role.ADMIN), await make_user()
    pair = await tokens.issue_pair(user.id, Kind.USER)
    await _principal(pair.access_token)
    await users.freeze_user(user.id, by_user_id=admin.id, reason="disputed payments")
    for attempt in (_principal(pair.access_token), tokens.rotate(pair.refresh_token)):
        with pytest.raises(DomainError) as exc:
            await attempt
        assert exc.value.code == "ACCOUNT_FROZEN"
    await users.unfreeze_user(user.id, by_user_id=admin.id, reason="resolved")
    assert isinstance(await _principal(pair.access_token), UserPrincipal)
    # the refused refresh did not use the refresh token up
    assert (await tokens.rotate(pair.refresh_token)).access_token


async def test_a_device_is_its_own_kind_and_follows_its_row(db):
    store = await make_merchant()
    device, _ = await merchants.register_pos_device(store.owner_id, store.id, "SN-D-1")
    token = (await tokens.issue_pair(device.id, Kind.DEVICE)).access_token
    principal = await _principal(token)
    assert principal == DevicePrincipal(device.id, store.id, _family(token))
    assert principal.key == f"device:{device.id}"
    await PosDevice.filter(id=device.id).update(is_active=False)
    await sessions.subject_changed(Kind.DEVICE, device.id)
    with pytest.raises(DomainError) as exc:
        await _principal(token)
    assert exc.value.code == "TOKEN_INVALID"


async def test_principal_keys_are_stable_per_kind(db):
    user = await make_user()
    token = (await tokens.issue_pair(user.id, Kind.USER)).access_token
    assert (await _principal(token)).key == f"user:{user.id}"
    app = (await partners.create_app("P", ("read:orders", "read:stats", "read:points"))).app
    # the token's scopes that the app still has (one it never had is dropped)
    scopes = ("read:orders", "read:stats", "write:counter_orders")
    partner = (await tokens.issue_pair(app.id, Kind.PARTNER, scopes=scopes)).access_token
    p = await _principal(partner)
    assert (p.key, p.scopes) == (f"partner:{app.id}", frozenset({"read:orders", "read:stats"}))  # type: ignore[union-attr]
    # a partner app that does not exist is no one
    with pytest.raises(DomainError) as exc:
        await _principal((await tokens.issue_pair(app.id + 1, Kind.PARTNER)).access_token)
    assert exc.value.code == "TOKEN_INVALID"


def _family(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["fam"]
