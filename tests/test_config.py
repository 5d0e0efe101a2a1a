"""Settings: prod refuses unsafe defaults."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from app.infra.config import DEFAULT_JWT_SECRET, Settings

STRONG = "x" * 48
PG = "postgres://app@db/points"


@pytest.mark.parametrize(
    ("over", "complaint"),
    [
        (
            {"jwt_secret": DEFAULT_JWT_SECRET, "redis_url": "redis://r/0", "database_url": PG},
            "JWT_SECRET",
        ),
        ({"jwt_secret": STRONG, "redis_url": "memory://", "database_url": PG}, "REDIS_URL"),
        (
            {"jwt_secret": STRONG, "redis_url": "redis://r/0", "database_url": "embedded://x"},
            "DATABASE_URL",
        ),
    ],
)
def test_prod_refuses_defaults(over, complaint):
    with pytest.raises(ValidationError) as e:
        Settings(app_env="prod", **over)
    assert complaint in str(e.value)


def test_prod_accepts_real_settings():
    s = Settings(app_env="prod", jwt_secret=STRONG, redis_url="redis://r/0", database_url=PG)
    assert s.database_url == PG


@pytest.mark.parametrize("url", ["sqlite://data/dev.sqlite3", "sqlite://:memory:", "mysql://x/y"])
def test_only_postgres(url):
    """The app runs on PostgreSQL only: any other database URL is refused, saying so."""
    with pytest.raises(ValidationError) as e:
        Settings(database_url=url)
    assert "PostgreSQL only" in str(e.value)


def test_postgresql_scheme_is_accepted():
    assert Settings(database_url="postgresql://a@b/c").database_url == "postgres://a@b/c"


async def test_prod_never_logs_sms_codes(db, settings, monkeypatch):
    from app.infra.errors import DomainError
    from app.services import auth

    monkeypatch.setattr(settings, "app_env", "prod")
    with pytest.raises(DomainError) as e:
        await auth.request_sms_code("13812340000", settings=settings)
    assert e.value.code == "UPSTREAM_UNAVAILABLE"


def test_token_cli_refused_in_prod(monkeypatch):
    import subprocess
    import sys

    env = {
        "APP_ENV": "prod",
        "JWT_SECRET": STRONG,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": PG,
        "PATH": os.defpath,
    }
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "--kind", "user", "--subject", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "refused" in out.stderr
