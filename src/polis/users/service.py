"""Rules about members that the platform foundation needs: finding a member by phone, admins."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from polis.audit import service as audit
from polis.config import Settings
from polis.ged.adapter import GedDatabase, normalize_ged_number
from polis.kit import clock
from polis.kit.crypto import DataProtector, protector
from polis.kit.db import get_or_404
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PolisError,
    ValidationFailed,
)
from polis.kit.logging import get_logger
from polis.kit.pagination import Page, PageParams, paginate
from polis.kit.phone import normalize_phone
from polis.territories import service as territories
from polis.territories.models import Territory, TerritoryType
from polis.units.models import Unit, UnitMembership
from polis.users.models import Language, MemberStatus, User, UserRole

log = get_logger(__name__)

NO_MEMBER = "No such member."


def phone_protector(settings: Settings) -> DataProtector:
    return protector(settings, "phone")


async def get_by_phone(session: AsyncSession, settings: Settings, phone: str) -> User | None:
    """The member with this phone number (any format that parses), if there is one."""
    e164 = normalize_phone(phone, settings.default_phone_region)
    index = phone_protector(settings).blind_index(e164)
    user: User | None = await session.scalar(select(User).where(User.phone_index == index))
    return user


async def get_or_create_by_phone(
    session: AsyncSession,
    settings: Settings,
    phone: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    language: Language = Language.KA,
) -> tuple[User, bool]:
    """The member with this phone, created (unverified) if new. Returns (user, created)."""
    existing = await get_by_phone(session, settings, phone)
    if existing is not None:
        return existing, False
    e164 = normalize_phone(phone, settings.default_phone_region)
    protector = phone_protector(settings)
    user = User(
        phone_index=protector.blind_index(e164),
        phone_ciphertext=protector.encrypt(e164),
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    session.add(user)
    await session.flush()
    return user, True


async def grant_admin(session: AsyncSession, settings: Settings, phone: str) -> tuple[User, bool]:
    """Make the member with ``phone`` an admin, registering the phone if nobody has it yet.

    Returns (user, changed): ``changed`` is False when they already were an admin.
    """
    user, _ = await get_or_create_by_phone(session, settings, phone)
    if user.is_admin:
        return user, False
    user.is_admin = True
    await audit.record(
        session,
        action="users.admin.granted",
        entity_type="user",
        entity_id=str(user.id),
        old={"is_admin": False},
        new={"is_admin": True, "source": "cli"},
    )
    await session.flush()
    return user, True


def _normalized_phones(settings: Settings, phones: list[str]) -> set[str]:
    found: set[str] = set()
    for phone in phones:
        try:
            found.add(normalize_phone(phone, settings.default_phone_region))
        except PolisError:
            log.warning("settings.bootstrap_admin_phone_invalid")
    return found


async def apply_bootstrap_admin(
    session: AsyncSession, settings: Settings, user: User, e164: str
) -> bool:
    """Make ``user`` an admin if their number is in ``POLIS_BOOTSTRAP_ADMIN_PHONES``.

    Returns True when this changed anything.
    """
    if user.is_admin or e164 not in _normalized_phones(settings, settings.bootstrap_admin_phones):
        return False
    user.is_admin = True
    await session.flush()
    return True


def own_phone(settings: Settings, user: User) -> str | None:
    if user.phone_ciphertext is None:
        return None
    return phone_protector(settings).decrypt(user.phone_ciphertext)


async def territory_of(session: AsyncSession, user: User) -> Territory | None:
    if user.territory_id is None:
        return None
    return await session.get(Territory, user.territory_id)


async def ateuli_of(session: AsyncSession, user: User) -> Unit | None:
    """The ateuli the member belongs to now, if any."""
    unit: Unit | None = await session.scalar(
        select(Unit)
        .join(UnitMembership, UnitMembership.unit_id == Unit.id)
        .where(UnitMembership.user_id == user.id, UnitMembership.left_at.is_(None))
    )
    return unit


async def update_me(session: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    """Change the member's own name, language or email (only the fields given)."""
    allowed = {"first_name", "last_name", "language", "email"}
    for field, value in changes.items():
        if field in allowed and value is not None:
            setattr(user, field, value)
    await session.flush()
    return user


