"""One settings object, read from the environment only."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite://data/dev.sqlite3"
    # memory:// runs the same redis.asyncio code path against an in-process stand-in.
    redis_url: str = "memory://"
    policy: str = "zhongdian"

    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_issuer: str = "multistore"
    jwt_access_ttl_s: int = 900
    jwt_refresh_ttl_s: int = 30 * 24 * 3600

    wechat_appid: str = "wx-demo-appid"
    wechat_secret: str = "wx-demo-secret"
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_s: float = 5.0

    sms_code_ttl_s: int = 300
    sms_max_attempts: int = 5
    sms_resend_interval_s: int = 60

    max_body_bytes: int = 64 * 1024
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000

    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"

    extra_cors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prod_is_safe(self) -> Settings:
        if self.app_env == "prod":
            if self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be set to a strong secret in prod")
            if self.redis_url.startswith("memory://"):
                raise ValueError("REDIS_URL must point at a real Redis in prod")
            if self.database_url.startswith("sqlite"):
                raise ValueError("DATABASE_URL must point at PostgreSQL in prod")
        return self

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
