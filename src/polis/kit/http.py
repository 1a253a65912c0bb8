"""Who is asking: the subject that rate limits and idempotency keys are scoped to."""

from __future__ import annotations

from starlette.requests import Request


def client_ip(request: Request) -> str:
    # Behind a proxy, uvicorn's --proxy-headers puts the real address here.
    return request.client.host if request.client else "unknown"


def request_subject(request: Request) -> tuple[str, str]:
    """(tier, key): the authenticated subject set by the auth dependency, else the client IP.

    Tiers are ``anonymous``, ``authenticated`` and ``leader``.
    """
    subject = getattr(request.state, "subject", None)
    tier = getattr(request.state, "subject_tier", None)
    if isinstance(subject, str) and isinstance(tier, str):
        return tier, f"user:{subject}"
    return "anonymous", f"ip:{client_ip(request)}"
