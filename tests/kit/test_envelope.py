"""Every kind of answer comes in the envelope, with an honest status and the request id."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Query
from pydantic import BaseModel

from polis.kit.envelope import Envelope, ok
from polis.kit.errors import ErrorCode, NotFound, PolisError
from tests.conftest import AppFactory


class Item(BaseModel):
    name: str
    size: int


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/items")
    async def create_item(item: Item) -> Envelope[Item]:
        return ok(item)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: /srv/polis/password=hunter2")

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such ateuli.", details={"id": "42"})

    @router.get("/rule")
    async def rule() -> None:
        raise PolisError(error=ErrorCode.GROUP_FULL)

    @router.get("/ranged")
    async def ranged(size: Annotated[int, Query(ge=1, le=10)]) -> Envelope[int]:
        return ok(size)

    return router


def assert_error(response: httpx.Response, status: int, code: int, name: str) -> dict[str, object]:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["name"] == name
    assert body["error"]["message"]
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert "data" not in body
    details: dict[str, object] = body["error"]["details"]
    return details


async def test_unknown_route_is_404_in_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, 4001, "NOT_FOUND")
    assert_error(await client.get("/nothing-at-all"), 404, 4001, "NOT_FOUND")


async def test_wrong_method_is_405_in_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert_error(response, 405, 4004, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


async def test_validation_errors_are_422_and_name_the_field(make_client: AppFactory) -> None:
    async with make_client(_router()) as http:
        missing = assert_error(
            await http.post("/api/v1/items", json={"name": "x"}), 422, 2001, "MISSING_FIELD"
        )
        assert missing["errors"] == [
            {"field": "size", "message": "Field required", "type": "missing"}
        ]
        bad = assert_error(
            await http.post("/api/v1/items", json={"name": "x", "size": "big"}),
            422,
            2002,
            "BAD_FORMAT",
        )
        assert bad["errors"][0]["field"] == "size"  # type: ignore[index]
        broken_json = await http.post(
            "/api/v1/items", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_error(broken_json, 422, 2002, "BAD_FORMAT")
        out_of_range = await http.get("/api/v1/ranged", params={"size": 11})
        assert_error(out_of_range, 422, 2002, "BAD_FORMAT")


async def test_unhandled_exception_is_500_without_internals(make_client: AppFactory) -> None:
    async with make_client(_router()) as http:
        response = await http.get("/api/v1/boom")
    assert_error(response, 500, 5001, "INTERNAL")
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_domain_errors_carry_code_status_and_details(make_client: AppFactory) -> None:
    async with make_client(_router()) as http:
        details = assert_error(await http.get("/api/v1/missing"), 404, 4001, "NOT_FOUND")
        assert details == {"id": "42"}
        assert (await http.get("/api/v1/missing")).json()["error"]["message"] == "No such ateuli."
        assert_error(await http.get("/api/v1/rule"), 409, 3005, "GROUP_FULL")


async def test_request_id_is_echoed_when_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.def"})
    assert response.headers["x-request-id"] == "abc-123.def"
    assert response.json()["meta"]["request_id"] == "abc-123.def"


async def test_request_id_is_generated_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health")
    first = generated.headers["x-request-id"]
    assert len(first) == 32
    second = (await client.get("/health")).headers["x-request-id"]
    assert first != second
    unsafe = await client.get("/health", headers={"X-Request-ID": "a b<script>"})
    assert unsafe.headers["x-request-id"] != "a b<script>"
    assert unsafe.json()["meta"]["request_id"] == unsafe.headers["x-request-id"]


async def test_request_id_is_on_errors_too(make_client: AppFactory) -> None:
    async with make_client(_router()) as http:
        response = await http.get("/api/v1/boom", headers={"X-Request-ID": "trace-me"})
    assert response.headers["x-request-id"] == "trace-me"
    assert response.json()["meta"]["request_id"] == "trace-me"


def test_every_error_code_is_unique_and_in_its_range() -> None:
    codes = [error.code for error in ErrorCode]
    assert len(codes) == len(set(codes))
    for error in ErrorCode:
        assert 1000 <= error.code < 6000
        assert 400 <= error.status < 600
