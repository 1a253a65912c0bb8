"""The issue's test: two API processes share Redis, and a client on one hears what the other
raises (DESIGN.md §3.8)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from polis.audit.models import AuditLog
from polis.auth.models import Device, UserDevice
from polis.config import Settings
from polis.kit.db import create_sessionmaker
from polis.users.models import User
from tests.auth.helpers import fingerprint, login
from tests.conftest import make_member, process_env
from tests.e2e.harness import free_port

START_WAIT_SECONDS = 60.0
PHONE = "+995555709901"


def _command(port: int) -> list[str]:
    return [sys.executable, "-m", "polis", "serve", "--port", str(port)]


@contextmanager
def api_process(settings: Settings, log: Path) -> Iterator[str]:
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    with log.open("wb") as output:
        process = subprocess.Popen(
            _command(port),
            env=process_env(settings),
            cwd=root,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield f"127.0.0.1:{port}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def wait_healthy(host: str, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WAIT_SECONDS
    async with httpx.AsyncClient() as http:
        while loop.time() < deadline:
            try:
                if (await http.get(f"http://{host}/health", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)  # polling a process that is booting
    raise AssertionError(f"{host} did not become healthy:\n{_read(log)}")


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


@pytest.mark.usefixtures("worker")
async def test_a_client_on_one_process_hears_a_notification_raised_on_the_other(
    settings: Settings, engine: AsyncEngine, redis: Redis, tmp_path: Path
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        member = await make_member(session, settings, PHONE)
        await session.commit()
    user_id = member.user.id
    try:
        with (
            api_process(settings, tmp_path / "one.log") as first,
            api_process(settings, tmp_path / "two.log") as second,
        ):
            await wait_healthy(first, tmp_path / "one.log")
            await wait_healthy(second, tmp_path / "two.log")
            async with connect(f"ws://{first}/ws?token={member.token}") as ws:
                async with asyncio.timeout(10):
                    assert json.loads(await ws.recv())["event"] == "ready"
                # Log the member in on the second process from a new device: it notifies them.
                async with httpx.AsyncClient(base_url=f"http://{second}", timeout=30) as http:
                    await login(http, redis, settings, PHONE, device=fingerprint())
                async with asyncio.timeout(10):
                    while True:
                        message = json.loads(await ws.recv())
                        if message["event"] != "ping":
                            break
                assert message["event"] == "notification.new"
                assert message["data"]["type"] == "new_device_login"
    finally:
        async with maker() as session:
            device_ids = list(
                (
                    await session.scalars(
                        select(UserDevice.device_id).where(UserDevice.user_id == user_id)
                    )
                ).all()
            )
            device_ids.append(member.device_id)
            await session.execute(delete(AuditLog).where(AuditLog.actor_id == user_id))
            await session.execute(delete(AuditLog).where(AuditLog.entity_id == str(user_id)))
            await session.execute(delete(User).where(User.id == user_id))
            await session.execute(delete(Device).where(Device.id.in_(device_ids)))
            await session.commit()
