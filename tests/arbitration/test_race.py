"""Case numbers under a real race: twenty filings in separate committed transactions."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import String, cast, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.arbitration.models import ArbitrationCase
from polis.arbitration.router import router
from polis.audit.models import AuditLog
from polis.config import Settings
from polis.elections.models import Election
from polis.kit.db import create_sessionmaker
from polis.notifications.models import Notification
from polis.territories.models import Territory
from polis.units.models import LeadershipTerm, Unit, UnitMembership
from polis.users.models import User
from tests.arbitration.helpers import CASES, auth, case_body, tree
from tests.conftest import client_for, serve_app


async def test_twenty_concurrent_filings_get_twenty_distinct_numbers(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        t = await tree(session, ateulis=5)
        await session.commit()
    user_ids = [uid for ids in t.members for uid in ids]
    unit_ids = [unit.id for unit in (*t.ateulis, *t.ormo)]
    plaintiffs = [uid for ids in t.members[1:5] for uid in ids[1:6]]
    defendant = t.members[0][9]
    try:
        async with serve_app(settings, router) as app, client_for(app) as http:
            answers = await asyncio.gather(
                *(
                    http.post(CASES, json=case_body(defendant), headers=auth(settings, plaintiff))
                    for plaintiff in plaintiffs
                )
            )
        assert [a.status_code for a in answers] == [201] * 20
        numbers = [a.json()["data"]["number"] for a in answers]
        assert len(set(numbers)) == 20
        assert all(re.fullmatch(r"ARB-\d{4}-\d{6}", number) for number in numbers)
        async with maker() as session:
            stored = (
                await session.scalars(
                    select(ArbitrationCase.number).where(ArbitrationCase.defendant_id == defendant)
                )
            ).all()
        assert sorted(stored) == sorted(numbers)
    finally:
        async with maker() as session:
            await session.execute(
                delete(ArbitrationCase).where(ArbitrationCase.defendant_id == defendant)
            )
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(user_ids)))
            await session.execute(
                delete(AuditLog).where(AuditLog.entity_id.in_([str(u) for u in unit_ids]))
            )
            # Units with leaders schedule their elections (cascaded with the units below);
            # their audit records go here.
            elections = select(cast(Election.id, String)).where(Election.scope_id.in_(unit_ids))
            await session.execute(delete(AuditLog).where(AuditLog.entity_id.in_(elections)))
            await session.execute(
                delete(LeadershipTerm).where(LeadershipTerm.unit_id.in_(unit_ids))
            )
            await session.execute(
                delete(UnitMembership).where(UnitMembership.unit_id.in_(unit_ids))
            )
            await session.execute(delete(Unit).where(Unit.id.in_(unit_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == t.district_id))
            await session.commit()
