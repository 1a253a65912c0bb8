"""Rules about members that the platform foundation needs: finding a member by phone, admins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit.crypto import DataProtector, protector
from polis.kit.phone import normalize_phone
from polis.users.models import Language, User


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
    await session.flush()
    return user, True
