"""Push senders: FCM HTTP v1 for real, a log line for development (DESIGN.md §3.10).

Senders are synchronous: they run inside the Celery task ``polis.notifications.deliver``.
``send`` returns when the provider accepted the message and raises otherwise:

- :class:`PushTokenRejected`: the token is dead for good (FCM ``UNREGISTERED``, or
  ``INVALID_ARGUMENT`` / ``SENDER_ID_MISMATCH`` on the token). The delivery ends
  ``failed_permanent`` and the token is forgotten.
- :class:`PushRetryable`: try again later (429, 5xx, a transport error, a refused OAuth grant);
  ``retry_after`` carries the provider's ``Retry-After`` when it sent one.

Neither sender ever logs a token, and no error message carries one.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import jwt

from polis.config import Settings
from polis.kit.logging import get_logger

log = get_logger(__name__)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, no secret)
# An access token is refreshed this long before it expires, so a send never carries one that
# expires on the way.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
ASSERTION_LIFETIME_SECONDS = 3600
# FCM's error codes (google.firebase.fcm.v1.FcmError) that say the token itself is dead.
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


@dataclass(frozen=True)
class PushMessage:
    """One message to one device. ``collapse_key`` names what the member sees: the phone shows
    one notification per collapse key, so a message repeated after a crash replaces itself."""

    token: str
    title: str
    body: str
    collapse_key: str
    data: dict[str, str] = field(default_factory=dict)


class PushError(RuntimeError):
    """The message was not sent. Messages never hold the token."""


class PushTokenRejected(PushError):
    """The provider says the token will never work again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PushRetryable(PushError):
    """A failure that may pass: try again after ``retry_after`` seconds (when the provider said)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PushSender(Protocol):
    """Sends one push message; raises :class:`PushError` when it could not."""

    def send(self, message: PushMessage) -> None:
        """Send ``message``."""
        ...


class LogPushSender:
    """Development: 'sends' by writing a log line with the collapse key (never the token)."""

    def send(self, message: PushMessage) -> None:
        """Log that ``message`` would have been sent."""
        log.info(
            "push.logged",
            collapse_key=message.collapse_key,
            delivery_id=message.data.get("delivery_id"),
            title_length=len(message.title),
        )


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service-account JSON key that FCM HTTP v1 needs."""

    project_id: str
    client_email: str
    private_key: str
    private_key_id: str | None
    token_uri: str

    @classmethod
    def from_json(cls, raw: str) -> ServiceAccount:
        """Parse a service-account key; raises ValueError naming the missing field."""
        try:
            values: dict[str, Any] = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("the FCM credentials are not JSON") from None
        missing = [k for k in ("project_id", "client_email", "private_key") if not values.get(k)]
        if missing:
            raise ValueError(f"the FCM credentials lack: {', '.join(missing)}")
        return cls(
            project_id=str(values["project_id"]),
            client_email=str(values["client_email"]),
            private_key=str(values["private_key"]),
            private_key_id=values.get("private_key_id"),
            token_uri=str(values.get("token_uri") or DEFAULT_TOKEN_URI),
        )


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (it may be a number or an HTTP date); None when absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _fcm_error(response: httpx.Response) -> tuple[str, str | None]:
    """(status, FCM error code) of an error answer; the body may be anything."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}", None
    if not isinstance(error, dict):
        return f"HTTP {response.status_code}", None
    status = str(error.get("status") or f"HTTP {response.status_code}")
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return status, str(detail.get("errorCode") or "") or None
    return status, None


class FcmPushSender:
    """FCM HTTP v1: ``POST {base_url}/v1/projects/{project}/messages:send`` with an OAuth2
    access token from the service account (JWT bearer grant, RS256), cached until it expires.

    A 401 refreshes the token once and sends again; a second 401 is retryable (the key may have
    been rotated and the operator must act). One instance is shared by a worker process's
    threads: the token cache is locked.
    """

    def __init__(
        self,
        account: ServiceAccount,
        *,
        base_url: str = "https://fcm.googleapis.com",
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._account = account
        self._url = f"{base_url.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_seconds))
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0

    def _assertion(self, now: float) -> str:
        claims = {
            "iss": self._account.client_email,
            "scope": FCM_SCOPE,
            "aud": self._account.token_uri,
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME_SECONDS,
        }
        headers = {"kid": self._account.private_key_id} if self._account.private_key_id else None
        return jwt.encode(claims, self._account.private_key, algorithm="RS256", headers=headers)

    def access_token(self, *, refresh: bool = False) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        with self._lock:
            now = time.time()
            if (
                not refresh
                and self._token is not None
                and now < self._token_expires_at - TOKEN_REFRESH_MARGIN_SECONDS
            ):
                return self._token
            try:
                response = self._client.post(
                    self._account.token_uri,
                    data={"grant_type": JWT_BEARER_GRANT, "assertion": self._assertion(now)},
                )
            except httpx.HTTPError as exc:
                raise PushRetryable(f"oauth unreachable ({type(exc).__name__})") from None
            if not response.is_success:
                raise PushRetryable(
                    f"oauth answered {response.status_code}", _retry_after(response)
                )
            try:
                answer = response.json()
                token = str(answer["access_token"])
                expires_in = float(answer.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise PushRetryable("oauth answer unreadable") from None
            self._token = token
            self._token_expires_at = now + expires_in
            return token

    def _body(self, message: PushMessage) -> dict[str, Any]:
        # webpush's Topic header takes at most 32 URL-safe characters; apns-collapse-id 64 bytes.
        return {
            "message": {
                "token": message.token,
                "notification": {"title": message.title, "body": message.body},
                "data": message.data,
                "android": {"collapse_key": message.collapse_key},
                "apns": {"headers": {"apns-collapse-id": message.collapse_key[:64]}},
                "webpush": {"headers": {"Topic": message.collapse_key.replace("-", "")[:32]}},
            }
        }

    def _post(self, message: PushMessage, token: str) -> httpx.Response:
        try:
            return self._client.post(
                self._url,
                json=self._body(message),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise PushRetryable(f"fcm unreachable ({type(exc).__name__})") from None

    def send(self, message: PushMessage) -> None:
        """Send ``message``; raise :class:`PushTokenRejected` or :class:`PushRetryable`."""
        response = self._post(message, self.access_token())
        if response.status_code == 401:
            response = self._post(message, self.access_token(refresh=True))
        if response.is_success:
            return
        status, code = _fcm_error(response)
        if code in DEAD_TOKEN_CODES or (
            code is None and response.status_code == 404 and status == "NOT_FOUND"
        ):
            raise PushTokenRejected(code or status)
        if response.status_code == 400 and status == "INVALID_ARGUMENT" and code is None:
            # FCM answers a malformed token this way, with no FcmError detail.
            raise PushTokenRejected(status)
        raise PushRetryable(
            f"fcm answered {response.status_code} {code or status}", _retry_after(response)
        )


def fcm_account(settings: Settings) -> ServiceAccount:
    """The service account the settings name (the JSON itself wins over the file)."""
    if settings.fcm_credentials_json is not None:
        return ServiceAccount.from_json(settings.fcm_credentials_json.get_secret_value())
    if settings.fcm_credentials_file is not None:
        return ServiceAccount.from_json(settings.fcm_credentials_file.read_text())
    raise ValueError(
        "POLIS_FCM_CREDENTIALS_FILE or POLIS_FCM_CREDENTIALS_JSON is required with "
        "POLIS_PUSH_PROVIDER=fcm"
    )


def push_sender(settings: Settings) -> PushSender:
    """The sender ``settings.push_provider`` names."""
    if settings.push_provider == "fcm":
        return FcmPushSender(
            fcm_account(settings),
            base_url=settings.fcm_base_url,
            timeout_seconds=settings.fcm_timeout_seconds,
        )
    return LogPushSender()
