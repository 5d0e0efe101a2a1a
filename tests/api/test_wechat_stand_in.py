"""`wx.login` -> `loginWithWechat` on the embedded default: WeChat's code2session is
answered by the local stand-in (app/dev/wechat.py), never by the network."""

from __future__ import annotations

import httpx
import pytest

from app.dev.wechat import openid_for
from app.infra.config import Settings
from app.models.users import User
from tests.fakes.server import free_port
from tests.helpers import gql
from tests.live_server import live_server

LOGIN_WX = """mutation($code: String!) { loginWithWechat(code: $code) {
  __typename
  ... on AuthPayload { accessToken user { id } }
  ... on AuthError { code field } } }"""


@pytest.fixture
def stand_in(settings, monkeypatch):
    monkeypatch.setattr(settings, "wechat_stand_in", True)
    # nothing listens there: a call to "WeChat" over the network would fail the sign-in
    monkeypatch.setattr(settings, "wechat_api_base", f"http://127.0.0.1:{free_port()}")
    return settings


async def test_dev_code_signs_in_the_same_wechat_user_each_time(client, stand_in):
    first = (await gql(client, LOGIN_WX, {"code": "dev-alice"}))["data"]["loginWithWechat"]
    assert first["__typename"] == "AuthPayload"
    user = await User.get(wechat_openid=openid_for(stand_in.wechat_appid, "alice"))
    again = (await gql(client, LOGIN_WX, {"code": "dev-alice"}))["data"]["loginWithWechat"]
    other = (await gql(client, LOGIN_WX, {"code": "dev-bob"}))["data"]["loginWithWechat"]
    assert again["user"]["id"] == first["user"]["id"]
    assert other["user"]["id"] != first["user"]["id"]
    assert await User.all().count() == 2
    me = await gql(client, "{ me { id } }", token=first["accessToken"])
    assert me["data"]["me"]["id"] == first["user"]["id"]
    assert len(user.wechat_openid) == 28


@pytest.mark.parametrize("code", ["dev-", "alice", "dev-a b", "dev-" + "x" * 61])
async def test_other_codes_are_refused_as_wechat_refuses_them(client, stand_in, code):
    res = (await gql(client, LOGIN_WX, {"code": code}))["data"]["loginWithWechat"]
    assert res == {"__typename": "AuthError", "code": "WECHAT_CODE_REJECTED", "field": "code"}


def test_on_in_dev_only_and_never_in_prod():
    assert Settings(app_env="dev").wechat_stand_in_on
    assert not Settings(app_env="test").wechat_stand_in_on
    assert Settings(app_env="test", wechat_stand_in=True).wechat_stand_in_on
    assert not Settings(app_env="dev", wechat_stand_in=False).wechat_stand_in_on
    prod = {
        "app_env": "prod",
        "jwt_secret": "s" * 40,
        "redis_url": "redis://127.0.0.1:6379/0",
        "database_url": "postgres://u@127.0.0.1/db",
    }
    assert not Settings(**prod).wechat_stand_in_on
    with pytest.raises(ValueError, match="WECHAT_STAND_IN"):
        Settings(**prod, wechat_stand_in=True)


async def test_the_embedded_default_signs_in_without_wechat(db):
    # the server as a developer starts it (APP_ENV=dev, nothing about WeChat configured
    # but an address where nothing answers)
    env = {"APP_ENV": "dev", "WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}"}
    with live_server(**env) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            res = await gql(c, LOGIN_WX, {"code": "dev-carol"})
    assert res["data"]["loginWithWechat"]["__typename"] == "AuthPayload"
    assert await User.filter(wechat_openid=openid_for(Settings().wechat_appid, "carol")).exists()
