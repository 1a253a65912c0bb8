"""What the development SMS outbox route answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class OutboxMessage(BaseModel):
    """One SMS the outbox adapter 'sent', with its full text (development only)."""

    text: str
    sent_at: datetime
    sender: str
