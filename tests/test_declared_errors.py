"""Errors into the contract: each route declares the codes it can answer, once.

The OpenAPI responses and the description are generated from the declarations
(``polis.kit.routing``). These tests hold the declarations against what the services say and
what the suite saw: a code a route answered during this run, or a code its service's
docstring names, must be declared on it. The suite runs this module last (conftest).
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from polis.app import create_app
from polis.config import Settings
from polis.kit.errors import ErrorCode, PolisError
from polis.kit.routing import DomainRouter, errors
from tests.support.declared_errors import (
    ANSWERED,
    label,
    mentioned_codes,
    record_errors,
    undeclared,
    walk_routes,
)


@errors(ErrorCode.NOT_A_MEMBER)
async def _membership() -> None:
    return None


def _demo_router() -> DomainRouter:
    router = DomainRouter(prefix="/demo")

    @router.post("/things/{thing_id}")
    @errors(ErrorCode.GROUP_FULL, ErrorCode.ALREADY_IN_GROUP)
    async def join_thing(thing_id: int, _: Annotated[None, Depends(_membership)]) -> dict[str, Any]:
        """Join a thing."""
        raise PolisError(error=ErrorCode.GROUP_FULL)

    @router.get("/plain")
    async def plain() -> dict[str, Any]:
        return {}

    return router


def test_a_route_publishes_the_codes_of_its_endpoint_and_dependencies() -> None:
    app = FastAPI()
    app.include_router(_demo_router())
    operation = app.openapi()["paths"]["/demo/things/{thing_id}"]["post"]
    expected = [1006, 2001, 2002, 3005, 3006, 3014]
    assert operation["x-error-codes"] == expected
    assert operation["responses"]["409"]["description"] == (
        "code 3005 GROUP_FULL; code 3006 ALREADY_IN_GROUP; code 3014 NOT_A_MEMBER"
    )
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert "**Errors**" in operation["description"]
    assert "`3005 GROUP_FULL` (409)" in operation["description"]
    # A route without input answers no validation error; every API route may be rate limited.
    assert app.openapi()["paths"]["/demo/plain"]["get"]["x-error-codes"] == [1006]


async def test_the_recorder_names_a_route_that_answers_an_undeclared_code() -> None:
    router = _demo_router()

    async def silent() -> None:
        raise PolisError(error=ErrorCode.DUPLICATE)

    silent.__module__ = "polis.demo"  # the recorder keeps only Polis's own routes
    silent.__qualname__ = "silent"
    router.add_api_route("/silent", silent, methods=["GET"])
    app = create_app_like(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/demo/silent")).status_code == 409
    try:
        found = {label(route): codes for route, codes in undeclared()}
        assert found["GET /demo/silent (polis.demo:silent)"] == [ErrorCode.DUPLICATE]
    finally:
        for key, (route, _) in list(ANSWERED.items()):
            if route.endpoint is silent:
                del ANSWERED[key]


def create_app_like(router: DomainRouter) -> FastAPI:
    """A bare app with Polis's error handler, recorded."""
    from polis.kit.envelope import polis_error_response

    app = FastAPI()

    @app.exception_handler(PolisError)
    async def _polis_error(_: Any, exc: PolisError) -> Any:
        return polis_error_response(exc)

    app.include_router(router)
    record_errors(app)
    return app


def test_every_code_a_service_docstring_names_is_declared_on_its_route(settings: Settings) -> None:
    app = create_app(settings)
    missing = {
        label(route): sorted(code.name for code in mentioned_codes(route) - set(route.error_codes))
        for route in walk_routes(app.routes)
    }
    missing = {name: codes for name, codes in missing.items() if codes}
    assert not missing, missing


def test_every_route_declares_what_it_answered_in_this_run() -> None:
    if not ANSWERED:
        pytest.skip("no route answered an error in this run (run the whole suite)")
    found = undeclared()
    lines = [f"{label(route)}: {', '.join(c.name for c in codes)}" for route, codes in found]
    assert not lines, "routes answered codes they do not declare:\n" + "\n".join(sorted(lines))


async def test_the_recorder_sees_what_the_app_answers(settings: Settings) -> None:
    app = create_app(settings)
    record_errors(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == ErrorCode.TOKEN_INVALID.code
    routes = [route for route, codes in ANSWERED.values() if ErrorCode.TOKEN_INVALID in codes]
    assert any(route.path == "/users/me" for route in routes)
