"""One exception tree for the whole application.

Every error a client can see has a stable numeric code, a name and an HTTP status. Services raise
these; one handler renders them into the envelope. Nothing else should reach a client.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(Enum):
    """The error catalogue (DESIGN.md §4). Value: (code, HTTP status, default message)."""

    # 1xxx auth and access
    INVALID_CREDENTIALS = (1001, 401, "Invalid credentials.")
    TOKEN_EXPIRED = (1002, 401, "The token has expired.")
    TOKEN_INVALID = (1003, 401, "The token is invalid.")
    INSUFFICIENT_PERMISSIONS = (1004, 403, "You do not have permission to do this.")
    NOT_VERIFIED = (1005, 403, "Finish verification first.")
    RATE_LIMITED = (1006, 429, "Too many requests. Try again later.")
    VERIFICATION_EXPIRED = (
        1007,
        401,
        "The code has expired or was already used. Ask for a new one.",
    )
    TOO_MANY_ATTEMPTS = (1008, 429, "Too many wrong codes. Ask for a new one.")
    DEVICE_BLOCKED = (1009, 403, "This device is blocked.")
    # 2xxx validation
    MISSING_FIELD = (2001, 422, "A required field is missing.")
    BAD_FORMAT = (2002, 422, "A field has the wrong format.")
    OUT_OF_RANGE = (2003, 422, "A value is out of range.")
    DUPLICATE = (2004, 409, "This value is already taken.")
    IDEMPOTENCY_KEY_REUSED = (2005, 422, "This Idempotency-Key was used with another request.")
    # 3xxx business rules
    ENDORSEMENT_LIMIT_REACHED = (3001, 409, "The endorsement limit is reached.")
    ALREADY_VOTED = (3002, 409, "You have already voted in this election.")
    ELECTION_NOT_ACTIVE = (3003, 409, "The election is not open for this.")
    NOT_ELIGIBLE = (3004, 403, "You are not eligible to vote in this election.")
    GROUP_FULL = (3005, 409, "The group is full.")
    ALREADY_IN_GROUP = (3006, 409, "You are already in a group.")
    CANNOT_ENDORSE_SELF = (3007, 422, "You cannot endorse yourself.")
    INVALID_HIERARCHY_LEVEL = (3008, 422, "Invalid hierarchy level.")
    GED_NOT_CONFIRMED = (3009, 422, "The GeD Database does not confirm this GeD number.")
    ALREADY_ONBOARDED = (3010, 409, "Onboarding is already complete.")
    ONBOARDING_REQUIRED = (3011, 403, "Complete onboarding first.")
    NOT_IN_DISTRICT = (3012, 403, "This ateuli is not in your electoral district.")
    DIASPORA_EXCLUDED = (3013, 403, "Diaspora members do not join ateulis.")
    NOT_A_MEMBER = (3014, 409, "You are not a member of this unit.")
    UNIT_NOT_ACTIVE = (3015, 409, "The unit is not active for this.")
    # 3016-3019: endorsements. 3020-3029: arbitration (docs/arbitration.md).
    DIFFERENT_DISTRICT = (3016, 403, "This GeDer lives in another electoral district.")
    ENDORSEMENT_REQUEST_PENDING = (3017, 409, "You already have a pending endorsement request.")
    ENDORSEMENT_SUSPENDED = (3018, 403, "This GeDer's right to endorse is suspended.")
    ENDORSEMENT_NOT_PENDING = (
        3019,
        409,
        "This endorsement is not in a state that allows this.",
    )
    ARBITRATION_LOCKED = (
        3020,
        403,
        "Arbitration is not unlocked for you: a led ormotsdaateuli must sit above your ateuli.",
    )
    CANNOT_FILE_AGAINST_SELF = (3021, 422, "You cannot file a case against yourself.")
    NOT_THE_GUARANTOR = (3022, 422, "The defendant did not endorse this supporter.")
    ARBITRATOR_NOT_ELIGIBLE = (3023, 422, "This member may not arbitrate this case.")
    CASE_WRONG_STATE = (3024, 409, "The case is not in a state that allows this.")
    APPEAL_WINDOW_CLOSED = (3025, 409, "The time to appeal this decision has passed.")
    DECISION_FINAL = (3026, 409, "This decision is final and cannot be appealed.")
    # 3030: notification preferences (docs/notifications.md).
    CHANNEL_NOT_ALLOWED = (3030, 422, "This notification type cannot be sent on this channel.")
    # 3031-3039: elections (docs/elections.md).
    NOT_ELIGIBLE_CANDIDATE = (3031, 403, "You may not stand as a candidate in this election.")
    ALREADY_A_CANDIDATE = (3032, 409, "You are already a candidate in this election.")
    ELECTION_ALREADY_OPEN = (3033, 409, "An open election for this seat already exists.")
    INVALID_ELECTION_PERIOD = (3034, 422, "The election's times are not a valid period.")
    ELECTION_FINISHED = (3035, 409, "The election has already ended.")
    # 3040-3049: SOS signals (docs/sos.md).
    SOS_WRONG_STATE = (3040, 409, "The signal is not in a state that allows this.")
    SOS_INVALID_ESCALATION = (
        3041,
        422,
        "A signal only moves up: name a level above the one that holds it.",
    )
    SOS_NOT_VERIFIED = (3042, 409, "Only a verified signal is handed to the media.")
    # 3050-3059: initiatives (docs/initiatives.md).
    INITIATIVE_NOT_IN_SCOPE = (3050, 403, "You are not a member of this initiative's scope.")
    INITIATIVE_TARGET_TOO_LOW = (
        3051,
        422,
        "The support target is below the minimum for this scope.",
    )
    INITIATIVE_WRONG_STATE = (3052, 409, "The initiative is not in a state that allows this.")
    ALREADY_SUPPORTED = (3053, 409, "You already support this initiative.")
    NOT_SUPPORTED = (3054, 409, "You do not support this initiative.")
    INITIATIVE_LOCKED = (
        3055,
        409,
        "The initiative cannot be edited: members support it.",
    )
    ASSIGNEE_NOT_ELIGIBLE = (3056, 422, "This member may not answer this initiative.")
    # 3060-3069: notification delivery (docs/notifications.md).
    DELIVERY_NOT_RETRYABLE = (
        3060,
        409,
        "Only a dead or permanently failed delivery can be retried.",
    )
    # 4xxx resources
    NOT_FOUND = (4001, 404, "The resource was not found.")
    ALREADY_EXISTS = (4002, 409, "The resource already exists.")
    DELETED = (4003, 410, "The resource was deleted.")
    METHOD_NOT_ALLOWED = (4004, 405, "This method is not allowed here.")
    REQUEST_IN_PROGRESS = (4005, 409, "The same request is still being processed.")
    # 5xxx system
    INTERNAL = (5001, 500, "An internal error occurred.")
    DATABASE = (5002, 503, "The database is unavailable.")
    EXTERNAL_SERVICE = (5003, 502, "An external service failed.")
    SERVICE_UNAVAILABLE = (5004, 503, "A backing service is unavailable.")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def default_message(self) -> str:
        return self.value[2]


class PolisError(Exception):
    """Base of every error a client may see."""

    error: ErrorCode = ErrorCode.INTERNAL

    def __init_subclass__(cls, *, error: ErrorCode | None = None, **kwargs: Any) -> None:
        """``class NotFound(PolisError, error=ErrorCode.NOT_FOUND)`` names a kind's default code."""
        super().__init_subclass__(**kwargs)
        if error is not None:
            cls.error = error

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        error: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
    ) -> None:
        if error is not None:
            self.error = error
        # True when what was written before the error must still be committed (a revoked
        # session after refresh-token reuse, the audit record of a failed login).
        self.keep_changes = keep_changes
        self.message = message or self.error.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        return self.error.status


class AuthError(PolisError, error=ErrorCode.INVALID_CREDENTIALS): ...


class PermissionDenied(PolisError, error=ErrorCode.INSUFFICIENT_PERMISSIONS): ...


class ValidationFailed(PolisError, error=ErrorCode.BAD_FORMAT): ...


class BusinessRuleViolation(PolisError, error=ErrorCode.INVALID_HIERARCHY_LEVEL):
    """A rule of the society forbids this; subclasses or ``error=`` name which."""


class NotFound(PolisError, error=ErrorCode.NOT_FOUND): ...


class Conflict(PolisError, error=ErrorCode.ALREADY_EXISTS): ...


class RateLimited(PolisError, error=ErrorCode.RATE_LIMITED): ...


class ServiceUnavailable(PolisError, error=ErrorCode.SERVICE_UNAVAILABLE): ...
