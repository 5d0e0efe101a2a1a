"""The dev stand-ins wired in: the sandbox payment channel (its adapter in the channel
table, its provider's pages and API among the routes) and the WeChat code2session
stand-in. Each is used only where settings turn it on (never in prod).

Called by the entry points (app/main.py, app/worker.py, app/cli.py) and the tests'
conftest: production code below them never imports app/dev (CONTRIBUTING.md, rule 1;
`lint-imports` checks it)."""

from __future__ import annotations

from app.adapters.payments import registry
from app.api import notify
from app.dev import sandbox_provider, wechat
from app.dev.sandbox import Sandbox
from app.services import auth


def install() -> None:
    """Register the stand-ins (idempotent)."""
    registry.register("sandbox", Sandbox)
    notify.add_stand_in_routes(sandbox_provider.routes)
    auth.set_wechat_stand_in(wechat.transport)
