"""The demo society the seed builds: real members and units, consistent, and built once."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.admin import demo_society
from polis.admin.seed import seed_demo_data
from polis.config import Settings
from polis.kit.phone import normalize_phone
from polis.territories.models import Territory
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership, UnitStatus
from polis.users import service as users
from polis.users.models import MemberStatus, User, UserRole

PEOPLE = (
    sum(a.size for plan in demo_society.PLAN for a in plan.ateulis)
    + sum(plan.unattached for plan in demo_society.PLAN)
    + demo_society.DIASPORA
)


async def _demo_users(session: AsyncSession, settings: Settings) -> list[User]:
    protector = users.phone_protector(settings)
    indexes = [
        protector.blind_index(normalize_phone(f"{demo_society.PHONE_PREFIX}{n:03d}"))
        for n in range(1, PEOPLE + 1)
    ]
    return list((await session.scalars(select(User).where(User.phone_index.in_(indexes)))).all())


async def _snapshot(session: AsyncSession, user_ids: list[uuid.UUID]) -> tuple[int, ...]:
    memberships = await session.scalar(
        select(func.count()).select_from(UnitMembership).where(UnitMembership.user_id.in_(user_ids))
    )
    terms = await session.scalar(
        select(func.count()).select_from(LeadershipTerm).where(LeadershipTerm.user_id.in_(user_ids))
    )
    units = await session.scalar(select(func.count()).select_from(Unit))
    people = await session.scalar(select(func.count()).select_from(User))
    return int(memberships or 0), int(terms or 0), int(units or 0), int(people or 0)


async def test_the_demo_society_is_real_consistent_and_seeded_once(
    db_session: AsyncSession, settings: Settings
) -> None:
    report = await seed_demo_data(db_session, settings)
    assert "demo society" in report.created
    people = await _demo_users(db_session, settings)
    assert len(people) == PEOPLE
    ids = [person.id for person in people]

    # Onboarded through the service: named, verified, a mix of roles and statuses.
    assert all(p.is_verified and p.first_name and p.last_name for p in people)
    assert all(p.personal_id_ciphertext is not None for p in people)
    roles = Counter(p.role for p in people)
    assert roles[UserRole.GEDER] > roles[UserRole.SUPPORTER] > 0
    assert all(
        p.ged_number is not None and "GED000001" <= p.ged_number <= "GED000500"
        for p in people
        if p.role is UserRole.GEDER
    )
    assert {p.status for p in people} == {MemberStatus.ACTIVE, MemberStatus.PASSIVE}
    assert sum(p.is_diaspora for p in people) == demo_society.DIASPORA
    districts = {p.territory_id for p in people if p.territory_id is not None}
    assert len(districts) == len(demo_society.PLAN)
    assert len({(p.first_name, p.last_name) for p in people}) > PEOPLE // 2

    # Every planned ateuli exists with its members; member_count is the real count.
    ateulis = (
        await db_session.scalars(
            select(Unit).where(Unit.level == UnitLevel.ATEULI, Unit.founder_id.in_(ids))
        )
    ).all()
    planned = {a.name: a for plan in demo_society.PLAN for a in plan.ateulis}
    assert {unit.name for unit in ateulis} == set(planned)
    for unit in ateulis:
        real = await db_session.scalar(
            select(func.count())
            .select_from(UnitMembership)
            .where(UnitMembership.unit_id == unit.id, UnitMembership.left_at.is_(None))
        )
        assert unit.member_count == real == planned[unit.name].size
        full = planned[unit.name].size == 10
        assert unit.status is (UnitStatus.ACTIVE if full else UnitStatus.FORMING)
        term = await db_session.scalar(
            select(LeadershipTerm).where(
                LeadershipTerm.unit_id == unit.id, LeadershipTerm.ended_at.is_(None)
            )
        )
        if planned[unit.name].led:
            assert term is not None and term.user_id == unit.founder_id
            assert unit.leader_election_due_at is None
        else:
            assert term is None
    batumi = next(unit for unit in ateulis if unit.name == "Batumi Boulevard")
    assert batumi.leader_election_due_at is not None

    # Growth formed one ormotsdaateuli of Saburtalo's five led ateulis, and seated its leader.
    saburtalo = await db_session.scalar(select(Territory).where(Territory.code == "GE-TB-03-D1"))
    assert saburtalo is not None
    children = [unit for unit in ateulis if unit.territory_id == saburtalo.id and unit.parent_id]
    assert len(children) == 5
    parent = await db_session.get(Unit, children[0].parent_id)
    assert parent is not None
    assert parent.level is UnitLevel.ORMOTSDAATEULI
    assert parent.territory_id == saburtalo.id
    assert parent.status is UnitStatus.ACTIVE and parent.member_count == 5
    assert {child.parent_id for child in children} == {parent.id}
    seat = await db_session.scalar(
        select(LeadershipTerm).where(
            LeadershipTerm.unit_id == parent.id, LeadershipTerm.ended_at.is_(None)
        )
    )
    assert seat is not None and seat.user_id in {child.founder_id for child in children}

    # A second seed writes nothing.
    before = await _snapshot(db_session, ids)
    again = await seed_demo_data(db_session, settings)
    assert again.created == []
    assert "demo society" in again.unchanged
    assert await _snapshot(db_session, ids) == before
