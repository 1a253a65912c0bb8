from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from polis.users.schemas import MeOut


class SendCodeIn(BaseModel):
    phone_number: str = Field(min_length=3, max_length=32, examples=["+995555123456"])


class SendCodeOut(BaseModel):
    verification_id: str
    expires_at: datetime


class DeviceFingerprintIn(BaseModel):
    # The client's own hash of its device traits; the server keeps only a keyed hash of it.
    fingerprint_hash: str = Field(min_length=16, max_length=256)
    device_type: Literal["ios", "android", "web", "other"]
    device_model: str | None = Field(default=None, max_length=100)
    os_version: str | None = Field(default=None, max_length=50)
    app_version: str | None = Field(default=None, max_length=50)


class VerifyPhoneIn(BaseModel):
    verification_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^\d{6}$")
    device_fingerprint: DeviceFingerprintIn


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class LoginOut(TokenPairOut):
    is_new_user: bool
    user: MeOut


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutOut(BaseModel):
    logged_out: bool = True


class DeviceOut(BaseModel):
    id: uuid.UUID
    device_type: str
    device_model: str | None
    os_version: str | None
    app_version: str | None


class SessionOut(BaseModel):
    id: uuid.UUID
    device: DeviceOut
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    current: bool


class SessionRevokedOut(BaseModel):
    id: uuid.UUID
    revoked: bool = True
