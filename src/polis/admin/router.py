"""Admin actions on members and devices."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from polis.auth import service as auth
from polis.auth.deps import AdminUser
from polis.kit.deps import DbSession, RedisDep, SettingsDep
from polis.kit.envelope import Envelope, ok
from polis.kit.routing import DomainRouter

router = DomainRouter(prefix="/admin", tags=["admin"])


class BlockDeviceIn(BaseModel):
    reason: str = Field(min_length=3, max_length=200)


class DeviceStateOut(BaseModel):
    id: uuid.UUID
    blocked: bool
    blocked_reason: str | None


@router.post(
    "/devices/{device_id}/block", response_model=Envelope[DeviceStateOut], summary="Block a device"
)
async def block_device(
    device_id: uuid.UUID,
    body: BlockDeviceIn,
    admin: AdminUser,
    session: DbSession,
    settings: SettingsDep,
    redis: RedisDep,
) -> Envelope[DeviceStateOut]:
    device = await auth.block_device(session, redis, settings, admin, device_id, body.reason)
    return ok(DeviceStateOut(id=device.id, blocked=True, blocked_reason=device.blocked_reason))


@router.post(
    "/devices/{device_id}/unblock",
    response_model=Envelope[DeviceStateOut],
    summary="Unblock a device",
)
async def unblock_device(
    device_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> Envelope[DeviceStateOut]:
    device = await auth.unblock_device(session, admin, device_id)
    return ok(DeviceStateOut(id=device.id, blocked=False, blocked_reason=None))
