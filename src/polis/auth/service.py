"""Phone login with one-time codes, sessions with rotating refresh tokens, devices (§3.1)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from polis.audit import service as audit
from polis.auth import codes, tokens
from polis.auth.models import AuthSession, Device, RefreshToken, UserDevice
from polis.auth.schemas import DeviceFingerprintIn
from polis.auth.tokens import REVOKED_SESSION_KEY
from polis.config import Settings
from polis.kit import clock
from polis.kit.crypto import protector
from polis.kit.db import get_or_404
from polis.kit.errors import AuthError, ErrorCode, NotFound, PermissionDenied
from polis.kit.phone import normalize_phone
from polis.notifications import service as notifications
from polis.notifications.models import NotificationType
from polis.sms.service import queue_sms
from polis.units import queries as unit_queries
from polis.users import service as users
from polis.users.models import Language, User

NO_DEVICE = "No such device."

_SMS_TEXT = {
    Language.KA: "Polis: თქვენი კოდია {code}. მოქმედებს {minutes} წუთი. არავის გაუზიაროთ.",
    Language.EN: "Polis: your code is {code}. It is valid for {minutes} minutes. Tell no one.",
}


@dataclass(frozen=True)
class CodeSent:
    verification_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Caller:
    """Where a request came from, for sessions and the audit log."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Login:
    user: User
    is_new_user: bool
    access_token: str
    refresh_token: str
    expires_in: int


