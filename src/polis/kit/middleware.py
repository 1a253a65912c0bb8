"""The outermost ASGI middleware: request id, access log, metrics and the last-resort 500.

It is pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task per request and
breaks streaming. Catching the unhandled exception here (and not in Starlette's
ServerErrorMiddleware, which sits outside every user middleware) keeps the request id header,
the access log and the metrics right for 500s too.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polis.kit import metrics
from polis.kit.context import request_id_var
from polis.kit.envelope import error_payload
from polis.kit.errors import ErrorCode
from polis.kit.logging import get_logger
from polis.kit.ratelimit import RATE_LIMIT_STATE, LimitState

log = get_logger("polis.http")

REQUEST_ID_HEADER = "x-request-id"
# A client-supplied id is echoed only if it is short and plain; anything else is replaced.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


# Set on each route by polis.app.include_api_routes: the full path template of the route.
ROUTE_TEMPLATE_ATTR = "polis_route_template"


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, ROUTE_TEMPLATE_ATTR, None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    router = getattr(app, "router", None)
    for candidate in getattr(router, "routes", []):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        metrics.HTTP_IN_PROGRESS.inc()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                headers.extend(_rate_limit_headers(scope, headers))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            # The route template, never the raw path: a path may carry a token or a phone.
            log.exception("http.unhandled_exception", route=_route_template(scope))
            if not response_started:
                await _send_internal_error(send_with_request_id)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            metrics.HTTP_IN_PROGRESS.dec()
            metrics.observe_request(scope["method"], route, status, elapsed)
            log.info(
                "http.request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            request_id_var.reset(token)


def _rate_limit_headers(
    scope: Scope, present: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The limit state a rate-limit dependency left, unless the answer already carries it."""
    state = scope.get("state", {}).get(RATE_LIMIT_STATE)
    if not isinstance(state, LimitState):
        return []
    names = {name.lower() for name, _ in present}
    return [(k, v) for k, v in state.raw_headers() if k not in names]


async def _send_internal_error(send: Send) -> None:
    body = json.dumps(error_payload(ErrorCode.INTERNAL)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
