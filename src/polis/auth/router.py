"""Phone login, token refresh, logout and sessions."""

from __future__ import annotations

import json
import uuid

from fastapi import Depends, Request

from polis.auth import service
from polis.auth.deps import AuthenticatedUser, Claims
from polis.auth.schemas import (
    DeviceOut,
    LoginOut,
    LogoutOut,
    RefreshIn,
    SendCodeIn,
    SendCodeOut,
    SessionOut,
    SessionRevokedOut,
    TokenPairOut,
    VerifyPhoneIn,
)
from polis.kit.crypto import protector
from polis.kit.deps import DbSession, RedisDep, SettingsDep
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import ErrorCode, PolisError
from polis.kit.http import client_ip
from polis.kit.phone import normalize_phone
from polis.kit.ratelimit import rate_limit
from polis.kit.routing import DomainRouter, errors
from polis.users.models import Language
from polis.users.presenters import me_out

router = DomainRouter(prefix="/auth", tags=["auth"])


async def _phone_in_body(request: Request) -> str | None:
    """The blind index of the phone in a send-code body: the per-phone limit counts by it."""
    try:
        body = json.loads(await request.body())
        e164 = normalize_phone(
            str(body["phone_number"]), request.app.state.settings.default_phone_region
        )
    except (ValueError, KeyError, TypeError, PolisError):
        return None
    return "phone:" + protector(request.app.state.settings, "phone").blind_index(e164)


def _language(request: Request) -> Language:
    header = request.headers.get("accept-language", "").lower()
    return Language.EN if header.startswith("en") else Language.KA


def _caller(request: Request) -> service.Caller:
    return service.Caller(ip=client_ip(request), user_agent=request.headers.get("user-agent"))


@router.post(
    "/send-verification-code",
    response_model=Envelope[SendCodeOut],
    summary="Send a one-time code by SMS",
    dependencies=[
        Depends(rate_limit("rate_limit_send_code_ip")),
        Depends(rate_limit("rate_limit_send_code", key=_phone_in_body)),
    ],
)
async def send_verification_code(
    body: SendCodeIn, request: Request, session: DbSession, settings: SettingsDep, redis: RedisDep
) -> Envelope[SendCodeOut]:
    sent = await service.send_verification_code(
        session, settings, redis, body.phone_number, _language(request)
    )
    return ok(SendCodeOut(verification_id=sent.verification_id, expires_at=sent.expires_at))


@router.post("/verify-phone", response_model=Envelope[LoginOut], summary="Log in with the code")
@errors(
    ErrorCode.INVALID_CREDENTIALS,
    ErrorCode.VERIFICATION_EXPIRED,
    ErrorCode.TOO_MANY_ATTEMPTS,
    ErrorCode.DEVICE_BLOCKED,
)
async def verify_phone(
    body: VerifyPhoneIn,
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    redis: RedisDep,
) -> Envelope[LoginOut]:
    login = await service.verify_phone(
        session,
        settings,
        redis,
        body.verification_id,
        body.code,
        body.device_fingerprint,
        _caller(request),
    )
    return ok(
        LoginOut(
            access_token=login.access_token,
            refresh_token=login.refresh_token,
            expires_in=login.expires_in,
            is_new_user=login.is_new_user,
            user=await me_out(session, settings, login.user),
        )
    )


@router.post("/refresh", response_model=Envelope[TokenPairOut], summary="Rotate the tokens")
@errors(ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_INVALID)
async def refresh(
    body: RefreshIn, session: DbSession, settings: SettingsDep, redis: RedisDep
) -> Envelope[TokenPairOut]:
    access_token, refresh_token, expires_in = await service.refresh(
        session, settings, redis, body.refresh_token
    )
    return ok(
        TokenPairOut(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)
    )


@router.post("/logout", response_model=Envelope[LogoutOut], summary="End this session")
async def logout(
    user: AuthenticatedUser,
    claims: Claims,
    session: DbSession,
    settings: SettingsDep,
    redis: RedisDep,
) -> Envelope[LogoutOut]:
    await service.end_session(session, settings, redis, user, claims.session_id, "logout")
    return ok(LogoutOut())


@router.get("/sessions", response_model=Envelope[list[SessionOut]], summary="My sessions")
async def list_sessions(
    user: AuthenticatedUser, claims: Claims, session: DbSession
) -> Envelope[list[SessionOut]]:
    await service.touch_session(session, claims.session_id)
    rows = await service.list_sessions(session, user)
    return ok(
        [
            SessionOut(
                id=auth_session.id,
                device=DeviceOut.model_validate(device, from_attributes=True),
                created_at=auth_session.created_at,
                last_seen_at=auth_session.last_seen_at,
                expires_at=auth_session.expires_at,
                ip_address=auth_session.ip_address,
                current=auth_session.id == claims.session_id,
            )
            for auth_session, device in rows
        ]
    )


@router.delete(
    "/sessions/{session_id}", response_model=Envelope[SessionRevokedOut], summary="End a session"
)
@errors(ErrorCode.NOT_FOUND)
async def revoke_session(
    session_id: uuid.UUID,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
    redis: RedisDep,
) -> Envelope[SessionRevokedOut]:
    await service.end_session(session, settings, redis, user, session_id, "revoked_by_user")
    return ok(SessionRevokedOut(id=session_id))
