"""The response envelope of DESIGN.md §4, used by every response the API sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from polis.kit import clock
from polis.kit.context import current_request_id
from polis.kit.errors import ErrorCode, PolisError

T = TypeVar("T")


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    timestamp: datetime
    request_id: str | None = None


class ListMeta(Meta):
    total: int
    page: int
    per_page: int
    total_pages: int
    has_next: bool
    has_prev: bool


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T
    meta: Meta


class ListEnvelope(BaseModel, Generic[T]):
    success: bool = True
    data: list[T]
    meta: ListMeta


class ErrorBody(BaseModel):
    code: int
    name: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody
    meta: Meta


def make_meta(**extra: Any) -> Meta:
    return Meta(timestamp=clock.now(), request_id=current_request_id(), **extra)


def ok(data: T) -> Envelope[T]:
    """Wrap ``data`` in a success envelope."""
    return Envelope[T](data=data, meta=make_meta())


def error_payload(
    error: ErrorCode, message: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    envelope = ErrorEnvelope(
        error=ErrorBody(
            code=error.code,
            name=error.name,
            message=message or error.default_message,
            details=details or {},
        ),
        meta=make_meta(),
    )
    return envelope.model_dump(mode="json")


def error_response(
    error: ErrorCode,
    message: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    status_code: int | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_payload(error, message, details),
        status_code=status_code or error.status,
        headers=headers,
    )


def polis_error_response(exc: PolisError) -> JSONResponse:
    return error_response(exc.error, exc.message, exc.details, exc.headers)


# Shown in OpenAPI for every route, so clients see the error shape next to the success shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "Client error, in the envelope"},
    "5XX": {"model": ErrorEnvelope, "description": "Server error, in the envelope"},
}
