"""Answers of /gamification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from polis.territories.schemas import TerritoryRefOut
from polis.units.models import UnitLevel, UnitStatus


class ChainUnitOut(BaseModel):
    id: uuid.UUID
    name: str
    level: UnitLevel
    status: UnitStatus
    member_count: int = Field(description="members of an ateuli; direct child units above it")
    led: bool


class ProgressOut(BaseModel):
    current_level: UnitLevel | None = Field(description="the highest level reached; null: none")
    next_level: UnitLevel | None = Field(description="null once an ataseuli is reached")
    counts: Literal["members", "led_units", "none"] = Field(
        description="what have/required/needed count"
    )
    have: int
    required: int
    needed: int
    percent: int = Field(ge=0, le=100)
    leader_needed: bool = Field(
        description="true when the member's own top unit must elect a leader before it counts"
    )
    chain: list[ChainUnitOut]


class TerritoryProgressOut(BaseModel):
    territory: TerritoryRefOut
    current_level: UnitLevel | None
    next_level: UnitLevel | None
    members: int = Field(description="verified members living in the territory or below")
    members_required: int = Field(description="members one unit of the next level stands for")
    members_needed: int
    units_level: UnitLevel | None = Field(description="the level of the child units counted")
    units: int = Field(description="led, active, unattached child units holding its ateulis")
    units_required: int
    units_needed: int
    percent: int = Field(ge=0, le=100, description="members / members_required")
    message: str


class CapabilityOut(BaseModel):
    code: str
    level: UnitLevel
    title_en: str
    title_ka: str
    unlocked: bool


class CapabilitiesOut(BaseModel):
    unlocked_level: UnitLevel | None
    capabilities: list[CapabilityOut]


class AchievementOut(BaseModel):
    code: str
    achieved: bool
    awarded_at: datetime | None


class LeaderboardItemOut(BaseModel):
    rank: int
    territory: TerritoryRefOut
    members: int
    growth_30d: int
