"""Rate limits on Redis, with the ``limits`` library's sliding-window counter.

Every limit is a setting (``POLIS_RATE_LIMIT_*``). A route declares the limit it needs as a
dependency; the ``/api/v1`` router declares the default tier limit for every route. Answers carry
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds), and a
request past the limit gets 429 in the envelope.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from polis.config import Settings
from polis.kit.errors import ErrorCode, RateLimited
from polis.kit.http import request_subject
from polis.kit.logging import get_logger
from polis.kit.routing import errors

log = get_logger(__name__)

# Where enforce() leaves the tightest limit seen while handling the request.
RATE_LIMIT_STATE = "rate_limit"

TIER_SETTINGS = {
    "anonymous": "rate_limit_anonymous",
    "authenticated": "rate_limit_authenticated",
    "leader": "rate_limit_leader",
}


@dataclass(frozen=True)
class LimitState:
    limit: int
    remaining: int
    reset_at: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(k.lower().encode(), v.encode()) for k, v in self.headers().items()]


class RateLimiter:
    """Counts hits per (name, key) in Redis."""

    def __init__(self, redis_url: str) -> None:
        storage_url = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
        self._storage = RedisStorage(storage_url, implementation="redispy", key_prefix="polis:rl")
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)

    async def hit(self, rule: str, name: str, key: str, cost: int = 1) -> tuple[bool, LimitState]:
        item: RateLimitItem = parse(rule)
        allowed = await self._strategy.hit(item, name, key, cost=cost)
        stats = await self._strategy.get_window_stats(item, name, key)
        state = LimitState(
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_at=math.ceil(stats.reset_time),
        )
        return allowed, state

    async def reset(self) -> None:
        await self._storage.reset()


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def enforce(request: Request, *, name: str, rule: str, key: str, cost: int = 1) -> None:
    """Count one hit of ``rule`` for ``key``; raise 429 past the limit, else set the headers."""
    if not _settings(request).rate_limit_enabled:
        return
    try:
        allowed, state = await _limiter(request).hit(rule, name, key, cost)
    except Exception:
        # Failing open: an unreachable Redis must not take the whole API down with it.
        log.warning("ratelimit.unavailable", limit=name)
        return
    if not allowed:
        retry_after = max(1, math.ceil(state.reset_at - time.time()))
        raise RateLimited(
            details={"limit": state.limit, "reset_at": state.reset_at, "scope": name},
            headers={**state.headers(), "Retry-After": str(retry_after)},
        )
    # A narrower route limit (send-code, SOS) may be tighter than the tier: show the tighter.
    # The headers ride on the request state, and RequestContextMiddleware puts them on whatever
    # answer goes out, including responses a route builds itself and error envelopes.
    current: LimitState | None = getattr(request.state, RATE_LIMIT_STATE, None)
    if current is None or current.remaining >= state.remaining:
        setattr(request.state, RATE_LIMIT_STATE, state)


@errors(ErrorCode.RATE_LIMITED)
async def default_rate_limit(request: Request) -> None:
    """The tier limit every ``/api/v1`` route carries: anonymous, authenticated or leader."""
    settings = _settings(request)
    if not settings.rate_limit_enabled:
        return  # naming the caller costs a token verification: skip it when nothing counts
    tier, key = request_subject(request)
    rule = getattr(settings, TIER_SETTINGS[tier])
    await enforce(request, name=f"tier:{tier}", rule=rule, key=key)


KeyFunction = Callable[[Request], Awaitable[str | None]]


def rate_limit(
    setting: str, key: KeyFunction | None = None
) -> Callable[[Request], Awaitable[None]]:
    """A route dependency for the limit in setting ``setting`` (for example ``rate_limit_sos``).

    ``key`` picks what is counted (a phone number from the body, say); by default the
    request's subject.
    """

    @errors(ErrorCode.RATE_LIMITED)
    async def dependency(request: Request) -> None:
        rule = getattr(_settings(request), setting)
        subject = await key(request) if key is not None else request_subject(request)[1]
        if subject is None:
            return  # nothing to count by (a malformed body): validation answers instead
        await enforce(request, name=setting, rule=rule, key=subject)

    return dependency
