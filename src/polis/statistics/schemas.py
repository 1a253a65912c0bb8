"""Answers of /statistics."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from polis.territories.schemas import TerritoryRefOut
from polis.units.models import UnitLevel, UnitStatus
from polis.users.models import MemberStatus, UserRole


class GrowthOut(BaseModel):
    daily: int = Field(description="in the last 24 hours")
    weekly: int = Field(description="in the last 7 days")
    monthly: int = Field(description="in the last 30 days")


class LevelCountsOut(BaseModel):
    total: int
    active: int
    forming: int
    inactive: int


class UnitsOut(BaseModel):
    ateuli: LevelCountsOut
    ormotsdaateuli: LevelCountsOut
    aseuli: LevelCountsOut
    ataseuli: LevelCountsOut


class PlatformStatisticsOut(BaseModel):
    users: int = Field(description="accounts not deleted")
    verified: int
    geders: int
    supporters: int
    active: int
    passive: int
    units: UnitsOut
    open_elections: int = Field(description="elections open for voting now")
    pending_sos: int = Field(description="0 until SOS exists")
    active_initiatives: int = Field(description="0 until initiatives exist")
    registrations: GrowthOut
    verified_growth: GrowthOut


class TerritoryStatisticsOut(BaseModel):
    territory: TerritoryRefOut
    members: int
    geders: int
    supporters: int
    active: int
    passive: int
    units: UnitsOut
    members_in_ateulis: int
    verified_growth: GrowthOut


class AteuliStatisticsOut(BaseModel):
    id: uuid.UUID
    name: str
    status: UnitStatus
    territory_id: uuid.UUID
    member_count: int
    capacity: int
    led: bool
    geders: int
    supporters: int
    active: int
    passive: int
    joined_30d: int
    left_30d: int
    ever_members: int = Field(description="distinct members it has ever had")
    levels_above: list[UnitLevel]
    activated_at: datetime | None
    created_at: datetime


class SeatOut(BaseModel):
    unit_id: uuid.UUID
    unit_name: str
    level: UnitLevel
    since: datetime


class UserStatisticsOut(BaseModel):
    id: uuid.UUID
    display_name: str
    role: UserRole
    status: MemberStatus | None
    verified: bool
    member_since: datetime | None = Field(description="when onboarding was completed")
    ateuli_id: uuid.UUID | None
    ateuli_name: str | None
    ateulis_joined: int
    seats: list[SeatOut]
    terms_served: int
    achievements: int
