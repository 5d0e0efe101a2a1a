"""The ASGI entry point: `uvicorn app.main:app` (the app itself is `app.api.http`)."""

from app.api.http import app, create_app

__all__ = ["app", "create_app"]
