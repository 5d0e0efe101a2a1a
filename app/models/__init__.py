"""Tortoise models, one module per domain (see app.infra.db.APPS for the app labels)."""