_PERSONAL_ID = re.compile(r"^\d{11}$")


def normalize_personal_id(raw: str) -> str:
    """A Georgian personal number: exactly 11 digits (spaces are tolerated and dropped)."""
    value = raw.replace(" ", "")
    if not _PERSONAL_ID.match(value):
        raise ValidationFailed(
            "personal_id must be an 11-digit Georgian personal number",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "personal_id"},
        )
    return value


@dataclass(frozen=True)
class Onboarding:
    personal_id: str
    status: MemberStatus
    motivation: str
    constitution_agreed: bool
    is_diaspora: bool
    territory_id: uuid.UUID | None
    ged_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


async def complete_onboarding(
    session: AsyncSession, settings: Settings, ged: GedDatabase, user: User, form: Onboarding
) -> list[str]:
    """Record who the member is (§3.1) and return their next steps.

    The personal ID is unique across members, enforced by the database so that two members
    racing with one ID cannot both pass. A GeD number the GeD Database confirms makes the
    member a GeDer.
    """
    if user.is_onboarded:
        raise BusinessRuleViolation(error=ErrorCode.ALREADY_ONBOARDED)
    personal_id = normalize_personal_id(form.personal_id)
    if not form.constitution_agreed:
        raise ValidationFailed(
            "The constitution must be agreed to.",
            error=ErrorCode.OUT_OF_RANGE,
            details={"field": "constitution_agreed"},
        )
    territory = await _home_territory(session, form)
    ged_number = normalize_ged_number(form.ged_number) if form.ged_number else None
    protector_ = personal_id_protector(settings)
    personal_id_index = protector_.blind_index(personal_id)
    await _refuse_taken(
        session,
        user,
        User.personal_id_index,
        personal_id_index,
        field="personal_id",
        what="personal ID",
    )
    if ged_number is not None:
        await _confirm_ged_holding(session, ged, user, ged_number, personal_id)
    user.personal_id_index = personal_id_index
    user.personal_id_ciphertext = protector_.encrypt(personal_id)
    _fill_in_onboarding(user, form, territory)
    await _flush_onboarding(session)
    await audit.record(
        session,
        action="users.onboarding.completed",
        entity_type="user",
        entity_id=str(user.id),
        actor_id=user.id,
        new={"role": user.role, "status": user.status, "is_diaspora": user.is_diaspora},
    )
    return next_steps(user)


async def _refuse_taken(
    session: AsyncSession,
    user: User,
    column: InstrumentedAttribute[Any],
    value: str,
    *,
    field: str,
    what: str,
) -> None:
    """409/2004 when another member holds ``value`` in ``column`` (the form's ``field``)."""
    taken = await session.scalar(select(User.id).where(column == value, User.id != user.id))
    if taken is not None:
        raise Conflict(
            f"This {what} belongs to another member.",
            error=ErrorCode.DUPLICATE,
            details={"field": field},
        )


async def _confirm_ged_holding(
    session: AsyncSession, ged: GedDatabase, user: User, ged_number: str, personal_id: str
) -> None:
    """Make ``user`` a GeDer when ``ged_number`` is free and the GeD Database confirms it."""
    await _refuse_taken(
        session, user, User.ged_number, ged_number, field="ged_number", what="GeD number"
    )
    holding = await ged.verify_holding(ged_number, personal_id)
    if holding is None:
        raise BusinessRuleViolation(
            error=ErrorCode.GED_NOT_CONFIRMED, details={"field": "ged_number"}
        )
    user.ged_number = ged_number
    user.ged_verified_at = clock.now()
    user.role = UserRole.GEDER


def _fill_in_onboarding(user: User, form: Onboarding, territory: Territory | None) -> None:
    now = clock.now()
    user.status = form.status
    user.motivation = form.motivation
    user.constitution_agreed_at = now
    user.is_diaspora = form.is_diaspora
    user.territory_id = territory.id if territory is not None else None
    user.first_name = form.first_name or user.first_name
    user.last_name = form.last_name or user.last_name
    user.onboarded_at = now


