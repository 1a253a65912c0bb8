"""The elections domain's handlers of the domain hooks (``polis.kit.hooks``).

``register`` is called at start-up by every entry point that may change units: the app
(``create_app``), the worker (``create_celery``), the CLI (``cli_support``), the test setup and
the benchmarks that run units code in-process.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from polis.elections import lifecycle
from polis.kit import hooks
from polis.units.models import Unit


async def _schedule_leader_election(session: AsyncSession, unit: Unit) -> None:
    await lifecycle.schedule_leader_election(session, unit)


def register() -> None:
    """Schedule a unit's leader election when units says one is due (idempotent)."""
    hooks.leader_election_due.register(_schedule_leader_election)
