"""Access tokens (JWT, HS256 pinned) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import AuthError, ErrorCode

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
_REQUIRED_CLAIMS = ["typ", "aud", "iss", "sub", "sid", "exp", "iat", "jti"]
# The Redis key that marks a session revoked (``.format(session_id)``): set on logout and
# revocation for the access token's lifetime, so a revoked session's tokens stop at once.
REVOKED_SESSION_KEY = "polis:auth:revoked-session:{}"
# Tolerated difference between the issuer's clock and ours for "issued at".
_CLOCK_SKEW_SECONDS = 60


# Rate-limit tiers a token may carry (DESIGN.md §4); leaders get the larger budget.
TIERS = ("authenticated", "leader")


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    token_id: str
    expires_at: datetime
    tier: str = "authenticated"


def issue_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, *, tier: str = "authenticated"
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds.

    ``tier`` is the caller's rate-limit tier when the token was issued; a member who becomes a
    leader gets the leader tier with the next refresh (at most 15 minutes later).
    """
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    now = clock.now()
    lifetime = settings.access_token_ttl_seconds
    claims = {
        "typ": ACCESS_TYPE,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()),
        "jti": uuid.uuid4().hex,
        "tier": tier,
    }
    return jwt.encode(claims, settings.secret("secret_key"), algorithm=ALGORITHM), lifetime


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, type, audience, issuer and expiry (against the clock seam)."""
    try:
        claims = jwt.decode(
            token,
            settings.secret("secret_key"),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # Time claims are checked below against the clock seam, not the wall clock.
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(error=ErrorCode.TOKEN_INVALID) from exc
    if claims.get("typ") != ACCESS_TYPE:
        raise AuthError(error=ErrorCode.TOKEN_INVALID)
    now = int(clock.now().timestamp())
    if not isinstance(claims["iat"], int) or claims["iat"] > now + _CLOCK_SKEW_SECONDS:
        raise AuthError(error=ErrorCode.TOKEN_INVALID)
    if int(claims["exp"]) <= now:
        raise AuthError(error=ErrorCode.TOKEN_EXPIRED)
    try:
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            session_id=uuid.UUID(str(claims["sid"])),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=clock.now().tzinfo),
            tier=str(claims["tier"]) if claims.get("tier") in TIERS else "authenticated",
        )
    except (ValueError, TypeError) as exc:
        raise AuthError(error=ErrorCode.TOKEN_INVALID) from exc


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, hash to store). 256 random bits: a plain SHA-256 is enough."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
