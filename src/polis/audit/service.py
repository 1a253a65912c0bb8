"""Recording and reading the audit log.

Other domains call :func:`record` in the transaction of the change they audit, so the change and
its record commit or vanish together. A failed login, which rolls back, is recorded by raising
its error with ``keep_changes=True``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.models import (
    ACTION_MAX,
    ENTITY_ID_MAX,
    ENTITY_TYPE_MAX,
    IP_MAX,
    REQUEST_ID_MAX,
    USER_AGENT_MAX,
    AuditLog,
)
from polis.kit.context import current_request_id
from polis.kit.pagination import Page, PageParams, paginate

REDACTED = "[redacted]"

# A key whose name is or contains one of these never has its value stored. Compared without
# case or separators, so personal_id, personalId and PERSONAL-ID are all caught.
SECRET_KEY_PARTS = (
    "personal_id",
    "phone",
    "otp",
    "code",
    "token",
    "secret",
    "password",
    "fingerprint",
)
_SEPARATORS = re.compile(r"[^a-z0-9]")
_SECRET_NEEDLES = tuple(_SEPARATORS.sub("", part) for part in SECRET_KEY_PARTS)


def is_secret_key(key: str) -> bool:
    """True when a value stored under ``key`` must not be kept."""
    name = _SEPARATORS.sub("", key.lower())
    return any(needle in name for needle in _SECRET_NEEDLES)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) else _scrub(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def safe_values(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``values`` as plain JSON, with every secret-named key's value replaced by ``[redacted]``.

    Datetimes, dates, UUIDs, enums, decimals, sets, dataclasses and Pydantic models become
    their JSON forms first (so a secret inside a nested model is found too); bytes become
    base64, NaN and infinities null (PostgreSQL's JSON has no such numbers), anything else its
    ``str``.
    """
    if values is None:
        return None
    plain = to_jsonable_python(dict(values), fallback=str, bytes_mode="base64", inf_nan_mode="null")
    scrubbed: dict[str, Any] = _scrub(plain)
    return scrubbed


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


async def record(
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entity_id: str | uuid.UUID,
    actor_id: uuid.UUID | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """Write one audit record in the caller's transaction (flush only).

    ``action`` names what happened (``users.role.changed``); ``actor_id`` is None for the
    system or an anonymous caller. ``old``/``new`` hold the changed fields: values under
    secret-like names are replaced by ``[redacted]`` at any depth. The request id is taken
    from the current request, when there is one.
    """
    entry = AuditLog(
        actor_id=actor_id,
        action=action[:ACTION_MAX],
        entity_type=entity_type[:ENTITY_TYPE_MAX],
        entity_id=str(entity_id)[:ENTITY_ID_MAX],
        old_values=safe_values(old),
        new_values=safe_values(new),
        ip_address=_clip(ip, IP_MAX),
        user_agent=_clip(user_agent, USER_AGENT_MAX),
        request_id=_clip(current_request_id(), REQUEST_ID_MAX),
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilters:
    """Filters of the admin's audit search; every one that is set must match."""

    actor_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    # A half-open window: created_after <= created_at < created_before, so adjacent windows
    # neither overlap nor miss a row.
    created_after: datetime | None = None
    created_before: datetime | None = None


def _aware(moment: datetime) -> datetime:
    # A time without a zone is read as UTC, the zone of every time the API writes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def search(session: AsyncSession, filters: AuditFilters, params: PageParams) -> Page:
    """One page of audit records matching ``filters``, newest first by default."""
    statement = select(AuditLog)
    if filters.actor_id is not None:
        statement = statement.where(AuditLog.actor_id == filters.actor_id)
    if filters.entity_type is not None:
        statement = statement.where(AuditLog.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        statement = statement.where(AuditLog.entity_id == filters.entity_id)
    if filters.action is not None:
        statement = statement.where(AuditLog.action == filters.action)
    if filters.created_after is not None:
        statement = statement.where(AuditLog.created_at >= _aware(filters.created_after))
    if filters.created_before is not None:
        statement = statement.where(AuditLog.created_at < _aware(filters.created_before))
    return await paginate(
        session,
        statement,
        params,
        sortable={"created_at": AuditLog.created_at},
        default_sort="created_at",
    )
