"""What the suite's requests answered, per route, to hold against what each route declares.

``record_errors(app)`` wraps the app's ``PolisError`` handler: every error envelope a Polis
route sends during the run is noted under that route. ``tests/test_declared_errors.py`` runs
last and fails on any code a route answered without declaring it (``polis.kit.routing``).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from polis.kit.errors import ErrorCode, PolisError
from polis.kit.routing import PolisRoute

# id(route) -> (route, the codes its answers carried during this run); routes are unhashable.
ANSWERED: dict[int, tuple[PolisRoute, set[ErrorCode]]] = {}

Handler = Callable[[Request, Exception], Awaitable[Response]]

_CODES = {code.code: code for code in ErrorCode}
_CODE_PATTERN = re.compile(r"\b([1-5]\d{3})\b")


def _is_ours(route: object) -> bool:
    # Routers a test builds for itself (tests.*) are not part of the contract.
    return isinstance(route, PolisRoute) and route.endpoint.__module__.startswith("polis.")


def record_errors(app: FastAPI) -> None:
    """Note, per route, the code of every ``PolisError`` envelope ``app`` answers."""
    handler = cast(Handler, app.exception_handlers[PolisError])

    async def recording(request: Request, exc: Exception) -> Response:
        route = request.scope.get("route")
        if _is_ours(route) and isinstance(exc, PolisError):
            entry = ANSWERED.setdefault(id(route), (cast(PolisRoute, route), set()))
            entry[1].add(exc.error)
        return await handler(request, exc)

    app.exception_handlers[PolisError] = recording


def label(route: PolisRoute) -> str:
    """``POST /sos/signals (polis.sos.router:raise_signal)``: what to fix and where."""
    methods = ",".join(sorted(route.methods or ()))
    endpoint = route.endpoint
    return f"{methods} {route.path} ({endpoint.__module__}:{endpoint.__qualname__})"


def undeclared() -> list[tuple[PolisRoute, list[ErrorCode]]]:
    """Routes that answered a code they do not declare, with those codes."""
    found = []
    for route, codes in ANSWERED.values():
        missing = [code for code in ErrorCode if code in codes and code not in route.error_codes]
        if missing:
            found.append((route, missing))
    return found


def walk_routes(routes: list[BaseRoute]) -> Iterator[PolisRoute]:
    """Every Polis route of an app, through included routers kept whole (FastAPI 0.165)."""
    for route in routes:
        if _is_ours(route):
            yield cast(PolisRoute, route)
        inner: Any = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and getattr(inner, "routes", None) is not None:
            yield from walk_routes(inner.routes)


def _called_docstrings(endpoint: Callable[..., Any]) -> list[str]:
    """Docstrings of the functions ``endpoint`` calls by name (``sos.raise_signal(...)``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(endpoint)))
    except (OSError, TypeError):
        return []
    scope = getattr(endpoint, "__globals__", {})
    docs = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target: Any = None
        if isinstance(node.func, ast.Name):
            target = scope.get(node.func.id)
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            target = getattr(scope.get(node.func.value.id), node.func.attr, None)
        if callable(target) and getattr(target, "__module__", "").startswith("polis."):
            docs.append(inspect.getdoc(target) or "")
    return docs


def mentioned_codes(route: PolisRoute) -> set[ErrorCode]:
    """Catalogue codes the endpoint's docstring and those of the services it calls name."""
    texts = [inspect.getdoc(route.endpoint) or "", *_called_docstrings(route.endpoint)]
    return {
        _CODES[int(number)]
        for text in texts
        for number in _CODE_PATTERN.findall(text)
        if int(number) in _CODES
    }
