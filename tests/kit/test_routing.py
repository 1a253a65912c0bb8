"""Domain routers answer "no" for paths outside their prefix, and routing is otherwise unchanged."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI
from starlette.routing import Match

from polis.app import DOMAIN_ROUTERS, api_router, include_api_routes
from polis.kit.routing import DomainRouter


def _scope(path: str, method: str = "GET") -> dict[str, object]:
    return {"type": "http", "path": path, "root_path": "", "method": method}


def _tiny_app() -> tuple[FastAPI, DomainRouter, DomainRouter]:
    first = DomainRouter(prefix="/first")
    second = DomainRouter(prefix="/second")

    @first.get("/{item}")
    async def first_item(item: str) -> dict[str, str]:
        return {"router": "first", "item": item}

    @second.get("/things/")
    async def second_things() -> dict[str, str]:
        return {"router": "second"}

    api = APIRouter(prefix="/api/v1")
    include_api_routes(api, first)
    include_api_routes(api, second)
    app = FastAPI()
    app.include_router(api)
    return app, first, second


async def test_a_domain_router_refuses_paths_outside_its_prefix_without_matching() -> None:
    _, first, second = _tiny_app()
    # Outside the prefix: refused before any route is tried (no FastAPI include context is
    # needed for that answer).
    assert first.matches(_scope("/api/v1/second/things/")) == (Match.NONE, {})
    assert second.matches(_scope("/api/v1/first/x")) == (Match.NONE, {})
    # Not yet included anywhere: no shortcut, FastAPI's own matching answers.
    loose = DomainRouter(prefix="/loose")
    assert loose._mounted_prefix is None


async def test_requests_still_reach_every_router_and_misses_are_404() -> None:
    app, _, _ = _tiny_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/api/v1/first/abc")).json() == {"router": "first", "item": "abc"}
        assert (await http.get("/api/v1/second/things/")).json() == {"router": "second"}
        # The slash redirect still finds the route of the second router.
        redirected = await http.get("/api/v1/second/things")
        assert redirected.status_code == 307
        assert redirected.headers["location"].endswith("/api/v1/second/things/")
        assert (await http.get("/api/v1/third/x")).status_code == 404


def test_every_domain_router_with_a_prefix_knows_where_it_is_mounted() -> None:
    api_router()
    for router in DOMAIN_ROUTERS:
        if router.prefix:
            assert isinstance(router, DomainRouter), router.prefix
            assert router._mounted_prefix == "/api/v1" + router.prefix