async def _flush_onboarding(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # Lost a race with another onboarding of the same personal ID or GeD number.
        field = "ged_number" if "ged_number" in str(exc.orig) else "personal_id"
        raise Conflict(
            f"This {field.replace('_', ' ')} belongs to another member.",
            error=ErrorCode.DUPLICATE,
            details={"field": field},
        ) from None


async def _home_territory(session: AsyncSession, form: Onboarding) -> Territory | None:
    located = form.latitude is not None or form.longitude is not None
    if form.is_diaspora:
        if form.territory_id is not None or located:
            raise ValidationFailed(
                "Diaspora members have no territory.",
                error=ErrorCode.OUT_OF_RANGE,
                details={"field": "territory_id"},
            )
        return None
    if form.territory_id is None and located:
        return await _district_at_point(session, form.latitude, form.longitude)
    if form.territory_id is None:
        raise ValidationFailed(
            "territory_id (or latitude and longitude) is required unless you live abroad.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "territory_id"},
        )
    territory = await get_or_404(
        session,
        Territory,
        form.territory_id,
        missing="No such territory.",
        details={"field": "territory_id"},
    )
    if territory.type is not TerritoryType.ELECTORAL_DISTRICT:
        raise BusinessRuleViolation(
            "Members live in an electoral district, not a region or municipality.",
            error=ErrorCode.INVALID_HIERARCHY_LEVEL,
            details={"field": "territory_id", "type": territory.type.value},
        )
    return territory


async def _district_at_point(
    session: AsyncSession, latitude: float | None, longitude: float | None
) -> Territory:
    if latitude is None or longitude is None:
        missing = "latitude" if latitude is None else "longitude"
        raise ValidationFailed(
            "Send both latitude and longitude.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": missing},
        )
    district = await territories.district_at(session, latitude, longitude)
    if district is None:
        raise NotFound(
            "No electoral district on the map holds this point.",
            details={"field": "latitude"},
        )
    return district


def next_steps(user: User) -> list[str]:
    """What the member can do next: find a group of ten, and (without GeD) a tavdebi."""
    if user.is_diaspora:
        return []
    steps = ["join_ateuli", "create_ateuli"]
    if user.role is UserRole.UNVERIFIED:
        steps.append("find_tavdebi")
    return steps


def personal_id_protector(settings: Settings) -> DataProtector:
    return protector(settings, "personal_id")


async def people(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, User]:
    """The members ``ids`` (``None`` skipped), by id, in one query: for naming people in lists."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(wanted)))
    return {user.id: user for user in rows}


async def get_member(session: AsyncSession, user_id: uuid.UUID) -> User:
    """A member by id; deleted (anonymised) accounts are 404 like unknown ones."""
    user = await get_or_404(session, User, user_id, missing=NO_MEMBER)
    if user.is_deleted:
        raise NotFound(NO_MEMBER)
    return user


async def search_members(
    session: AsyncSession,
    params: PageParams,
    *,
    name: str | None,
    territory_id: uuid.UUID | None,
) -> Page:
    """Verified members, by a part of their name and by territory."""
    statement = select(User).where(
        User.deleted_at.is_(None),
        User.onboarded_at.is_not(None),
        User.role != UserRole.UNVERIFIED,
    )
    if name:
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(
                User.first_name.ilike(pattern, escape="\\"),
                User.last_name.ilike(pattern, escape="\\"),
                func.concat(User.first_name, " ", User.last_name).ilike(pattern, escape="\\"),
            )
        )
    if territory_id is not None:
        statement = statement.where(User.territory_id == territory_id)
    return await paginate(
        session,
        statement,
        params,
        sortable={"created_at": User.created_at, "last_name": User.last_name},
        default_sort="created_at",
    )


async def anonymise(session: AsyncSession, user: User) -> None:
    """Delete the account: personal data goes, the row stays so votes stay counted."""
    user.phone_index = None
    user.phone_ciphertext = None
    user.personal_id_index = None
    user.personal_id_ciphertext = None
    user.first_name = None
    user.last_name = None
    user.email = None
    user.motivation = None
    user.ged_number = None
    user.is_admin = False
    user.mark_deleted()
    await audit.record(
        session,
        action="users.deleted",
        entity_type="user",
        entity_id=str(user.id),
        actor_id=user.id,
    )
    await session.flush()
