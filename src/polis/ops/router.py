"""Liveness, readiness, metrics and the API description files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from polis import __version__
from polis.kit.envelope import ERROR_RESPONSES, Envelope, ok
from polis.kit.errors import ErrorCode, ServiceUnavailable
from polis.kit.metrics import render
from polis.kit.postman import build_collection
from polis.ops import service
from polis.ops.schemas import Health, Readiness

router = APIRouter(tags=["ops"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Envelope[Health], summary="Liveness")
async def health() -> Envelope[Health]:
    return ok(Health(status="ok", version=__version__))


@router.get("/ready", response_model=Envelope[Readiness], summary="Readiness")
async def ready(request: Request) -> Envelope[Readiness]:
    readiness = await service.check_readiness(request.app.state.engine, request.app.state.redis)
    if readiness.status != "ready":
        raise ServiceUnavailable(
            "PostgreSQL or Redis is unreachable",
            error=ErrorCode.SERVICE_UNAVAILABLE,
            details=readiness.model_dump(mode="json"),
        )
    return ok(readiness)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body, content_type = await render(request.app.state.engine, request.app.state.redis)
    return Response(content=body, media_type=content_type)


docs_router = APIRouter(tags=["ops"], responses=ERROR_RESPONSES)


@docs_router.get("/postman-collection.json", summary="Postman collection", include_in_schema=False)
async def postman_collection(request: Request) -> dict[str, Any]:
    return build_collection(request.app.openapi())
