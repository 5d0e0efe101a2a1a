"""A fake of WeChat's mini-program code2session endpoint.

It checks appid/secret like the real one and answers with WeChat's JSON shapes:
`{openid, session_key, unionid}` or `{errcode, errmsg}` (40029 invalid code,
40163 code already used).
"""

from __future__ import annotations

import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class WeChatFake:
    def __init__(self, appid: str, secret: str) -> None:
        self.appid = appid
        self.secret = secret
        self.codes: dict[str, tuple[str, str | None]] = {}  # code -> (openid, unionid)
        self.used: set[str] = set()
        self.calls = 0
        self.app = Starlette(routes=[Route("/sns/jscode2session", self.code2session)])

    def issue_code(self, openid: str, unionid: str | None = None) -> str:
        """What `wx.login` would hand the mini-program for this WeChat user."""
        code = secrets.token_hex(16)
        self.codes[code] = (openid, unionid)
        return code

    async def code2session(self, request: Request) -> JSONResponse:
        self.calls += 1
        q = request.query_params
        if q.get("appid") != self.appid or q.get("secret") != self.secret:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        if q.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        code = q.get("js_code", "")
        if code in self.used:
            return JSONResponse({"errcode": 40163, "errmsg": "code been used"})
        if code not in self.codes:
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        self.used.add(code)
        openid, unionid = self.codes[code]
        body = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid:
            body["unionid"] = unionid
        return JSONResponse(body)
