"""Seeding is idempotent; `polis admin grant` makes a member an admin through the real CLI."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.admin.seed import seed_demo_data
from polis.audit.models import AuditLog
from polis.config import Settings
from polis.users import service as users
from polis.users.models import User
from tests.conftest import process_env


async def test_seed_twice_creates_nothing_twice(
    db_session: AsyncSession, settings: Settings
) -> None:
    configured = settings.model_copy(update={"bootstrap_admin_phones": ["+995555000201"]})
    first = await seed_demo_data(db_session, configured)
    assert first.created == ["demo admin", "bootstrap admin", "territory map", "demo society"]
    count_after_first = await db_session.scalar(select(func.count()).select_from(User))

    second = await seed_demo_data(db_session, configured)
    assert second.created == []
    assert len(second.unchanged) == 4
    assert await db_session.scalar(select(func.count()).select_from(User)) == count_after_first

    admin = await users.get_by_phone(db_session, settings, settings.demo_admin_phone)
    assert admin is not None
    assert admin.is_admin
    assert admin.first_name == "Demo"
    # The phone is stored encrypted, never in the clear.
    assert admin.phone_ciphertext is not None
    assert settings.demo_admin_phone.encode() not in admin.phone_ciphertext
    assert users.phone_protector(settings).decrypt(admin.phone_ciphertext) == (
        settings.demo_admin_phone
    )


async def test_grant_admin_registers_or_promotes(
    db_session: AsyncSession, settings: Settings
) -> None:
    user, created = await users.get_or_create_by_phone(db_session, settings, "+995555000202")
    assert created and not user.is_admin
    promoted, changed = await users.grant_admin(db_session, settings, "555 000 202")
    assert promoted.id == user.id and changed and promoted.is_admin
    granted = await db_session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "users.admin.granted", AuditLog.entity_id == str(user.id))
    )
    assert granted == 1
    again, changed_again = await users.grant_admin(db_session, settings, "+995555000202")
    assert again.id == user.id and not changed_again


def _polis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = process_env(settings)
    return subprocess.run(
        [sys.executable, "-m", "polis", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_admin_grant_command(
    settings: Settings, db_session: AsyncSession, engine: AsyncEngine
) -> None:
    phone = "+995555000203"
    try:
        done = _polis(settings, "admin", "grant", phone)
        assert done.returncode == 0, done.stderr
        # The output masks the number.
        assert "+995 555 ••• •03 is now an admin" in done.stdout
        assert phone not in done.stdout
        user = await users.get_by_phone(db_session, settings, phone)
        assert user is not None and user.is_admin

        repeat = _polis(settings, "admin", "grant", phone)
        assert repeat.returncode == 0
        assert "was already an admin" in repeat.stdout

        invalid = _polis(settings, "admin", "grant", "not-a-phone")
        assert invalid.returncode == 2
        assert "not a phone number" in invalid.stdout
    finally:
        # The command committed for real, outside the test's transaction: remove what it wrote.
        index = users.phone_protector(settings).blind_index(phone)
        async with engine.begin() as conn:
            ids = select(User.id).where(User.phone_index == index).scalar_subquery()
            await conn.execute(delete(AuditLog).where(AuditLog.entity_id == cast(ids, String)))
            await conn.execute(delete(User).where(User.phone_index == index))
