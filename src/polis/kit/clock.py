"""The clock seam: every rule that reads the time reads it here, so tests can move it.

Production reads the system clock. Tests call :func:`freeze` / :func:`advance` instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime | None = None) -> datetime:
    """Stop the clock at ``at`` (default: the current time) and return it."""
    global _frozen
    moment = at if at is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("the clock only holds timezone-aware datetimes")
    _frozen = moment.astimezone(UTC)
    return _frozen


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward by ``delta``."""
    if _frozen is None:
        raise RuntimeError("freeze the clock before advancing it")
    return freeze(_frozen + delta)


def unfreeze() -> None:
    global _frozen
    _frozen = None


@contextmanager
def frozen(at: datetime | None = None) -> Iterator[datetime]:
    """Freeze the clock for the duration of a ``with`` block."""
    moment = freeze(at)
    try:
        yield moment
    finally:
        unfreeze()
