"""Members of the community."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, SoftDelete, Timestamps, UUIDPrimaryKey


class UserRole(enum.StrEnum):
    UNVERIFIED = "unverified"
    SUPPORTER = "supporter"
    GEDER = "geder"


class MemberStatus(enum.StrEnum):
    PASSIVE = "passive"
    ACTIVE = "active"


class Language(enum.StrEnum):
    KA = "ka"
    EN = "en"


def pg_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A PostgreSQL enum type that stores the members' values (``geder``), not their names."""
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members])


class User(UUIDPrimaryKey, Timestamps, SoftDelete, Base):
    __tablename__ = "users"

    # Personal data is stored encrypted; lookups go through keyed blind indexes (§3.1).
    # An anonymised (deleted) member keeps the row, so their votes stay counted, but loses both.
    phone_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    personal_id_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    personal_id_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)

    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[Language] = mapped_column(
        pg_enum(Language, "language"), default=Language.KA, nullable=False
    )
    role: Mapped[UserRole] = mapped_column(
        pg_enum(UserRole, "user_role"), default=UserRole.UNVERIFIED, nullable=False, index=True
    )
    status: Mapped[MemberStatus | None] = mapped_column(pg_enum(MemberStatus, "member_status"))
    is_admin: Mapped[bool] = mapped_column(default=False, nullable=False)

    # Onboarding (§3.1).
    ged_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    ged_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    motivation: Mapped[str | None] = mapped_column(Text)
    constitution_agreed_at: Mapped[datetime | None] = mapped_column(default=None)
    is_diaspora: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)
    territory_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("territories.id", ondelete="RESTRICT"), index=True
    )
    onboarded_at: Mapped[datetime | None] = mapped_column(default=None)

    # Set when something looks wrong (a device shared by many accounts); admins review.
    flagged_for_review_at: Mapped[datetime | None] = mapped_column(default=None)
    review_reason: Mapped[str | None] = mapped_column(String(200))
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def is_onboarded(self) -> bool:
        return self.onboarded_at is not None

    @property
    def is_verified(self) -> bool:
        """Onboarding done and a full member: a GeDer, or a supporter with a tavdebi."""
        return self.is_onboarded and self.role is not UserRole.UNVERIFIED

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or "Member"
