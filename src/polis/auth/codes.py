"""One-time login codes in Redis (§3.1): the cooldown per phone, the code, its counted guesses.

A code is stored under a random verification id with a keyed digest of the code (never the
code itself), the phone it was sent to (encrypted), the guesses made and when it expires. The
clock seam decides every time; Redis expiry only cleans up a little later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from redis.asyncio import Redis

from polis.config import Settings
from polis.kit import clock
from polis.kit.crypto import protector
from polis.kit.errors import AuthError, ErrorCode, RateLimited

_OTP_KEY = "polis:auth:otp:{}"
_COOLDOWN_KEY = "polis:auth:otp-cooldown:{}"

# Count a guess only while the verification exists, atomically: returns -1 when it is gone.
_COUNT_GUESS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""

# Times are decided by the clock seam (so tests move time); Redis expiry only cleans up, a little
# after the clock says a code or a cooldown is over.
_REDIS_SLACK_SECONDS = 60

# Returns 0 and starts the cooldown when the phone may have a code now, else when it may.
_TAKE_COOLDOWN = """
local blocked_until = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked_until > tonumber(ARGV[1]) then return blocked_until end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 0
"""


def _code_digest(settings: Settings, verification_id: str, code: str) -> str:
    # Keyed: a six-digit space is too small for a plain hash to hide anything.
    message = f"{verification_id}:{code}".encode()
    return hmac.new(settings.secret("secret_key").encode(), message, hashlib.sha256).hexdigest()


async def issue_code(settings: Settings, redis: Redis, e164: str) -> tuple[str, str]:
    """A new code for the phone ``e164``: ``(verification_id, code)``.

    Refused with 429/1006 (``Retry-After``) while the phone's cooldown runs.
    """
    phone_index = protector(settings, "phone").blind_index(e164)
    now = int(clock.now().timestamp())
    cooldown = settings.otp_cooldown_seconds
    blocked_until = int(
        await redis.eval(
            _TAKE_COOLDOWN,
            1,
            _COOLDOWN_KEY.format(phone_index),
            now,
            now + cooldown,
            cooldown + _REDIS_SLACK_SECONDS,
        )
    )
    if blocked_until:
        wait = max(1, blocked_until - now)
        raise RateLimited(
            f"Wait {wait} seconds before asking for another code.",
            details={"retry_after": wait, "reason": "cooldown"},
            headers={"Retry-After": str(wait)},
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    verification_id = secrets.token_urlsafe(24)
    phone_ciphertext = base64.b64encode(protector(settings, "phone").encrypt(e164)).decode()
    key = _OTP_KEY.format(verification_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            key,
            mapping={
                "phone": phone_ciphertext,
                "digest": _code_digest(settings, verification_id, code),
                "attempts": 0,
                "expires_at": now + settings.otp_ttl_seconds,
            },
        )
        pipe.expire(key, settings.otp_ttl_seconds + _REDIS_SLACK_SECONDS)
        await pipe.execute()
    return verification_id, code


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def consume_code(settings: Settings, redis: Redis, verification_id: str, code: str) -> str:
    """The phone the code was sent to, if ``code`` is right; the verification is then spent."""
    key = _OTP_KEY.format(verification_id)
    guess = int(await redis.eval(_COUNT_GUESS, 1, key))
    if guess < 0:
        raise AuthError(error=ErrorCode.VERIFICATION_EXPIRED)
    if guess > settings.otp_max_attempts:
        raise AuthError(error=ErrorCode.TOO_MANY_ATTEMPTS)
    stored = {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
    if int(stored.get("expires_at", 0)) <= int(clock.now().timestamp()):
        await redis.delete(key)
        raise AuthError(error=ErrorCode.VERIFICATION_EXPIRED)
    digest = stored.get("digest", "")
    if not hmac.compare_digest(digest, _code_digest(settings, verification_id, code)):
        remaining = settings.otp_max_attempts - guess
        raise AuthError("The code is wrong.", details={"remaining_attempts": remaining})
    # Usable once: of two requests with the right code, only the one that deletes it wins.
    if not await redis.delete(key):
        raise AuthError(error=ErrorCode.VERIFICATION_EXPIRED)
    return protector(settings, "phone").decrypt(base64.b64decode(stored["phone"]))