async def send_verification_code(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    phone_number: str,
    language: Language = Language.KA,
) -> CodeSent:
    """Create a one-time code for ``phone_number`` and send it by SMS after commit.

    The answer is the same whether or not the number belongs to a member.
    """
    e164 = normalize_phone(phone_number, settings.default_phone_region)
    verification_id, code = await codes.issue_code(settings, redis, e164)
    minutes = max(1, settings.otp_ttl_seconds // 60)
    queue_sms(session, settings, e164, _SMS_TEXT[language].format(code=code, minutes=minutes))
    return CodeSent(verification_id, clock.now() + timedelta(seconds=settings.otp_ttl_seconds))


async def _device(
    session: AsyncSession, settings: Settings, fingerprint: DeviceFingerprintIn
) -> Device:
    index = protector(settings, "device").blind_index(fingerprint.fingerprint_hash)
    device: Device | None = await session.scalar(
        select(Device).where(Device.fingerprint_index == index).with_for_update()
    )
    if device is None:
        device = Device(fingerprint_index=index, device_type=fingerprint.device_type)
        session.add(device)
    device.device_type = fingerprint.device_type
    device.device_model = fingerprint.device_model
    device.os_version = fingerprint.os_version
    device.app_version = fingerprint.app_version
    await session.flush()
    return device


async def _tier(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The rate-limit tier for the member's next access token."""
    return "leader" if await unit_queries.is_leader(session, user_id) else "authenticated"


def _device_label(device: Device) -> str:
    return (
        f"{device.device_model} ({device.device_type})"
        if device.device_model
        else device.device_type
    )


async def _link_device(
    session: AsyncSession, settings: Settings, user: User, device: Device, is_new_user: bool
) -> None:
    now = clock.now()
    link = await session.scalar(
        select(UserDevice).where(UserDevice.user_id == user.id, UserDevice.device_id == device.id)
    )
    if link is not None:
        link.last_seen_at = now
        return
    session.add(UserDevice(user_id=user.id, device_id=device.id, last_seen_at=now))
    await session.flush()
    if not is_new_user:
        await notifications.notify(
            session,
            user.id,
            NotificationType.NEW_DEVICE_LOGIN,
            {"device": _device_label(device)},
        )
    accounts = await session.scalar(
        select(func.count()).select_from(UserDevice).where(UserDevice.device_id == device.id)
    )
    if int(accounts or 0) > settings.device_accounts_review_threshold:
        # One phone shared by many accounts is how fake members are made: let admins look.
        await session.execute(
            update(User)
            .where(
                User.id.in_(select(UserDevice.user_id).where(UserDevice.device_id == device.id)),
                User.flagged_for_review_at.is_(None),
            )
            .values(flagged_for_review_at=now, review_reason="device shared by many accounts")
        )


async def _open_session(
    session: AsyncSession, settings: Settings, user: User, device: Device, caller: Caller
) -> tuple[AuthSession, str]:
    now = clock.now()
    auth_session = AuthSession(
        user_id=user.id,
        device_id=device.id,
        last_seen_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
        ip_address=caller.ip,
        user_agent=(caller.user_agent or "")[:300] or None,
    )
    session.add(auth_session)
    await session.flush()
    refresh_token, token_hash = tokens.new_refresh_token()
    session.add(RefreshToken(session_id=auth_session.id, token_hash=token_hash))
    await session.flush()
    return auth_session, refresh_token


async def verify_phone(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    verification_id: str,
    code: str,
    fingerprint: DeviceFingerprintIn,
    caller: Caller,
) -> Login:
    """Log in with a code: creates the member on first login, opens a session on the device."""
    e164 = await _accept_code(session, settings, redis, verification_id, code, caller)
    device = await _unblocked_device(session, settings, fingerprint, caller)
    user, is_new_user = await _login_member(session, settings, e164)
    await _link_device(session, settings, user, device, is_new_user)
    auth_session, refresh_token = await _open_session(session, settings, user, device, caller)
    user.last_login_at = clock.now()
    access_token, expires_in = tokens.issue_access_token(
        settings, user.id, auth_session.id, tier=await _tier(session, user.id)
    )
    await audit.record(
        session,
        action="auth.login.succeeded",
        entity_type="user",
        entity_id=str(user.id),
        actor_id=user.id,
        new={"session_id": str(auth_session.id), "new_user": is_new_user},
        ip=caller.ip,
        user_agent=caller.user_agent,
    )
    await session.flush()
    return Login(user, is_new_user, access_token, refresh_token, expires_in)


async def _accept_code(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    verification_id: str,
    code: str,
    caller: Caller,
) -> str:
    """The phone (E.164) the code verifies; a refused code is audited, and the audit kept."""
    try:
        return await codes.consume_code(settings, redis, verification_id, code)
    except AuthError as exc:
        await audit.record(
            session,
            action="auth.login.failed",
            entity_type="verification",
            entity_id=hashlib.sha256(verification_id.encode()).hexdigest()[:16],
            new={"reason": exc.error.name},
            ip=caller.ip,
            user_agent=caller.user_agent,
        )
        exc.keep_changes = True
        raise


async def _unblocked_device(
    session: AsyncSession, settings: Settings, fingerprint: DeviceFingerprintIn, caller: Caller
) -> Device:
    """The caller's device; a blocked one is refused (403/1009), and the refusal audited."""
    device = await _device(session, settings, fingerprint)
    if device.blocked_at is not None:
        await audit.record(
            session,
            action="auth.login.failed",
            entity_type="device",
            entity_id=str(device.id),
            new={"reason": ErrorCode.DEVICE_BLOCKED.name},
            ip=caller.ip,
            user_agent=caller.user_agent,
        )
        raise PermissionDenied(error=ErrorCode.DEVICE_BLOCKED, keep_changes=True)
    return device


async def _login_member(session: AsyncSession, settings: Settings, e164: str) -> tuple[User, bool]:
    """The member with this phone (created on first login), made admin if a bootstrap admin."""
    user, is_new_user = await users.get_or_create_by_phone(session, settings, e164)
    if await users.apply_bootstrap_admin(session, settings, user, e164):
        await audit.record(
            session,
            action="users.admin.granted",
            entity_type="user",
            entity_id=str(user.id),
            new={"is_admin": True, "source": "bootstrap"},
        )
    return user, is_new_user


async def _revoke(
    session: AsyncSession, settings: Settings, redis: Redis, auth_session: AuthSession, reason: str
) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = clock.now()
        auth_session.revoked_reason = reason
    # Access tokens of the session die now, not in up to 15 minutes.
    await redis.set(
        REVOKED_SESSION_KEY.format(auth_session.id), 1, ex=settings.access_token_ttl_seconds
    )
    await session.flush()


async def refresh(
    session: AsyncSession, settings: Settings, redis: Redis, refresh_token: str
) -> tuple[str, str, int]:
    """Rotate a refresh token: (access token, new refresh token, lifetime).

    A refresh token presented a second time means it was stolen or replayed: the whole session
    is revoked, and both parties must log in again.
    """
    token_hash = tokens.hash_refresh_token(refresh_token)
    row = (
        await session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise AuthError(error=ErrorCode.TOKEN_INVALID)
    stored, auth_session = row
    if auth_session.revoked_at is not None:
        raise AuthError("This session has ended.", error=ErrorCode.TOKEN_INVALID)
    if stored.used_at is not None:
        await _revoke(session, settings, redis, auth_session, "refresh_token_reused")
        await audit.record(
            session,
            action="auth.session.revoked",
            entity_type="auth_session",
            entity_id=str(auth_session.id),
            actor_id=auth_session.user_id,
            new={"reason": "refresh_token_reused"},
        )
        raise AuthError(
            "This refresh token was already used; the session is ended.",
            error=ErrorCode.TOKEN_INVALID,
            details={"reason": "refresh_token_reused"},
            keep_changes=True,
        )
    now = clock.now()
    if auth_session.expires_at <= now:
        raise AuthError(error=ErrorCode.TOKEN_EXPIRED)
    stored.used_at = now
    auth_session.last_seen_at = now
    new_token, new_hash = tokens.new_refresh_token()
    session.add(RefreshToken(session_id=auth_session.id, token_hash=new_hash))
    await session.flush()
    access_token, expires_in = tokens.issue_access_token(
        settings,
        auth_session.user_id,
        auth_session.id,
        tier=await _tier(session, auth_session.user_id),
    )
    return access_token, new_token, expires_in


async def end_session(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    user: User,
    session_id: uuid.UUID,
    reason: str,
) -> AuthSession:
    """Revoke one of ``user``'s sessions (404 for anyone else's)."""
    auth_session = await session.get(AuthSession, session_id)
    if auth_session is None or auth_session.user_id != user.id:
        raise NotFound("No such session.")
    await _revoke(session, settings, redis, auth_session, reason)
    await audit.record(
        session,
        action="auth.session.revoked",
        entity_type="auth_session",
        entity_id=str(session_id),
        actor_id=user.id,
        new={"reason": reason},
    )
    return auth_session


async def list_sessions(session: AsyncSession, user: User) -> list[tuple[AuthSession, Device]]:
    """The member's live sessions with their devices, newest first."""
    rows = await session.execute(
        select(AuthSession, Device)
        .join(Device, Device.id == AuthSession.device_id)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > clock.now(),
        )
        .order_by(AuthSession.created_at.desc())
    )
    return [(auth_session, device) for auth_session, device in rows]


async def touch_session(session: AsyncSession, session_id: uuid.UUID) -> None:
    """Record that a session was just used (for "last seen" in the sessions list)."""
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=clock.now())
    )


