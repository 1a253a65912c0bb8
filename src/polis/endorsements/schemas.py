"""Endorsements in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from polis.endorsements.models import MESSAGE_MAX, REASON_MAX, EndorsementStatus
from polis.users.models import MemberStatus, UserRole
from polis.users.schemas import PersonRef


class RequestIn(BaseModel):
    geder_id: uuid.UUID
    message: str | None = Field(default=None, max_length=MESSAGE_MAX)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=REASON_MAX)


class LimitIn(BaseModel):
    # The 5 to 10 range is a rule of §3.2, checked by the service (422/2003), not a format.
    limit: int


class AteuliRef(BaseModel):
    id: uuid.UUID
    name: str


class AvailableGederOut(BaseModel):
    id: uuid.UUID
    display_name: str
    territory_id: uuid.UUID | None
    ateuli: AteuliRef | None
    available_slots: int
    total_slots: int
    endorsement_count: int


class EndorsementOut(BaseModel):
    id: uuid.UUID
    status: EndorsementStatus
    requester: PersonRef
    geder: PersonRef
    message: str | None
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    reject_reason: str | None
    revoked_at: datetime | None
    revoke_reason: str | None
    penalty: bool


class SupporterOut(BaseModel):
    endorsement_id: uuid.UUID
    id: uuid.UUID
    display_name: str
    status: MemberStatus | None
    endorsed_at: datetime | None
    flagged_for_review: bool


class SuspensionOut(BaseModel):
    suspended: bool
    permanent: bool
    until: datetime | None
    since: datetime | None
    case_id: uuid.UUID | None


class MyStatusOut(BaseModel):
    role: UserRole
    # The GeDer side: how many I may vouch for, how many I do, whether I may now.
    endorsement_limit: int
    used_slots: int
    available_slots: int
    can_endorse: bool
    suspension: SuspensionOut
    # The supporter side: who vouches for me, and my request waiting for an answer.
    tavdebi: PersonRef | None
    pending_request_id: uuid.UUID | None


class GederRightsOut(BaseModel):
    geder_id: uuid.UUID
    endorsement_limit: int
    used_slots: int
    suspension: SuspensionOut
