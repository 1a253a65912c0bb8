from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate

from polis import __version__


async def test_health_is_enveloped(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"status": "ok", "version": __version__}
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z")


async def test_ready_reports_both_servers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    checks = response.json()["data"]["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is True
    assert checks["database"]["latency_ms"] >= 0


async def test_openapi_schema_is_valid(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert "/health" in schema["paths"]
    # Every route documents the error envelope beside its success shape.
    assert "ErrorEnvelope" in schema["components"]["schemas"]


async def test_docs_pages_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/docs", "/api/v1/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "/api/v1/openapi.json" in response.text


async def test_postman_collection_lists_every_operation(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/v1/openapi.json")).json()
    operations = sum(
        1
        for methods in schema["paths"].values()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    )
    response = await client.get("/api/v1/postman-collection.json")
    assert response.status_code == 200
    collection = response.json()
    assert collection["info"]["schema"].endswith("v2.1.0/collection.json")
    requests = [item for folder in collection["item"] for item in folder["item"]]
    assert len(requests) == operations
    assert {r["request"]["url"]["raw"] for r in requests} >= {"{{baseUrl}}/health"}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    await client.get("/no/such/route")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text

    def count(route: str, status: str) -> float:
        pattern = (
            r'polis_http_requests_total\{method="GET",route="'
            + re.escape(route)
            + r'",status="'
            + status
            + r'"\} ([0-9.]+)'
        )
        match = re.search(pattern, text)
        assert match, f"no counter for {route} {status}"
        return float(match.group(1))

    assert count("/health", "200") >= 1
    assert count("unmatched", "404") >= 1
    assert "polis_http_request_duration_seconds_bucket" in text
    assert 'polis_db_pool_connections{state="size"}' in text
    assert "polis_redis_up 1.0" in text
