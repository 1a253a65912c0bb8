"""Territory answers."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from polis.territories.models import Territory, TerritoryType


class TerritoryRefOut(BaseModel):
    id: uuid.UUID
    type: TerritoryType
    code: str
    name_ka: str
    name_en: str

    @classmethod
    def of(cls, territory: Territory) -> TerritoryRefOut:
        return cls(
            id=territory.id,
            type=territory.type,
            code=territory.code,
            name_ka=territory.name_ka,
            name_en=territory.name_en,
        )


class TerritoryOut(TerritoryRefOut):
    parent_id: uuid.UUID | None
    bbox: list[float] | None = Field(
        description="[min_lng, min_lat, max_lng, max_lat] of the boundary (GeoJSON order)"
    )

    @classmethod
    def of(cls, territory: Territory) -> TerritoryOut:
        corners = (territory.min_lng, territory.min_lat, territory.max_lng, territory.max_lat)
        bbox = [float(v) for v in corners if v is not None]
        return cls(
            **TerritoryRefOut.of(territory).model_dump(),
            parent_id=territory.parent_id,
            bbox=bbox if len(bbox) == 4 else None,
        )


class TerritoryListItemOut(TerritoryOut):
    member_count: int = Field(description="verified members here or in any territory below")
    ateuli_count: int = Field(description="ateulis here or below (0 until units exist)")


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
    """An ateuli in a territory's list; the units issue fills this list."""

    id: uuid.UUID
    name: str
    status: str
    member_count: int
