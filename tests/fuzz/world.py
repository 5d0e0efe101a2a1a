"""What the fuzz runs against: the demo data, a real server process and its callers.

The server is `uvicorn app.main:app` in its own process on this run's PostgreSQL
database and Redis DB, with WeChat's code2session faked by a local HTTP server (a
sign-in never waits on the internet) and every per-client budget raised so the fuzz
measures answers, not throttling."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.api.graphql.core.ids import encode_id
from app.dev.demo import seed_demo
from app.domain import merchants
from app.infra.config import Settings
from app.models.merchants import Agent, Merchant, MerchantStatus
from app.models.orders import Order, PointLot
from app.models.users import User
from tests.fakes.server import free_port, serve
from tests.fakes.wechat import WeChatFake
from tests.helpers import token_for

# A budget high enough that no fuzz run reaches it (the fuzz sends a few thousand
# requests from one IP, as one subject, with a handful of phones and serials).
_UNLIMITED = "1000000000"


@dataclass
class World:
    """The seeded rows a request needs to get past its first check, as Global IDs and
    the values of a working sign-in, so a hostile value reaches the code behind them."""

    admin_id: int
    consumer_id: int
    owner_id: int
    merchant: str
    order: str
    lot: str
    user: str
    agent: str
    pos_serial: str
    pos_secret: str
    bind_qr: str

    def ids(self) -> dict[str, str]:
        return {
            "Merchant": self.merchant,
            "Order": self.order,
            "PointLot": self.lot,
            "User": self.user,
            "Agent": self.agent,
        }


async def seed_world() -> World:
    await seed_demo()
    admin = await User.get(phone="13900000000")
    consumer = await User.get(phone="13800000001")
    other = await User.get(phone="13800000002")
    merchant = await Merchant.filter(status=MerchantStatus.APPROVED).order_by("id").first()
    assert merchant is not None
    owner = await User.get(id=merchant.owner_id)  # type: ignore[attr-defined]
    order = await Order.filter(consumer_id=consumer.id).order_by("id").first()
    lot = await PointLot.filter(holder_kind="consumer").order_by("id").first()
    assert order is not None and lot is not None
    agent = await Agent.create(user=other, level="district", region_code="310101")
    device, secret = await merchants.register_pos_device(owner.id, merchant.id, "FUZZ-POS-1")
    return World(
        admin_id=admin.id,
        consumer_id=consumer.id,
        owner_id=owner.id,
        merchant=str(encode_id("Merchant", merchant.id)),
        order=str(encode_id("Order", order.id)),
        lot=str(encode_id("PointLot", lot.id)),
        user=str(encode_id("User", other.id)),
        agent=str(encode_id("Agent", agent.id)),
        pos_serial=device.serial,
        pos_secret=secret,
        bind_qr=merchants.merchant_qr(merchant.id),
    )


# The roles the fuzz signs in as, and whose seeded user each one is: a merchant owner
# too, as a store's fields refuse the others before their values reach anything; the
# admin last, whose suspendMerchant and closeMerchant come last of all.
SUBJECTS = {"consumer": "consumer_id", "merchant_owner": "owner_id", "admin": "admin_id"}


async def sign_in(world: World) -> dict[str, dict[str, str]]:
    """The request headers of each role (the fuzz never holds a refresh token, so no
    fuzzed `logout` or `refreshToken` can retire these)."""
    headers = {}
    for role, attr in SUBJECTS.items():
        token = await token_for(getattr(world, attr), role)
        headers[role] = {"authorization": f"Bearer {token}"}
    return headers


def raised_budgets() -> dict[str, str]:
    """Every rate-limit setting (named RATE_LIMIT_* by convention) set out of reach;
    none are required to exist."""
    env = {}
    for name, info in Settings.model_fields.items():
        if "rate_limit" in name and info.annotation in (int, float):
            env[name.upper()] = _UNLIMITED
    return env


@dataclass
class Server:
    base_url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server() -> Iterator[Server]:
    wechat = WeChatFake(appid="wx-fuzz", secret="wx-fuzz-secret")
    with serve(wechat.app) as wechat_url, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log_path = Path(tmp) / "server.log"
        env = {
            **os.environ,
            **raised_budgets(),
            "APP_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "WECHAT_API_BASE": wechat_url,
            "WECHAT_APPID": wechat.appid,
            "WECHAT_SECRET": wechat.secret,
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
                + ["--no-access-log"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_ready(base, proc)
                yield Server(base_url=base, log_path=log_path)
            finally:
                proc.terminate()
                proc.wait(timeout=10)


def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server was not ready within 30 s")
