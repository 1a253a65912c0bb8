"""What the notification routes answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from polis.kit.envelope import ListEnvelope, ListMeta
from polis.notifications.models import (
    PUSH_TOKEN_MAX,
    Channel,
    NotificationType,
    PushPlatform,
)


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


class TypePreferenceOut(BaseModel):
    """One notification type: the channels it may use at all, and those the member has on."""

    type: NotificationType
    allowed: list[Channel]
    enabled: list[Channel]


class PreferencesOut(BaseModel):
    items: list[TypePreferenceOut]


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: NotificationType
    channel: Channel
    enabled: bool


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PreferenceIn] = Field(max_length=3 * len(NotificationType))


class PushDeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=PUSH_TOKEN_MAX, pattern=r"^[\x21-\x7e]+$")
    platform: PushPlatform


class PushDeviceOut(BaseModel):
    """A registered push device. The token is not echoed back: the app already has it."""

    id: uuid.UUID
    platform: PushPlatform
    created_at: datetime
    last_seen_at: datetime


class DeliveryOut(BaseModel):
    """One delivery of the outbox, as an admin sees it. The address is never shown whole: a push
    device by its platform, an email by its first letter and domain, a phone masked."""

    id: uuid.UUID
    notification_id: uuid.UUID
    user_id: uuid.UUID
    type: str = Field(description="The notification's type")
    channel: Channel
    target: str | None = Field(
        description="push: the device's platform; email: masked address; sms: masked phone; "
        "null when the device or address is gone"
    )
    status: str = Field(description="pending, sending, sent, failed_permanent or dead")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
