"""Authorization levels as dependencies (DESIGN.md §3.1), declared on routes.

public → no dependency; ``AuthenticatedUser`` → a valid access token of a live session;
``OnboardedUser`` → onboarding done; ``VerifiedUser`` → onboarding done and a full member
(GeDer or endorsed supporter); ``GederUser``; ``ActiveMember`` → verified with status active;
``AdminUser``. A missing or bad token is 401/1003, an expired one 401/1002, a level the member
lacks 403/1004 (1005 when only verification is missing, 3011 when onboarding is).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from polis.auth import tokens
from polis.auth.tokens import REVOKED_SESSION_KEY, AccessClaims
from polis.config import Settings
from polis.kit.deps import DbSession
from polis.kit.errors import AuthError, ErrorCode, PermissionDenied
from polis.kit.routing import errors
from polis.users.models import MemberStatus, User, UserRole

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/verify-phone")

# The claims of the request's access token, once verified: the rate limit names the caller
# before the route's dependency runs, and a token is verified once per request, not twice.
_VERIFIED_CLAIMS = "verified_access_claims"


async def is_session_revoked(redis: Redis, session_id: str) -> bool:
    return bool(await redis.exists(REVOKED_SESSION_KEY.format(session_id)))


def resolve_subject(request: Request, settings: Settings) -> None:
    """Name the caller on ``request.state`` for rate limits and idempotency, without a query.

    A token that does not verify leaves the caller anonymous; the route's own dependency
    still refuses it.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return
    try:
        claims = tokens.decode_access_token(settings, token.strip())
    except AuthError:
        return
    setattr(request.state, _VERIFIED_CLAIMS, claims)
    request.state.subject = str(claims.user_id)
    request.state.subject_tier = claims.tier


@errors(ErrorCode.TOKEN_INVALID, ErrorCode.TOKEN_EXPIRED)
async def _claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    # Settings and Redis straight from the app state, not as sub-dependencies: this runs on
    # nearly every request, and each dependency FastAPI solves costs (docs/elections.md).
    settings: Settings = request.app.state.settings
    redis: Redis = request.app.state.redis
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError(
            "Send an access token: Authorization: Bearer <token>.", error=ErrorCode.TOKEN_INVALID
        )
    claims: AccessClaims | None = getattr(request.state, _VERIFIED_CLAIMS, None)
    if claims is None:
        claims = tokens.decode_access_token(settings, credentials.credentials)
    # Logout and revocation take effect at once, not when the token expires.
    if await is_session_revoked(redis, str(claims.session_id)):
        raise AuthError("This session has ended.", error=ErrorCode.TOKEN_INVALID)
    request.state.subject = str(claims.user_id)
    request.state.subject_tier = claims.tier
    return claims


Claims = Annotated[AccessClaims, Depends(_claims)]


@errors(ErrorCode.TOKEN_INVALID)
async def _authenticated(claims: Claims, session: DbSession) -> User:
    user = await session.get(User, claims.user_id)
    if user is None or user.is_deleted:
        raise AuthError("This account no longer exists.", error=ErrorCode.TOKEN_INVALID)
    return user


AuthenticatedUser = Annotated[User, Depends(_authenticated)]


@errors(ErrorCode.ONBOARDING_REQUIRED)
async def _onboarded(user: AuthenticatedUser) -> User:
    if not user.is_onboarded:
        raise PermissionDenied(error=ErrorCode.ONBOARDING_REQUIRED)
    return user


OnboardedUser = Annotated[User, Depends(_onboarded)]


@errors(ErrorCode.NOT_VERIFIED)
async def _verified(user: OnboardedUser) -> User:
    if not user.is_verified:
        raise PermissionDenied(error=ErrorCode.NOT_VERIFIED)
    return user


VerifiedUser = Annotated[User, Depends(_verified)]


@errors(ErrorCode.INSUFFICIENT_PERMISSIONS)
async def _geder(user: VerifiedUser) -> User:
    if user.role is not UserRole.GEDER:
        raise PermissionDenied("Only GeDers may do this.")
    return user


GederUser = Annotated[User, Depends(_geder)]


@errors(ErrorCode.INSUFFICIENT_PERMISSIONS)
async def _active_member(user: VerifiedUser) -> User:
    if user.status is not MemberStatus.ACTIVE:
        raise PermissionDenied("Only active members may do this.")
    return user


ActiveMember = Annotated[User, Depends(_active_member)]


@errors(ErrorCode.INSUFFICIENT_PERMISSIONS)
async def _admin(user: AuthenticatedUser) -> User:
    if not user.is_admin:
        raise PermissionDenied("Only admins may do this.")
    return user


AdminUser = Annotated[User, Depends(_admin)]