async def revoke_all_sessions(
    session: AsyncSession, settings: Settings, redis: Redis, user: User, reason: str
) -> None:
    """End every session of ``user`` (account deletion, a supporter losing their standing)."""
    await _revoke_live(session, settings, redis, AuthSession.user_id == user.id, reason)


async def _revoke_live(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    whose: ColumnElement[bool],
    reason: str,
) -> None:
    """End every live session ``whose`` picks (a member's, a device's)."""
    live = await session.scalars(select(AuthSession).where(whose, AuthSession.revoked_at.is_(None)))
    for auth_session in live:
        await _revoke(session, settings, redis, auth_session, reason)


async def block_device(
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    admin: User,
    device_id: uuid.UUID,
    reason: str,
) -> Device:
    """Block a device: no account can log in from it, and its live sessions end."""
    device = await get_or_404(session, Device, device_id, missing=NO_DEVICE)
    device.blocked_at = clock.now()
    device.blocked_reason = reason
    await _revoke_live(
        session, settings, redis, AuthSession.device_id == device_id, "device_blocked"
    )
    await audit.record(
        session,
        action="auth.device.blocked",
        entity_type="device",
        entity_id=str(device_id),
        actor_id=admin.id,
        new={"reason": reason},
    )
    return device


async def unblock_device(session: AsyncSession, admin: User, device_id: uuid.UUID) -> Device:
    """Lift a device block."""
    device = await get_or_404(session, Device, device_id, missing=NO_DEVICE)
    device.blocked_at = None
    device.blocked_reason = None
    await audit.record(
        session,
        action="auth.device.unblocked",
        entity_type="device",
        entity_id=str(device_id),
        actor_id=admin.id,
    )
    await session.flush()
    return device
