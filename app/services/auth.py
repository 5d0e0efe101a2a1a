"""Sign-in: WeChat mini-program (code2session) and phone + SMS code."""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from typing import Protocol

import httpx
from tortoise.exceptions import IntegrityError

from app.domain.principals import Kind
from app.domain.tokens import AuthErrorCode, TokenPair, issue_pair
from app.infra import inputs
from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError, RateLimited
from app.infra.inputs import digits
from app.infra.limits import Budget, spend
from app.infra.redis import get_redis
from app.models.users import Role, User

log = logging.getLogger(__name__)

# The in-process stand-in for WeChat's code2session (app/dev/wechat.py), registered by
# the entry points (app.dev.wiring) and used where settings turn it on.
_wechat_stand_in: Callable[[Settings], httpx.AsyncBaseTransport] | None = None


def set_wechat_stand_in(make: Callable[[Settings], httpx.AsyncBaseTransport] | None) -> None:
    global _wechat_stand_in
    _wechat_stand_in = make


# ---------------------------------------------------------------- WeChat


async def code2session(
    code: str, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> dict:
    """Exchange a `wx.login` code for openid/unionid at the mini-program endpoint."""
    params = {
        "appid": settings.wechat_appid,
        "secret": settings.wechat_secret,
        "js_code": code,
        "grant_type": "authorization_code",
    }
    try:
        async with httpx.AsyncClient(
            base_url=settings.wechat_api_base,
            timeout=settings.wechat_timeout_s,
            transport=transport,
        ) as client:
            resp = await client.get("/sns/jscode2session", params=params)
    except httpx.HTTPError as exc:
        # The URL carries the app secret: log only the kind of failure.
        log.warning("wechat code2session unreachable: %s", type(exc).__name__)
        raise DomainError(
            "UPSTREAM_UNAVAILABLE", "WeChat login is unavailable, try again shortly", "code"
        ) from None
    if resp.status_code != 200:
        log.warning("wechat code2session answered HTTP %s", resp.status_code)
        raise DomainError("UPSTREAM_UNAVAILABLE", "WeChat login is unavailable", "code")
    try:
        data = resp.json()
    except ValueError:
        raise DomainError("UPSTREAM_UNAVAILABLE", "WeChat answered garbage", "code") from None
    if data.get("errcode") or not data.get("openid"):
        log.info("wechat code2session rejected a code: errcode=%s", data.get("errcode"))
        raise DomainError(
            AuthErrorCode.WECHAT_CODE_REJECTED, "WeChat rejected the login code", "code"
        )
    return data


async def login_with_wechat(
    code: str,
    *,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[User, TokenPair]:
    settings = settings or get_settings()
    code = (code or "").strip()
    if not code or len(code) > 128:
        raise DomainError("INVALID", "code is required", "code")
    if transport is None and settings.wechat_stand_in_on and _wechat_stand_in is not None:
        transport = _wechat_stand_in(settings)
    session = await code2session(code, settings, transport)
    openid, unionid = session["openid"], session.get("unionid")
    user = None
    if unionid:
        user = await User.get_or_none(wechat_unionid=unionid)
    if user is None:
        user = await User.get_or_none(wechat_openid=openid)
    if user is None:
        try:
            user = await User.create(wechat_openid=openid, wechat_unionid=unionid)
        except IntegrityError:  # a concurrent first login created it
            user = await User.get(wechat_openid=openid)
    elif unionid and not user.wechat_unionid:
        user.wechat_unionid = unionid
        await user.save(update_fields=["wechat_unionid"])
    _ensure_active(user)
    return user, await issue_pair(user.id, Kind.USER, settings=settings)


def _ensure_active(user: User) -> None:
    if not user.is_active:
        raise DomainError(AuthErrorCode.ACCOUNT_FROZEN, "this account is frozen", None)


# ---------------------------------------------------------------- SMS


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    """Development sender: the code goes to the log instead of a carrier."""

    async def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone[:3] + "****" + phone[-4:], text)


class MemorySmsSender:
    """Keeps what was sent, for tests and local tools."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


_sms_sender: SmsSender | None = None


def _sender(settings: Settings) -> SmsSender:
    if _sms_sender is not None:
        return _sms_sender
    if settings.app_env == "prod":
        # The log sender would write sign-in codes to the log: never in prod.
        raise DomainError("UPSTREAM_UNAVAILABLE", "SMS sign-in is not configured", "phone")
    return LogSmsSender()


def set_sms_sender(sender: SmsSender | None) -> None:
    global _sms_sender
    _sms_sender = sender


def normalise_phone(phone: str) -> str:
    """The one spelling of a mainland mobile number (its cooldown, budgets and user row
    are keyed on it): NFKC (full-width digits become ASCII), spaces and dashes and a
    +86 prefix dropped; then 11 ASCII digits (app/infra/inputs.py), or INVALID."""
    text = unicodedata.normalize("NFKC", phone or "").strip()
    text = text.replace(" ", "").replace("-", "").removeprefix("+86")
    return digits(text, inputs.PHONE, "phone", "phone must be an 11-digit mainland mobile number")


async def request_sms_code(
    phone: str, *, settings: Settings | None = None, budgets: Sequence[Budget] = ()
) -> int:
    """Send a 6-digit code; returns seconds until another may be requested. `budgets`
    (app/infra/limits.py) count the codes sent: one is spent only once the cooldown allows a
    code, so asking again too early costs none."""
    settings = settings or get_settings()
    phone = normalise_phone(phone)
    redis = get_redis()
    cooldown = f"sms:cooldown:{phone}"
    if not await redis.set(cooldown, "1", ex=settings.sms_resend_interval_s, nx=True):
        raise RateLimited(max(1, await redis.ttl(cooldown)), "phone")
    await spend(*budgets, field="phone")
    sender = _sender(settings)
    code = f"{secrets.randbelow(1_000_000):06d}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(f"sms:code:{phone}", code, ex=settings.sms_code_ttl_s)
        pipe.delete(f"sms:attempts:{phone}")
        await pipe.execute()
    await sender.send(phone, f"Your sign-in code is {code}")
    return settings.sms_resend_interval_s


async def login_with_sms(
    phone: str, code: str, *, settings: Settings | None = None
) -> tuple[User, TokenPair]:
    settings = settings or get_settings()
    phone = normalise_phone(phone)
    redis = get_redis()
    attempts_key = f"sms:attempts:{phone}"
    attempts = await redis.incr(attempts_key)
    if attempts == 1:
        await redis.expire(attempts_key, settings.sms_code_ttl_s)
    if attempts > settings.sms_max_attempts:
        await redis.delete(f"sms:code:{phone}")  # a guessed-at code is burnt
        raise DomainError(
            AuthErrorCode.TOO_MANY_ATTEMPTS, "too many wrong codes; request a new one", "code"
        )
    expected = await redis.get(f"sms:code:{phone}")
    if expected is None:
        raise DomainError(AuthErrorCode.SMS_CODE_EXPIRED, "the code has expired", "code")
    if not inputs.same_secret(expected, (code or "").strip()):
        raise DomainError(AuthErrorCode.SMS_CODE_INVALID, "wrong code", "code")
    await redis.delete(f"sms:code:{phone}", attempts_key)
    user = await User.get_or_none(phone=phone)
    if user is None:
        try:
            user = await User.create(phone=phone, role=Role.CONSUMER)
        except IntegrityError:
            user = await User.get(phone=phone)
    _ensure_active(user)
    return user, await issue_pair(user.id, Kind.USER, settings=settings)
