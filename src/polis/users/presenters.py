"""Shape members for answers: the public view and the member's own view."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import overload

from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit.phone import mask_phone
from polis.users import service
from polis.users.models import User
from polis.users.schemas import MeOut, PersonRef, PublicUserOut, TerritoryRef, UnitRef

# The name shown for someone whose row did not load (never expected: members are anonymised,
# not deleted).
UNKNOWN_MEMBER = "Member"


@overload
def person_ref(people: Mapping[uuid.UUID, User], user_id: uuid.UUID) -> PersonRef: ...
@overload
def person_ref(people: Mapping[uuid.UUID, User], user_id: uuid.UUID | None) -> PersonRef | None: ...
def person_ref(people: Mapping[uuid.UUID, User], user_id: uuid.UUID | None) -> PersonRef | None:
    """``user_id`` named from ``people`` (see ``service.people``); None for no one."""
    if user_id is None:
        return None
    user = people.get(user_id)
    return PersonRef(id=user_id, display_name=user.display_name if user else UNKNOWN_MEMBER)


async def _territory(session: AsyncSession, user: User) -> TerritoryRef | None:
    territory = await service.territory_of(session, user)
    if territory is None:
        return None
    return TerritoryRef(
        id=territory.id,
        type=territory.type.value,
        code=territory.code,
        name_ka=territory.name_ka,
        name_en=territory.name_en,
    )


async def _unit(session: AsyncSession, user: User) -> UnitRef | None:
    unit = await service.ateuli_of(session, user)
    if unit is None:
        return None
    return UnitRef(id=unit.id, name=unit.name, level=unit.level.value, status=unit.status.value)


async def public_out(session: AsyncSession, settings: Settings, user: User) -> PublicUserOut:
    phone = service.own_phone(settings, user)
    return PublicUserOut(
        id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        display_name=user.display_name,
        role=user.role,
        status=user.status,
        is_diaspora=user.is_diaspora,
        territory=await _territory(session, user),
        unit=await _unit(session, user),
        phone_masked=mask_phone(phone) if phone else None,
    )


async def me_out(session: AsyncSession, settings: Settings, user: User) -> MeOut:
    public = await public_out(session, settings, user)
    return MeOut(
        **public.model_dump(),
        phone_number=service.own_phone(settings, user),
        email=user.email,
        language=user.language,
        is_admin=user.is_admin,
        is_onboarded=user.is_onboarded,
        is_verified=user.is_verified,
        ged_number=user.ged_number,
        has_personal_id=user.personal_id_ciphertext is not None,
        onboarded_at=user.onboarded_at,
        created_at=user.created_at,
    )
