"""Production refuses missing or weak secrets; development generates and keeps its own."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from polis.config import SECRETS_FILE, Settings

STRONG = "x" * 48
KEYRING = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(autouse=True)
def _no_polis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("POLIS_")]:
        monkeypatch.delenv(name)


def _production(**values: object) -> Settings:
    base: dict[str, object] = {
        "env": "production",
        "secret_key": STRONG,
        "encryption_keys": KEYRING,
        "blind_index_key": STRONG + "y",
        "database_url": "postgresql://db.internal/polis",
        "redis_url": "redis://cache.internal:6379/0",
        "sms_provider": "http",
        "_env_file": None,
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_production_accepts_real_secrets() -> None:
    assert _production().is_production


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secret_key", None, "POLIS_SECRET_KEY is required in production"),
        ("blind_index_key", None, "POLIS_BLIND_INDEX_KEY is required in production"),
        ("encryption_keys", None, "POLIS_ENCRYPTION_KEYS is required in production"),
        ("secret_key", "short", "POLIS_SECRET_KEY must be at least 32 characters"),
        ("encryption_keys", "k1:c2hvcnQ=", "must be 32 bytes"),
        ("encryption_keys", "no-colon", "id:base64key"),
        ("database_url", None, "POLIS_DATABASE_URL is required in production"),
        ("redis_url", None, "POLIS_REDIS_URL is required in production"),
        ("sms_provider", "outbox", "for development only"),
    ],
)
def test_production_refuses(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _production(**{field: value})
    assert message in str(caught.value)


def test_production_never_generates_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="POLIS_SECRET_KEY is required"):
        _production(secret_key=None, data_dir=tmp_path)
    assert not (tmp_path / SECRETS_FILE).exists()


def test_development_generates_secrets_once_into_the_data_folder(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, _env_file=None)
    stored = json.loads((tmp_path / SECRETS_FILE).read_text())
    assert first.secret("secret_key") == stored["secret_key"]
    assert (tmp_path / SECRETS_FILE).stat().st_mode & 0o077 == 0
    second = Settings(data_dir=tmp_path, _env_file=None)
    assert second.secret("secret_key") == first.secret("secret_key")
    assert second.secret("encryption_keys") == first.secret("encryption_keys")
    assert second.secret("blind_index_key") == first.secret("blind_index_key")


def test_development_defaults(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.env == "development"
    assert settings.rate_limit_send_code == "5/hour"
    assert settings.rate_limit_sos == "10/day"
    assert settings.rate_limit_initiatives == "5/day"


def test_bootstrap_admin_phones_are_comma_separated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLIS_BOOTSTRAP_ADMIN_PHONES", "+995500000001, +995500000002")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.bootstrap_admin_phones == ["+995500000001", "+995500000002"]


def test_smtp_tls_defaults_to_starttls_with_the_system_trust_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.smtp_tls == "starttls"
    assert settings.smtp_ca_file is None


@pytest.mark.parametrize("value", ["starttls", "implicit", "none"])
def test_smtp_tls_reads_its_three_modes(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLIS_SMTP_TLS", value)
    monkeypatch.setenv("POLIS_SMTP_CA_FILE", str(tmp_path / "ca.pem"))
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.smtp_tls == value
    assert settings.smtp_ca_file == tmp_path / "ca.pem"


@pytest.mark.parametrize("value", ["ssl", "true", "STARTTLS", ""])
def test_smtp_tls_refuses_other_values(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLIS_SMTP_TLS", value)
    with pytest.raises(ValidationError, match="smtp_tls"):
        Settings(data_dir=tmp_path, _env_file=None)


def test_production_refuses_smtp_credentials_in_clear() -> None:
    with pytest.raises(ValidationError) as caught:
        _production(smtp_tls="none", smtp_username="polis", smtp_password="p")
    assert "POLIS_SMTP_TLS=none with POLIS_SMTP_USERNAME" in str(caught.value)
    # In clear without a login (a relay on the same host), or a login over TLS: accepted.
    assert _production(smtp_tls="none").smtp_tls == "none"
    assert _production(smtp_tls="implicit", smtp_username="polis").smtp_tls == "implicit"


def test_outside_production_smtp_credentials_may_go_in_clear(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp_tls="none", smtp_username="polis", _env_file=None)
    assert settings.smtp_tls == "none"
