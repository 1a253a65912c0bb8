"""What the notification routes answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from polis.kit.envelope import ListEnvelope, ListMeta
from polis.notifications.models import NotificationType


class NotificationOut(BaseModel):
    """A notification, its text rendered in the reader's language."""

    id: uuid.UUID
    type: NotificationType
    title: str
    body: str
    params: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class NotificationListMeta(ListMeta):
    """The list meta plus the reader's unread count (all their unread, whatever the filters)."""

    unread_count: int


class NotificationList(ListEnvelope[NotificationOut]):
    meta: NotificationListMeta


class MarkedRead(BaseModel):
    updated: int


class Deleted(BaseModel):
    deleted: bool
