"""Real time: ``GET /ws`` and the per-process Redis pub/sub hub (docs/realtime.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from polis.realtime.hub import RealtimeHub
from polis.realtime.router import router

HUB_STATE_ATTR = "realtime_hub"
_INSTALLED_ATTR = "realtime_installed"


def install_realtime(app: FastAPI) -> None:
    """Add ``/ws`` (at the root, not under /api/v1) and the hub's start/stop to ``app``.

    The app's lifespan is wrapped: the hub starts after the app's own startup (settings and
    Redis are ready) and stops before its shutdown. Calling this twice is harmless.
    """
    if getattr(app.state, _INSTALLED_ATTR, False):
        return
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[None]:
        # Polis's lifespan keeps its state on app.state and yields nothing.
        async with inner(application):
            await start_hub(app)
            try:
                yield
            finally:
                await stop_hub(app)

    app.router.lifespan_context = lifespan
    setattr(app.state, _INSTALLED_ATTR, True)


async def start_hub(app: FastAPI) -> RealtimeHub:
    """Create and start the process's hub as ``app.state.realtime_hub``."""
    hub: RealtimeHub | None = getattr(app.state, HUB_STATE_ATTR, None)
    if hub is None:
        redis_url = app.state.settings.redis_url
        if not redis_url:
            raise RuntimeError("POLIS_REDIS_URL is not set")
        hub = RealtimeHub(redis_url)
        setattr(app.state, HUB_STATE_ATTR, hub)
    await hub.start()
    return hub


async def stop_hub(app: FastAPI) -> None:
    """Stop the hub; the server closes the open connections as it shuts down."""
    hub: RealtimeHub | None = getattr(app.state, HUB_STATE_ATTR, None)
    if hub is not None:
        await hub.stop()
        setattr(app.state, HUB_STATE_ATTR, None)


__all__ = ["RealtimeHub", "install_realtime", "start_hub", "stop_hub"]
