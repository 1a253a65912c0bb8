"""The application factory: routers, middleware, exception handlers and lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from polis import __version__
from polis.admin.router import router as admin_router
from polis.arbitration.router import router as arbitration_router
from polis.audit.router import router as audit_router
from polis.auth.deps import resolve_subject
from polis.auth.router import router as auth_router
from polis.config import Settings, get_settings
from polis.elections.hooks import register as register_election_hooks
from polis.elections.router import router as elections_router
from polis.endorsements.router import admin_router as endorsements_admin_router
from polis.endorsements.router import router as endorsements_router
from polis.gamification.router import router as gamification_router
from polis.initiatives.router import router as initiatives_router
from polis.kit.cache import ResponseCache
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.envelope import ERROR_RESPONSES, error_response, polis_error_response
from polis.kit.errors import ErrorCode, PolisError
from polis.kit.events import TaskJob
from polis.kit.idempotency import IdempotencyMiddleware, IdempotentReplay
from polis.kit.logging import configure_logging, get_logger
from polis.kit.middleware import ROUTE_TEMPLATE_ATTR, RequestContextMiddleware
from polis.kit.ratelimit import RateLimiter, default_rate_limit
from polis.kit.redis import create_redis
from polis.kit.routing import DomainRouter
from polis.maintenance.router import router as maintenance_reports_router
from polis.models import import_all_models
from polis.notifications.admin_router import router as deliveries_admin_router
from polis.notifications.router import router as notifications_router
from polis.ops.router import docs_router
from polis.ops.router import router as ops_router
from polis.realtime import install_realtime
from polis.sms.router import dev_router
from polis.sos.router import router as sos_router
from polis.statistics.router import router as statistics_router
from polis.territories.router import router as territories_router
from polis.units.router import hierarchy_router
from polis.units.router import router as ateulis_router
from polis.users.router import router as users_router

log = get_logger(__name__)

API_PREFIX = "/api/v1"

# Every domain's router, in the order the API documentation lists them.
DOMAIN_ROUTERS: tuple[APIRouter, ...] = (
    auth_router,
    users_router,
    territories_router,
    ateulis_router,
    hierarchy_router,
    endorsements_router,
    arbitration_router,
    initiatives_router,
    gamification_router,
    statistics_router,
    notifications_router,
    admin_router,
    maintenance_reports_router,
    deliveries_admin_router,
    endorsements_admin_router,
    audit_router,
    docs_router,
    sos_router,
    elections_router,
)

_HTTP_STATUS_ERRORS = {
    400: ErrorCode.BAD_FORMAT,
    401: ErrorCode.TOKEN_INVALID,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.ALREADY_EXISTS,
    429: ErrorCode.RATE_LIMITED,
}


def include_api_routes(api: APIRouter, router: APIRouter) -> None:
    """Include ``router`` under the ``/api/v1`` router ``api``, naming each route's template.

    FastAPI hands the middleware the route object of the included router, whose path lacks the
    outer prefix; the metrics and access log need the whole template (``/api/v1/users/{id}``).
    """
    for route in router.routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            setattr(route, ROUTE_TEMPLATE_ATTR, api.prefix + path)
    if isinstance(router, DomainRouter):
        router.mounted_at(api.prefix)
    api.include_router(router)


def api_router(*routers: APIRouter) -> APIRouter:
    """The ``/api/v1`` router with ``routers`` in it (by default, every domain's)."""
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(default_rate_limit)], responses=ERROR_RESPONSES
    )
    for router in routers or DOMAIN_ROUTERS:
        include_api_routes(api, router)
    return api


def _send_task_for(settings: Settings) -> Any:
    from polis.worker import create_celery

    celery = create_celery(settings)

    def send_task(job: TaskJob) -> None:
        # Fire and forget: the API never reads a task's result, and subscribing to one makes
        # every publish fail for good once Redis has restarted ("must be restarted").
        celery.send_task(job.name, args=list(job.args), kwargs=job.kwargs, ignore_result=True)

    return send_task


