"""How a service ends a state change: flush it, tell the people concerned, audit it.

Every workflow (SOS, initiatives, arbitration, endorsements, elections) ends its state changes
the same three steps, in this order: the change is flushed first so that a constraint refuses
it before anyone hears of it, then the notifications are written (deduplicated, so a retry tells
nobody twice), then the audit record. Nothing here commits: the request or the job does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.notifications.models import NotificationType
from polis.notifications.service import notify_each


@dataclass(frozen=True)
class Tell:
    """One kind of notification for a group of people; None and repeated ids are skipped."""

    type: NotificationType
    user_ids: Iterable[uuid.UUID | None]
    dedupe_key: str
    params: Mapping[str, Any] = field(default_factory=dict)


async def transition(
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entity_id: str | uuid.UUID,
    actor_id: uuid.UUID | None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    tell: Sequence[Tell] = (),
) -> None:
    """Flush a state change, write its notifications, then its audit record (flush only)."""
    await session.flush()
    for each in tell:
        await notify_each(
            session, each.user_ids, each.type, each.params, dedupe_key=each.dedupe_key
        )
    await record(
        session,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor_id,
        old=old,
        new=new,
    )
