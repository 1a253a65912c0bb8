"""Settings: every knob is an environment variable with the ``POLIS_`` prefix.

Secrets (the token key, the personal-data encryption keys, the blind-index key) have no
defaults. Outside production, missing ones are generated once into ``<data_dir>/secrets.json``
so every process of one installation (API, worker, beat, CLI) shares them. In production the
settings refuse to load while any is missing or weak, or while a server URL is missing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from polis.kit.keyring import Keyring

Environment = Literal["development", "test", "production"]
# How the SMTP connection is encrypted: STARTTLS (port 587), implicit TLS (port 465) or not.
SmtpTls = Literal["starttls", "implicit", "none"]

SECRETS_FILE = "secrets.json"
MIN_SECRET_LENGTH = 32
# The demo admin that `polis dev` seeds and prints; it is a bootstrap admin there.
DEMO_ADMIN_PHONE = "+995500000001"


def _generate_dev_secrets() -> dict[str, str]:
    return {
        "secret_key": secrets.token_urlsafe(48),
        "encryption_keys": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def _load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / SECRETS_FILE
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = _generate_dev_secrets()
    # Written with O_EXCL so two processes starting together cannot both write different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        stored = json.loads(path.read_text())
        return stored
    with os.fdopen(fd, "w") as out:
        json.dump(generated, out, indent=2)
    return generated


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


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

    # Signs access tokens (HS256).
    secret_key: SecretStr | None = None
    # Personal-data encryption keyring: "id:base64(32 bytes),id2:…". The first encrypts; every
    # key decrypts, so a new key goes first and old ciphertexts stay readable (rotation).
    encryption_keys: SecretStr | None = None
    # Keyed HMAC for blind indexes (lookups of phones, personal IDs). base64 of ≥ 32 bytes.
    blind_index_key: SecretStr | None = None

    cors_origins: list[str] = Field(default_factory=list)
    default_phone_region: str = "GE"
    # Comma-separated phone numbers made admins when they log in (and by `polis seed`).
    bootstrap_admin_phones: Annotated[list[str], NoDecode] = Field(default_factory=list)
    demo_admin_phone: str = DEMO_ADMIN_PHONE

    jwt_issuer: str = "polis"
    jwt_audience: str = "polis-api"
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_days: int = 30

    otp_ttl_seconds: int = 5 * 60
    otp_max_attempts: int = 5
    otp_cooldown_seconds: int = 60
    # A fingerprint on more accounts than this flags them for admin review.
    device_accounts_review_threshold: int = 3

    rate_limit_enabled: bool = True
    rate_limit_anonymous: str = "100/hour"
    rate_limit_authenticated: str = "1000/hour"
    rate_limit_leader: str = "5000/hour"
    rate_limit_send_code: str = "5/hour"
    rate_limit_send_code_ip: str = "20/hour"
    rate_limit_sos: str = "10/day"
    rate_limit_initiatives: str = "5/day"

    # Initiatives (DESIGN.md §3.6, docs/initiatives.md): the smallest support target per scope,
    # and how long the assignee has to answer before it moves one leader up.
    initiative_min_support_ateuli: int = 5
    initiative_min_support_ormotsdaateuli: int = 10
    initiative_min_support_aseuli: int = 20
    initiative_min_support_ataseuli: int = 100
    initiative_min_support_national: int = 1000
    initiative_answer_days: int = 14
    # SOS signals (docs/sos.md). The moral-filter question the app asks before a signal.
    sos_moral_filter_ka: str = (
        "ეს არის უსამართლობა, რომელიც თქვენ ან სხვა ადამიანს დაემართა, და არა პირადი დავა?"
    )
    sos_moral_filter_en: str = (
        "Is this an injustice done to you or to another person, and not a personal quarrel?"
    )
    # Comma-separated email addresses that get a signal escalated above the ataseuli.
    sos_media_contacts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a pending signal waits for verification at one level, by priority (hours).
    sos_verify_hours_critical: float = 1
    sos_verify_hours_high: float = 6
    sos_verify_hours_normal: float = 24
    sos_verify_hours_low: float = 72
    # How long a verified signal may sit unresolved at one level (hours).
    sos_level_hours: float = 48
    # The deadline sweep: signals per transaction, and transactions per run.
    sos_sweep_batch_size: int = 500
    sos_sweep_max_batches: int = 200

    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lock_seconds: int = 60

    # GeD Database: the real HTTP service when a URL is set, else the local ledger file.
    ged_api_url: str | None = None
    ged_api_key: SecretStr | None = None
    ged_timeout_seconds: float = 5.0
    ged_retries: int = 3
    ged_ledger_path: Path | None = None

    # SMS: "outbox" (development: kept in Redis, readable at /api/v1/dev/sms-outbox) or "http".
    sms_provider: Literal["outbox", "http"] = "outbox"
    sms_http_url: str | None = None
    sms_http_token: SecretStr | None = None
    sms_sender: str = "Polis"
    sms_timeout_seconds: float = 5.0

    # Push: "log" (development: a log line, never the token) or "fcm" (FCM HTTP v1 with a
    # service account: a JSON file, or the JSON itself in POLIS_FCM_CREDENTIALS_JSON).
    push_provider: Literal["log", "fcm"] = "log"
    fcm_credentials_file: Path | None = None
    fcm_credentials_json: SecretStr | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_timeout_seconds: float = 10.0

    # Email: "log" (development: a log line, never the address) or "smtp".
    email_provider: Literal["log", "smtp"] = "log"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = "starttls"
    # A CA bundle (PEM) to verify the SMTP server against instead of the system store.
    smtp_ca_file: Path | None = None
    smtp_from: str = "Digital Polis <noreply@polis.ge>"
    smtp_timeout_seconds: float = 10.0

    # The delivery outbox (docs/notifications.md): attempts per delivery before it is dead,
    # the backoff between them (base · 2^(attempt-1), capped), and how long a worker holds a
    # claimed delivery before the sweep gives it to another worker.
    delivery_max_attempts: int = 8
    delivery_backoff_base_seconds: float = 30.0
    delivery_backoff_max_seconds: float = 3600.0
    delivery_lease_seconds: float = 120.0

    celery_task_time_limit: int = 300
    celery_task_soft_time_limit: int = 240
    beat_lock_timeout: int = 300
    heartbeat_interval_seconds: float = 60.0

    # Elections the system schedules (§3.4): nominations, then voting; 3 days each.
    election_nomination_seconds: int = 259_200
    election_voting_seconds: int = 259_200

    _split_admin_phones = field_validator("bootstrap_admin_phones", mode="before")(_comma_list)
    _split_media_contacts = field_validator("sos_media_contacts", mode="before")(_comma_list)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        names = ("secret_key", "encryption_keys", "blind_index_key")
        if self.is_production:
            self._refuse_weak_production_settings()
            return self
        if any(getattr(self, name) is None for name in names):
            generated = _load_or_create_dev_secrets(self.data_dir)
            for name in names:
                if getattr(self, name) is None:
                    object.__setattr__(self, name, SecretStr(generated[name]))
        return self

    @model_validator(mode="after")
    def _push_credentials(self) -> Settings:
        # Refused at start-up, not at the first send: a worker without credentials would fail
        # every delivery until each one is dead.
        if self.push_provider == "fcm" and not (
            self.fcm_credentials_file or self.fcm_credentials_json
        ):
            raise ValueError(
                "POLIS_FCM_CREDENTIALS_FILE or POLIS_FCM_CREDENTIALS_JSON is required with "
                "POLIS_PUSH_PROVIDER=fcm"
            )
        return self

    def _refuse_weak_production_settings(self) -> None:
        problems: list[str] = []
        for name in ("secret_key", "blind_index_key"):
            value = getattr(self, name)
            if value is None:
                problems.append(f"POLIS_{name.upper()} is required in production")
            elif len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                problems.append(f"POLIS_{name.upper()} must be at least 32 characters")
        if self.encryption_keys is None:
            problems.append("POLIS_ENCRYPTION_KEYS is required in production")
        else:
            try:
                Keyring.parse(self.encryption_keys.get_secret_value())
            except ValueError as exc:
                problems.append(f"POLIS_ENCRYPTION_KEYS: {exc}")
        if not self.database_url:
            problems.append("POLIS_DATABASE_URL is required in production")
        if not self.redis_url:
            problems.append("POLIS_REDIS_URL is required in production")
        if self.sms_provider == "outbox":
            problems.append("POLIS_SMS_PROVIDER=outbox is for development only")
        if self.smtp_tls == "none" and self.smtp_username:
            problems.append(
                "POLIS_SMTP_TLS=none with POLIS_SMTP_USERNAME would send the SMTP password in clear"
            )
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))

    def secret(self, name: Literal["secret_key", "encryption_keys", "blind_index_key"]) -> str:
        """The value of a secret (always present after validation)."""
        value: SecretStr | None = getattr(self, name)
        assert value is not None
        return value.get_secret_value()


@lru_cache
def get_settings() -> Settings:
    return Settings()
