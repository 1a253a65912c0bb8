"""A local FCM HTTP v1 server: the OAuth token endpoint and ``messages:send``, with FCM's own
error answers, scriptable per request (a real HTTP server on 127.0.0.1, in a thread).

- ``POST /token``: the JWT bearer grant. The assertion must be an RS256 JWT signed by the
  service account's key, for the FCM scope, addressed to this URL; the answer is a fresh access
  token (``expires_in`` as set).
- ``POST /v1/projects/{project}/messages:send``: needs a live access token (else 401
  ``UNAUTHENTICATED``); then answers from ``script`` (one entry per request, FIFO), else 200
  ``{"name": "projects/…/messages/N"}``. Tokens in ``unregistered`` always get 404
  ``UNREGISTERED``. Script entries: ``"ok"``, ``"hold"`` (no answer until ``release()``: a send
  in flight, for killing its worker), ``"unregistered"``, ``"invalid"``, ``"unauthenticated"``,
  or an HTTP status (429, 500, 503) with an optional ``Retry-After``: ``(503, "2")``.

Every request is recorded (``messages``), with the status it was answered with. What a member
sees is :meth:`FcmStandIn.seen_by_user`: one notification per device and collapse key, as
Android, iOS and browsers show them.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")

Reply = str | int | tuple[int, str]

_ERRORS: dict[str, tuple[int, str, str, str | None]] = {
    # name: (HTTP status, google.rpc status, message, FcmError errorCode)
    "unregistered": (404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
    "invalid": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT",
    ),
    "unauthenticated": (
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials.",
        None,
    ),
}
_STATUS_ERRORS: dict[int, tuple[str, str, str]] = {
    429: ("RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"),
    500: ("INTERNAL", "Internal error encountered.", "INTERNAL"),
    503: ("UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
}


def error_body(status: int, rpc_status: str, message: str, code: str | None) -> dict[str, Any]:
    """An FCM v1 error answer, as FCM writes it."""
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if code is not None:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": code}]
    return {"error": error}


@dataclass
class ServiceAccountKey:
    """A fresh RSA key as a Google service-account JSON, and its public half for checking."""

    json: str
    public_key: Any
    client_email: str
    project_id: str


def make_service_account(token_uri: str, project_id: str = "polis-test") -> ServiceAccountKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = f"polis-push@{project_id}.iam.gserviceaccount.com"
    document = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return ServiceAccountKey(json.dumps(document), private.public_key(), email, project_id)


@dataclass
class Message:
    token: str
    data: dict[str, str]
    collapse_key: str | None
    title: str
    status: int = 0
    at: float = 0.0


@dataclass
class FcmStandIn:
    """The server's state; the test scripts it and reads what it got."""

    url: str = ""
    account: ServiceAccountKey | None = None
    token_lifetime: int = 3600
    script: list[Reply] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)
    messages: list[Message] = field(default_factory=list)
    token_requests: int = 0
    access_tokens: set[str] = field(default_factory=set)
    held: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def reset(self, *replies: Reply) -> None:
        """Forget what came in and answer the next requests with ``replies``."""
        with self.changed:
            self.messages.clear()
            self.script[:] = list(replies)
            self.unregistered.clear()
            self.held = 0
            self.released = threading.Event()

    def revoke_tokens(self) -> None:
        """Make every access token issued so far invalid (the next send gets 401)."""
        with self.changed:
            self.access_tokens.clear()

    def release(self) -> None:
        """Answer the held requests (200)."""
        self.released.set()

    def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "") -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), (
                f"the FCM stand-in waited in vain for {what}: {len(self.messages)} messages"
            )

    def accepted(self) -> list[Message]:
        with self.changed:
            return [m for m in self.messages if m.status == 200]

    def seen_by_user(self) -> set[tuple[str, str | None]]:
        """What members see: one notification per (device token, collapse key)."""
        return {(m.token, m.collapse_key) for m in self.accepted()}

    def by_delivery(self, delivery_id: str) -> list[Message]:
        with self.changed:
            return [m for m in self.messages if m.data.get("delivery_id") == delivery_id]


def _handler(standin: FcmStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (40 ms a request on keep-alive connections).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def _token(self, raw: bytes) -> None:
            form = parse_qs(raw.decode())
            assert standin.account is not None
            try:
                assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
                claims = jwt.decode(
                    form["assertion"][0],
                    standin.account.public_key,
                    algorithms=["RS256"],
                    audience=standin.token_uri,
                )
                assert claims["iss"] == standin.account.client_email
                assert claims["scope"] == SCOPE
            except (AssertionError, KeyError, jwt.PyJWTError):
                self._answer(400, {"error": "invalid_grant", "error_description": "bad"})
                return
            access = "ya29.standin-" + secrets.token_hex(16)
            with standin.changed:
                standin.token_requests += 1
                standin.access_tokens.add(access)
            self._answer(
                200,
                {
                    "access_token": access,
                    "expires_in": standin.token_lifetime,
                    "token_type": "Bearer",
                },
            )

        def _send(self, raw: bytes) -> None:
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            body = json.loads(raw)["message"]
            message = Message(
                token=body["token"],
                data=body.get("data") or {},
                collapse_key=(body.get("android") or {}).get("collapse_key"),
                title=(body.get("notification") or {}).get("title", ""),
                at=time.monotonic(),
            )
            with standin.changed:
                authorized = bearer in standin.access_tokens
                reply: Reply = "unauthenticated"
                if authorized:
                    if message.token in standin.unregistered:
                        reply = "unregistered"
                    else:
                        reply = standin.script.pop(0) if standin.script else "ok"
                if reply == "hold":
                    standin.held += 1
                standin.messages.append(message)
                standin.changed.notify_all()
                released = standin.released
            if reply == "hold":
                released.wait(timeout=120)
                reply = "ok"
            status, rpc_body, headers = self._reply(reply)
            with standin.changed:
                message.status = status
                standin.changed.notify_all()
            # The sender may have died while we held its request.
            with contextlib.suppress(OSError):
                self._answer(status, rpc_body, headers)

        def _reply(self, reply: Reply) -> tuple[int, dict[str, Any], dict[str, str]]:
            if reply == "ok":
                return 200, {"name": f"projects/p/messages/{secrets.token_hex(8)}"}, {}
            if isinstance(reply, str):
                status, rpc, text, code = _ERRORS[reply]
                return status, error_body(status, rpc, text, code), {}
            status, retry_after = (reply, None) if isinstance(reply, int) else reply
            rpc, text, code = _STATUS_ERRORS[status]
            headers = {"Retry-After": retry_after} if retry_after else {}
            return status, error_body(status, rpc, text, code), headers

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/token":
                self._token(raw)
            elif _SEND_PATH.match(self.path):
                self._send(raw)
            else:
                self._answer(404, error_body(404, "NOT_FOUND", "No such method.", None))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_fcm_standin() -> Iterator[FcmStandIn]:
    """The stand-in, listening on a free port of 127.0.0.1, with a service account of its own."""
    standin = FcmStandIn()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    httpd.daemon_threads = True
    standin.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    standin.account = make_service_account(standin.token_uri)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin.release()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
