"""Units in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from polis.units.models import MESSAGE_MAX, NAME_MAX, UnitLevel, UnitStatus
from polis.users.schemas import PublicUserOut


class CreateAteuliIn(BaseModel):
    name: str = Field(min_length=2, max_length=NAME_MAX)
    territory_id: uuid.UUID


class RenameIn(BaseModel):
    name: str = Field(min_length=2, max_length=NAME_MAX)


class JoinIn(BaseModel):
    message: str | None = Field(default=None, max_length=MESSAGE_MAX)


class LeaderRef(BaseModel):
    id: uuid.UUID
    display_name: str
    since: datetime | None = None


class UnitOut(BaseModel):
    id: uuid.UUID
    name: str
    level: UnitLevel
    status: UnitStatus
    territory_id: uuid.UUID
    parent_id: uuid.UUID | None
    # Members for an ateuli; direct child units above it.
    member_count: int
    capacity: int
    has_space: bool
    leader: LeaderRef | None
    leader_election_due_at: datetime | None
    activated_at: datetime | None
    created_at: datetime


class MemberOut(PublicUserOut):
    is_leader: bool = False


class LevelTotals(BaseModel):
    level: UnitLevel
    total: int
    forming: int
    active: int
    inactive: int
    led: int


class OverviewOut(BaseModel):
    levels: list[LevelTotals]
    members_in_ateulis: int
    satatbiro_size: int


class SeatOut(BaseModel):
    unit: UnitOut
    started_at: datetime
    election_id: uuid.UUID | None


class SatatbiroMemberOut(BaseModel):
    leader: LeaderRef
    unit: UnitOut


class MyPositionOut(BaseModel):
    positions: list[SeatOut]
    ateuli: UnitOut | None
    # My ateuli, then each unit above it, up to the top that exists.
    path: list[UnitOut]
