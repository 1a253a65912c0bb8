"""Logging in through the real flow: the code travels through a real worker to the outbox."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import httpx
from redis.asyncio import Redis

from polis.config import Settings
from polis.kit.phone import normalize_phone
from polis.sms.service import outbox_messages

CODE = re.compile(r"\b(\d{6})\b")
OUTBOX_WAIT_SECONDS = 30.0


def fingerprint(value: str | None = None) -> dict[str, Any]:
    return {
        "fingerprint_hash": value or secrets.token_hex(32),
        "device_type": "android",
        "device_model": "Pixel 8",
        "os_version": "15",
        "app_version": "1.0.0",
    }


async def request_code(client: httpx.AsyncClient, phone: str, **headers: str) -> str:
    response = await client.post(
        "/api/v1/auth/send-verification-code", json={"phone_number": phone}, headers=headers
    )
    assert response.status_code == 200, response.text
    verification_id: str = response.json()["data"]["verification_id"]
    return verification_id


async def read_code(redis: Redis, settings: Settings, phone: str, seen: int = 0) -> str:
    """The code in the newest SMS to ``phone``, once more than ``seen`` messages arrived.

    Waits for the worker process (bounded), not for time to pass.
    """
    phone = normalize_phone(phone)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OUTBOX_WAIT_SECONDS
    while loop.time() < deadline:
        messages = await outbox_messages(redis, settings, phone)
        if len(messages) > seen:
            match = CODE.search(messages[0].text)
            assert match, messages[0].text
            return match.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no SMS reached the outbox for {phone}")


async def login(
    client: httpx.AsyncClient,
    redis: Redis,
    settings: Settings,
    phone: str,
    device: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send a code, read it from the outbox, verify it: the `data` of verify-phone."""
    seen = len(await outbox_messages(redis, settings, phone))
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone, seen)
    response = await client.post(
        "/api/v1/auth/verify-phone",
        json={
            "verification_id": verification_id,
            "code": code,
            "device_fingerprint": device or fingerprint(),
        },
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    details: dict[str, Any] = body["error"]["details"]
    return details
