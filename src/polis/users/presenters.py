"""Shape members for answers: the public view and the member's own view."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import overload

from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit.phone import mask_phone
from polis.kit.presenting import from_row
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
    return from_row(TerritoryRef, territory, type=territory.type.value)


async def _unit(session: AsyncSession, user: User) -> UnitRef | None:
    unit = await service.ateuli_of(session, user)
    if unit is None:
        return None
    return from_row(UnitRef, unit, level=unit.level.value, status=unit.status.value)


async def public_out(session: AsyncSession, settings: Settings, user: User) -> PublicUserOut:
    phone = service.own_phone(settings, user)
    return from_row(
        PublicUserOut,
        user,
        territory=await _territory(session, user),
        unit=await _unit(session, user),
        phone_masked=mask_phone(phone) if phone else None,
    )


async def me_out(session: AsyncSession, settings: Settings, user: User) -> MeOut:
    public = await public_out(session, settings, user)
    return from_row(
        MeOut,
        user,
        territory=public.territory,
        unit=public.unit,
        phone_masked=public.phone_masked,
        phone_number=service.own_phone(settings, user),
        has_personal_id=user.personal_id_ciphertext is not None,
    )
