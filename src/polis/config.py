"""Settings: every knob is an environment variable with the ``POLIS_`` prefix.

In production the settings refuse to load with a default or missing secret, and refuse to
start the embedded servers: a production deployment names its PostgreSQL and Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development defaults. Production refuses to start while any secret still equals one of these.
DEV_SECRET_KEY = "dev-secret-key-change-me-in-production-0123456789"  # noqa: S105
DEV_DATA_KEY = "dev-data-key-change-me-in-production-0123456789ab"

Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLIS_", env_file=".env", extra="ignore")

    env: Environment = "development"
    app_name: str = "Digital Polis"
    log_level: str = "INFO"
    log_json: bool = True

    # Where the embedded PostgreSQL and Redis keep their data when no external URL is set.
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_statement_timeout_ms: int = 15_000

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Master key for personal data: the phone ciphertext key and the blind-index key derive from it.
    data_key: SecretStr = SecretStr(DEV_DATA_KEY)

    cors_origins: list[str] = Field(default_factory=list)
    default_phone_region: str = "GE"
    admin_phones: list[str] = Field(default_factory=list)
    demo_admin_phone: str = "+995555000001"

    rate_limit_enabled: bool = True
    rate_limit_anonymous: str = "100/hour"
    rate_limit_authenticated: str = "1000/hour"
    rate_limit_leader: str = "5000/hour"
    rate_limit_send_code: str = "5/hour"
    rate_limit_sos: str = "10/day"
    rate_limit_initiatives: str = "5/day"

    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lock_seconds: int = 60

    celery_task_time_limit: int = 300
    celery_task_soft_time_limit: int = 240
    beat_lock_timeout: int = 300
    heartbeat_interval_seconds: float = 60.0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if not self.is_production:
            return self
        problems: list[str] = []
        secrets = {
            "POLIS_SECRET_KEY": (self.secret_key, DEV_SECRET_KEY),
            "POLIS_DATA_KEY": (self.data_key, DEV_DATA_KEY),
        }
        for name, (value, default) in secrets.items():
            raw = value.get_secret_value()
            if raw == default:
                problems.append(f"{name} still has its development default")
            elif len(raw) < 32:
                problems.append(f"{name} must be at least 32 characters")
        if not self.database_url:
            problems.append("POLIS_DATABASE_URL is required in production")
        if not self.redis_url:
            problems.append("POLIS_REDIS_URL is required in production")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
