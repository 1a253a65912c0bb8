from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from polis.users.models import Language, MemberStatus, UserRole

NextStep = Literal["join_ateuli", "create_ateuli", "find_tavdebi"]


class PersonRef(BaseModel):
    """A member as lists show them to other members: id and name, nothing else."""

    id: uuid.UUID
    display_name: str


class TerritoryRef(BaseModel):
    id: uuid.UUID
    type: str
    code: str
    name_ka: str
    name_en: str


class UnitRef(BaseModel):
    id: uuid.UUID
    name: str
    level: str
    status: str


class PublicUserOut(BaseModel):
    """What any member may see of another: never a personal ID, the phone masked."""

    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    display_name: str
    role: UserRole
    status: MemberStatus | None
    is_diaspora: bool
    territory: TerritoryRef | None
    # The member's ateuli (group of ten), if they are in one.
    unit: UnitRef | None
    phone_masked: str | None


class MeOut(PublicUserOut):
    """What members see of themselves: their own phone in full, their settings."""

    phone_number: str | None
    email: str | None
    language: Language
    is_admin: bool
    is_onboarded: bool
    is_verified: bool
    ged_number: str | None
    has_personal_id: bool
    onboarded_at: datetime | None
    created_at: datetime


class UpdateMeIn(BaseModel):
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    language: Language | None = None
    email: EmailStr | None = None


class OnboardingIn(BaseModel):
    personal_id: str = Field(min_length=1, max_length=32, description="11-digit personal number")
    ged_number: str | None = Field(default=None, max_length=32)
    status: MemberStatus
    motivation: str = Field(min_length=10, max_length=2000)
    constitution_agreed: bool
    is_diaspora: bool = False
    territory_id: uuid.UUID | None = None
    # Instead of territory_id: where the member lives; the server finds the electoral district.
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)


class OnboardingOut(BaseModel):
    user: MeOut
    next_steps: list[NextStep]


class UserExportOut(BaseModel):
    """Everything we hold about the member, as JSON (the personal ID itself is never shown)."""

    profile: MeOut
    motivation: str | None
    sessions: list[dict[str, object]]
    devices: list[dict[str, object]]
    exported_at: datetime


class DeletedOut(BaseModel):
    deleted: bool = True
