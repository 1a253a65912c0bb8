"""Territories: region > municipality > electoral district (DESIGN.md §3.3).

This is the part members need to say where they live. Imports, boundaries lookups and the
territory endpoints build on it.
"""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey


class TerritoryType(enum.StrEnum):
    REGION = "region"
    MUNICIPALITY = "municipality"
    ELECTORAL_DISTRICT = "electoral_district"


class Territory(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "territories"

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
