"""The ASGI entry point: `uvicorn app.main:app` (the app itself is `app.api.http`), with
the dev stand-ins wired in (each used only where settings turn it on)."""

from app.api.http import create_app
from app.dev import wiring

wiring.install()
app = create_app()

__all__ = ["app", "create_app"]
