"""Domain hooks: one domain announces that something is due, another one acts on it.

A hook lets a lower domain hand work to a domain built on top of it without importing that
domain (which would be an import cycle). The domain that acts registers its handler at start-up
(the app, the worker, the CLI and the test setup all do); firing a hook nobody registered for
is a wiring bug and raises, rather than silently dropping the work.

kit knows no domain: the hooks speak of their subjects as opaque objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec

from sqlalchemy.ext.asyncio import AsyncSession

P = ParamSpec("P")


class Hook(Generic[P]):
    """One named hook with at most one handler; registering again replaces the handler."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handler: Callable[P, Awaitable[None]] | None = None

    def register(self, handler: Callable[P, Awaitable[None]]) -> None:
        self._handler = handler

    def unregister(self) -> None:
        self._handler = None

    @property
    def registered(self) -> bool:
        return self._handler is not None

    async def fire(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run the handler (in the caller's transaction, if it is given a session)."""
        if self._handler is None:
            raise RuntimeError(
                f"No handler is registered for polis.kit.hooks.{self.name}: the domain that "
                f"acts on it must call {self.name}.register(...) at start-up (the app, the "
                "worker, the CLI and the test setup do)."
            )
        await self._handler(*args, **kwargs)


# A unit must elect its leader: ``(session, unit)``, flush only; the handler schedules the
# election (idempotent). Fired by the units domain.
leader_election_due: Hook[[AsyncSession, Any]] = Hook("leader_election_due")
