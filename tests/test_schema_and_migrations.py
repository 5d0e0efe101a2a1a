"""The committed schema.graphql and migrations match the code."""

from __future__ import annotations

from pathlib import Path

from tortoise import Tortoise

ROOT = Path(__file__).resolve().parent.parent


def test_schema_file_matches_code():
    from app.api.graphql.schema import schema

    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `python -m app.cli export-schema` and commit it"
    )


async def test_models_have_no_unrecorded_changes(db):
    from tortoise.migrations.autodetector import MigrationAutodetector

    from app.infra.db import tortoise_config

    apps_cfg = tortoise_config()["apps"]
    detector = MigrationAutodetector(Tortoise.apps, apps_cfg)
    writers = await detector.changes()
    pending = [f"{w.app_label}.{w.name}" for w in writers]
    assert not pending, (
        f"models changed without a migration ({pending}): run "
        "`tortoise -c app.infra.db.TORTOISE_ORM makemigrations` and commit the files"
    )
