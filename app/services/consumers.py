"""Every consumer of the outbox's events, registered by each process that delivers them:
the API server (right after each commit) and the worker (its sweep). A new consumer —
live subscriptions, partner webhooks — is added here."""

from __future__ import annotations

from app.services import discovery as hooks
from app.services import live
from app.services import webhooks as partner_webhooks


def install() -> None:
    hooks.register()
    live.register()
    partner_webhooks.register()
