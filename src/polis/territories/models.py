"""Territories: region > municipality > electoral district (DESIGN.md §3.3).

Boundaries are GeoJSON kept as JSONB, because the embedded PostgreSQL has no PostGIS (§5.2).
Each boundary's bounding box sits in four indexed float columns: SQL narrows a point lookup to
the few boxes that hold the point, and shapely tests the polygon itself in the application.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey


class TerritoryType(enum.StrEnum):
    REGION = "region"
    MUNICIPALITY = "municipality"
    ELECTORAL_DISTRICT = "electoral_district"


# The level each type sits at; a parent is always exactly one level above its child.
LEVELS: dict[TerritoryType, int] = {
    TerritoryType.REGION: 0,
    TerritoryType.MUNICIPALITY: 1,
    TerritoryType.ELECTORAL_DISTRICT: 2,
}
PARENT_TYPE: dict[TerritoryType, TerritoryType | None] = {
    TerritoryType.REGION: None,
    TerritoryType.MUNICIPALITY: TerritoryType.REGION,
    TerritoryType.ELECTORAL_DISTRICT: TerritoryType.MUNICIPALITY,
}


class Territory(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "territories"
    __table_args__ = (
        # A point lookup filters on all four columns; the leading range on min_lat already
        # narrows the scan, the rest are checked from the index without touching the rows.
        Index("ix_territories_bbox", "min_lat", "max_lat", "min_lng", "max_lng"),
    )

    type: Mapped[TerritoryType] = mapped_column(
        Enum(TerritoryType, name="territory_type", values_callable=lambda m: [x.value for x in m]),
        nullable=False,
        index=True,
    )
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name_ka: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("territories.id", ondelete="RESTRICT"), index=True
    )
    # A GeoJSON Polygon or MultiPolygon geometry. Nullable: territories made by hand (tests,
    # an import without shapes) simply never match a point lookup.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    min_lat: Mapped[float | None] = mapped_column(Float)
    min_lng: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    max_lng: Mapped[float | None] = mapped_column(Float)
