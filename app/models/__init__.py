"""Tortoise models, one module per domain (see app.db.APPS for the app labels)."""
