"""Production refuses to start with development secrets or without external servers."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from polis.config import DEV_DATA_KEY, DEV_SECRET_KEY, Settings

STRONG = "x" * 48


def _production(**values: object) -> Settings:
    base: dict[str, object] = {
        "env": "production",
        "secret_key": STRONG,
        "data_key": STRONG + "y",
        "database_url": "postgresql://db.internal/polis",
        "redis_url": "redis://cache.internal:6379/0",
        "_env_file": None,
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_production_accepts_real_secrets() -> None:
    assert _production().is_production


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secret_key", DEV_SECRET_KEY, "POLIS_SECRET_KEY still has its development default"),
        ("data_key", DEV_DATA_KEY, "POLIS_DATA_KEY still has its development default"),
        ("secret_key", "short", "POLIS_SECRET_KEY must be at least 32 characters"),
        ("database_url", None, "POLIS_DATABASE_URL is required in production"),
        ("redis_url", None, "POLIS_REDIS_URL is required in production"),
    ],
)
def test_production_refuses(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _production(**{field: value})
    assert message in str(caught.value)


def test_production_refuses_missing_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLIS_ENV", "production")
    monkeypatch.setenv("POLIS_DATABASE_URL", "postgresql://db.internal/polis")
    monkeypatch.setenv("POLIS_REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.delenv("POLIS_SECRET_KEY", raising=False)
    monkeypatch.delenv("POLIS_DATA_KEY", raising=False)
    with pytest.raises(ValidationError, match="development default"):
        Settings(_env_file=None)


def test_development_runs_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [key for key in os.environ if key.startswith("POLIS_")]:
        monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    assert settings.env == "development"
    assert settings.rate_limit_send_code == "5/hour"
    assert settings.rate_limit_sos == "10/day"
    assert settings.rate_limit_initiatives == "5/day"
