"""Demo data for ``polis dev`` and ``polis seed``. Every step is idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from polis.admin.demo_society import seed_demo_society
from polis.config import Settings
from polis.territories import service as territories
from polis.users import service as users
from polis.users.models import Language


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def seed_demo_data(session: AsyncSession, settings: Settings) -> SeedReport:
    """Create the demo admin, the bootstrap admins, the sample map and the demo society
    (members, ateulis, a grown ormotsdaateuli: see ``demo_society``); nothing twice."""
    report = SeedReport()
    admin, created = await users.get_or_create_by_phone(
        session,
        settings,
        settings.demo_admin_phone,
        first_name="Demo",
        last_name="Admin",
        language=Language.EN,
    )
    if not admin.is_admin:
        admin.is_admin = True
    (report.created if created else report.unchanged).append("demo admin")
    for phone in settings.bootstrap_admin_phones:
        bootstrap, changed = await users.grant_admin(session, settings, phone)
        if bootstrap.id != admin.id:
            (report.created if changed else report.unchanged).append("bootstrap admin")
    written = await territories.seed_sample_map(session)
    (report.created if written else report.unchanged).append("territory map")
    society = await seed_demo_society(session, settings)
    (report.created if society else report.unchanged).append("demo society")
    await session.flush()
    return report
