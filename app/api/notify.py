"""HTTP routes of the payments package: notifications, and the routes of the dev stand-ins
(the sandbox provider's pay page and API) where the entry point registered them."""

from __future__ import annotations

from collections.abc import Callable

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.infra import limits
from app.infra.config import get_settings
from app.infra.errors import RateLimited
from app.services import notifications as webhooks
from app.services.payments import run_split_safely


async def notify(request: Request) -> Response:
    try:
        await limits.spend(limits.notify_budget(request.scope))
    except RateLimited as e:
        return JSONResponse(
            {"code": e.code, "message": e.message, "retryAfter": e.retry_after},
            status_code=429,
            headers={"Retry-After": str(e.retry_after)},
        )
    channel = request.path_params["channel"]
    body = await request.body()
    result = await webhooks.handle_notification(channel, dict(request.headers), body)
    # The split is a second call to the provider: after the answer, never before it.
    background = (
        BackgroundTask(run_split_safely, result.split_payment_id)
        if result.split_payment_id
        else None
    )
    return Response(
        result.reply.body,
        status_code=result.reply.status_code,
        media_type=result.reply.media_type if result.reply.body else None,
        background=background,
    )


# Routes of dev stand-ins (app.dev.wiring registers the sandbox provider's): served
# only where the sandbox is on, never in prod.
_stand_in_routes: list[Callable[[], list[BaseRoute]]] = []


def add_stand_in_routes(make: Callable[[], list[BaseRoute]]) -> None:
    if make not in _stand_in_routes:
        _stand_in_routes.append(make)


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = [Route("/pay/notify/{channel}", notify, methods=["POST"])]
    s = get_settings()
    if s.sandbox_enabled and s.app_env != "prod":
        for make in _stand_in_routes:
            out += make()
    return out
