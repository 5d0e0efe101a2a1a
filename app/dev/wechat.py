"""A stand-in for WeChat's mini-program `code2session`, so that `wx.login` ->
`loginWithWechat` works on the embedded default without WeChat.

It speaks the real endpoint's protocol (`GET /sns/jscode2session?appid&secret&js_code
&grant_type=authorization_code`, answered with `{openid, session_key}` or `{errcode,
errmsg}`) and is reached in-process, like the sandbox payment provider. A developer's
code is `dev-<name>` (letters, digits, `_` and `-`, up to 60): each name is one WeChat
user, always the same openid, so signing in again as `dev-alice` finds the same account.
Any other code is refused as WeChat refuses a bad one (40029).
"""

from __future__ import annotations

import hashlib
import re
import secrets

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.infra.config import Settings

CODE_PREFIX = "dev-"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,60}")


def openid_for(appid: str, name: str) -> str:
    """The stable openid of the developer's WeChat user `name` (28 characters, as
    WeChat's are), distinct per mini-program like real openids."""
    digest = hashlib.sha256(f"{appid}\n{name}".encode()).hexdigest()
    return "o" + digest[:27]


def stand_in_app(appid: str, secret: str) -> Starlette:
    async def code2session(request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("appid") != appid or q.get("secret") != secret:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        if q.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        code = q.get("js_code", "")
        name = code.removeprefix(CODE_PREFIX)
        if not code.startswith(CODE_PREFIX) or not _NAME.fullmatch(name):
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse(
            {"openid": openid_for(appid, name), "session_key": secrets.token_urlsafe(16)}
        )

    return Starlette(routes=[Route("/sns/jscode2session", code2session)])


def transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """What the sign-in's HTTP client sends through instead of the network."""
    return httpx.ASGITransport(app=stand_in_app(settings.wechat_appid, settings.wechat_secret))
