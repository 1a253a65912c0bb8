"""Members of the community."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, LargeBinary, String
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


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members])


class User(UUIDPrimaryKey, Timestamps, SoftDelete, Base):
    __tablename__ = "users"

    # The phone is stored encrypted; lookups go through a keyed blind index (DESIGN.md §3.1).
    phone_index: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    phone_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[Language] = mapped_column(
        _enum(Language, "language"), default=Language.KA, nullable=False
    )
    role: Mapped[UserRole] = mapped_column(
        _enum(UserRole, "user_role"), default=UserRole.UNVERIFIED, nullable=False
    )
    status: Mapped[MemberStatus | None] = mapped_column(_enum(MemberStatus, "member_status"))
    is_admin: Mapped[bool] = mapped_column(default=False, nullable=False)
    onboarded_at: Mapped[datetime | None] = mapped_column(default=None)
