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
    if getattr(request.state, "subject", None) is None:
        # The auth domain names the caller from the token; kit code knows only this hook.
        resolver = getattr(request.app.state, "subject_resolver", None)
        if resolver is not None:
            resolver(request, request.app.state.settings)
    subject = getattr(request.state, "subject", None)
    tier = getattr(request.state, "subject_tier", None)
    if isinstance(subject, str) and isinstance(tier, str):
        return tier, f"user:{subject}"
    return "anonymous", f"ip:{client_ip(request)}"
