"""/ready answers 503 with details when Redis is really down, and 200 again when it is back."""

from __future__ import annotations

from pathlib import Path

from polis.kit.embedded import EmbeddedRedis
from tests.conftest import AppFactory


async def test_ready_is_503_while_redis_is_stopped(make_client: AppFactory, tmp_path: Path) -> None:
    own_redis = EmbeddedRedis(tmp_path / "redis")
    own_redis.start()
    try:
        async with make_client(redis_url=own_redis.url) as http:
            assert (await http.get("/ready")).status_code == 200

            own_redis.stop()
            response = await http.get("/ready")
            assert response.status_code == 503
            body = response.json()
            assert body["success"] is False
            assert body["error"]["code"] == 5004
            assert body["error"]["name"] == "SERVICE_UNAVAILABLE"
            checks = body["error"]["details"]["checks"]
            assert checks["redis"]["ok"] is False
            assert checks["redis"]["error"]
            assert checks["database"]["ok"] is True
            # Liveness does not depend on backing services.
            assert (await http.get("/health")).status_code == 200
    finally:
        own_redis.stop()


async def test_ready_is_503_when_the_database_is_unreachable(
    make_client: AppFactory, tmp_path: Path
) -> None:
    nowhere = f"postgresql://postgres@/polis?host={tmp_path}"
    async with make_client(database_url=nowhere) as http:
        response = await http.get("/ready")
    assert response.status_code == 503
    checks = response.json()["error"]["details"]["checks"]
    assert checks["database"]["ok"] is False
    assert checks["redis"]["ok"] is True
    # The answer names the failure's kind, never the connection string.
    assert str(tmp_path) not in response.text
