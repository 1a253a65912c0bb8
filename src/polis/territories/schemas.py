"""Territory answers."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from polis.kit.presenting import from_row
from polis.territories.models import Territory, TerritoryType
from polis.units.models import Unit, UnitStatus
from polis.users.models import User


class TerritoryRefOut(BaseModel):
    id: uuid.UUID
    type: TerritoryType
    code: str
    name_ka: str
    name_en: str

    @classmethod
    def of(cls, territory: Territory) -> TerritoryRefOut:
        return from_row(cls, territory)


class TerritoryOut(TerritoryRefOut):
    parent_id: uuid.UUID | None
    bbox: list[float] | None = Field(
        description="[min_lng, min_lat, max_lng, max_lat] of the boundary (GeoJSON order)"
    )

    @classmethod
    def of(cls, territory: Territory) -> TerritoryOut:
        corners = (territory.min_lng, territory.min_lat, territory.max_lng, territory.max_lat)
        bbox = [float(v) for v in corners if v is not None]
        return from_row(cls, territory, bbox=bbox if len(bbox) == 4 else None)


class TerritoryListItemOut(TerritoryOut):
    member_count: int = Field(description="verified members here or in any territory below")
    ateuli_count: int = Field(description="ateulis (forming or active) here or below")


class TerritoryDetailOut(TerritoryOut):
    parents: list[TerritoryRefOut] = Field(description="the ancestors, the region first")
    boundary: dict[str, Any] | None = Field(description="GeoJSON Polygon or MultiPolygon")


class TerritoryStatisticsOut(BaseModel):
    territory: TerritoryRefOut
    members: int
    geders: int
    supporters: int
    active: int
    passive: int
    ateulis: int
    children: int = Field(description="territories directly below")
    municipalities: int = Field(description="municipalities anywhere below")
    electoral_districts: int = Field(description="electoral districts anywhere below")


class AteuliSummaryOut(BaseModel):
    """An ateuli in a territory's list."""

    id: uuid.UUID
    name: str
    territory_id: uuid.UUID = Field(description="the ateuli's electoral district")
    status: UnitStatus = Field(description="forming or active (dissolved ateulis are not listed)")
    member_count: int
    leader_id: uuid.UUID | None = Field(description="the sitting atistavi, if the seat is filled")
    leader_name: str | None

    @classmethod
    def of(cls, unit: Unit, leader: User | None) -> AteuliSummaryOut:
        return from_row(
            cls,
            unit,
            leader_id=leader.id if leader is not None else None,
            leader_name=leader.display_name if leader is not None else None,
        )