def _require_url(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(
            f"{name} is not set: start Polis with `polis dev` (embedded servers) or set it"
        )
    return value


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(
        _require_url(settings.database_url, "POLIS_DATABASE_URL"),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    redis_url = _require_url(settings.redis_url, "POLIS_REDIS_URL")
    redis = create_redis(redis_url)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.redis = redis
    app.state.rate_limiter = RateLimiter(redis_url)
    app.state.response_cache = ResponseCache(redis)
    app.state.send_task = _send_task_for(settings)
    _freeze_startup_objects()
    log.info("app.started", env=settings.env, version=__version__)
    try:
        yield
    finally:
        gc.unfreeze()
        await redis.aclose()
        await engine.dispose()
        log.info("app.stopped")


def _freeze_startup_objects() -> None:
    """Keep what startup loaded (modules, models, routes, settings) out of the garbage
    collector's full passes: it lives as long as the process. Measured in an API worker under
    the vote benchmark, a full pass walked all of it (about 160,000 objects), found almost
    nothing to free and paused the process 80 to 180 ms every few seconds; with the startup
    objects frozen a full pass takes 4 to 9 ms. Shutdown unfreezes them.
    """
    gc.collect()
    gc.freeze()


# SQLSTATE class 22, "data exception": 22021 (a NUL character in text), 22003 (a number out of
# range), 22008 (a date out of range) and their kin.
DATA_EXCEPTION_CLASS = "22"


def _sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of a driver error (asyncpg keeps it on the error SQLAlchemy wraps)."""
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate
    return None


def _install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(PolisError)
    async def _polis_error(_: Request, exc: PolisError) -> JSONResponse:
        return polis_error_response(exc)

    @app.exception_handler(IdempotentReplay)
    async def _replay(_: Request, exc: IdempotentReplay) -> Response:
        headers = dict(exc.headers)
        headers["Idempotent-Replayed"] = "true"
        return Response(content=exc.body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err.get("loc", ()) if part != "body"),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        missing = any(err["type"] == "missing" for err in errors)
        code = ErrorCode.MISSING_FIELD if missing else ErrorCode.BAD_FORMAT
        return error_response(code, details={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if code is None:
            code = ErrorCode.INTERNAL if exc.status_code >= 500 else ErrorCode.BAD_FORMAT
        message = code.default_message if exc.status_code in _HTTP_STATUS_ERRORS else None
        return error_response(
            code, message, headers=dict(exc.headers or {}), status_code=exc.status_code
        )

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or isinstance(exc.orig, OSError):
            log.warning("db.unavailable", error=type(exc.orig).__name__)
            return error_response(ErrorCode.DATABASE)
        sqlstate = _sqlstate(exc)
        if sqlstate is not None and sqlstate.startswith(DATA_EXCEPTION_CLASS):
            # A value PostgreSQL cannot take (a NUL character in text, a number or date out of
            # its range) is the client's bad input, not our failure; the schema should have
            # refused it first, hence the warning.
            log.warning("db.bad_input", sqlstate=sqlstate)
            return error_response(
                ErrorCode.BAD_FORMAT, "A value in the request cannot be stored or searched."
            )
        log.exception("db.error")
        return error_response(ErrorCode.INTERNAL)

    @app.exception_handler(RedisError)
    async def _redis(_: Request, exc: RedisError) -> JSONResponse:
        log.warning("redis.unavailable", error=type(exc).__name__)
        return error_response(ErrorCode.SERVICE_UNAVAILABLE)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Polis API. ``settings`` defaults to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Relationships between domains resolve by table name: every model must be known.
    import_all_models()
    register_election_hooks()
    app = FastAPI(
        title="Digital Polis API",
        version=__version__,
        description="The server of Digital Polis: a community that governs itself bottom-up.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        debug=False,
        # Polis exports Prometheus metrics and no OpenTelemetry; FastAPI's native telemetry
        # would still ask OpenTelemetry for its providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.subject_resolver = resolve_subject
    _install_exception_handlers(app)
    app.include_router(ops_router)
    app.include_router(api_router())
    install_realtime(app)
    if settings.is_development:
        # Development helpers (the SMS outbox) do not exist anywhere else: 404 in production.
        app.include_router(api_router(dev_router))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining"],
        )
    app.add_middleware(IdempotencyMiddleware)
    # Added last, so it is the outermost: it sees every request and every answer.
    app.add_middleware(RequestContextMiddleware)
    return app
