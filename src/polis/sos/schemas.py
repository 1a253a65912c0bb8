"""SOS signals in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from polis.sos.models import (
    LOCATION_MAX,
    NOTES_MAX,
    TEXT_MAX,
    TITLE_MAX,
    EscalationReason,
    SosLevel,
    SosPriority,
    SosStatus,
)
from polis.users.models import Language
from polis.users.schemas import PersonRef

Latitude = Field(default=None, ge=-90, le=90)
Longitude = Field(default=None, ge=-180, le=180)


class MoralFilterOut(BaseModel):
    question: str
    language: Language


class SignalIn(BaseModel):
    title: str = Field(min_length=3, max_length=TITLE_MAX)
    description: str = Field(min_length=1, max_length=TEXT_MAX)
    location: str = Field(min_length=1, max_length=LOCATION_MAX)
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    # The reporter's answer to the moral-filter question (GET /sos/moral-filter).
    moral_filter_response: str = Field(min_length=1, max_length=TEXT_MAX)
    # The reporter's own estimate; it sets the verification deadline until the holder
    # verifies the signal with a priority of their own.
    priority: SosPriority = SosPriority.NORMAL


class SignalPatch(BaseModel):
    title: str | None = Field(default=None, min_length=3, max_length=TITLE_MAX)
    description: str | None = Field(default=None, min_length=1, max_length=TEXT_MAX)
    location: str | None = Field(default=None, min_length=1, max_length=LOCATION_MAX)
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    moral_filter_response: str | None = Field(default=None, min_length=1, max_length=TEXT_MAX)

    @model_validator(mode="after")
    def _texts_are_never_null(self) -> SignalPatch:
        # Leaving a field out keeps it; only the coordinates may be cleared with null.
        for name in ("title", "description", "location", "moral_filter_response"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return self


class VerifyIn(BaseModel):
    is_legitimate: bool
    # Required when the signal is not legitimate (the reporter reads them).
    verification_notes: str | None = Field(default=None, max_length=NOTES_MAX)
    # The holder's priority for a legitimate signal; default: the reporter's.
    priority: SosPriority | None = None


class EscalateIn(BaseModel):
    # Default: the next leader up. Empty levels are skipped.
    to_level: SosLevel | None = None
    notes: str | None = Field(default=None, max_length=NOTES_MAX)


class ResolveIn(BaseModel):
    resolution_notes: str = Field(min_length=1, max_length=NOTES_MAX)


class SignalOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    location: str
    latitude: float | None
    longitude: float | None
    moral_filter_response: str
    status: SosStatus
    priority: SosPriority
    reporter: PersonRef
    # The reporter's ateuli when the signal was raised (null: in none).
    ateuli_id: uuid.UUID | None
    # Who holds it: a leader at one of the unit levels, or nobody at moderators/media.
    current_level: SosLevel
    holder: PersonRef | None
    holder_unit_id: uuid.UUID | None
    level_since: datetime
    # When the sweep moves it up on its own if nobody acts (null: never).
    deadline_at: datetime | None
    escalation_count: int
    verified_at: datetime | None
    verification_notes: str | None
    resolved_at: datetime | None
    resolution_notes: str | None
    created_at: datetime
    updated_at: datetime


class EscalationOut(BaseModel):
    id: uuid.UUID
    # 0 for the first routing, then 1, 2, … for each move up.
    step: int
    from_level: SosLevel | None
    to_level: SosLevel
    from_holder: PersonRef | None
    to_holder: PersonRef | None
    # Null: the system (the deadline sweep).
    actor: PersonRef | None
    reason: EscalationReason
    notes: str | None
    at: datetime
