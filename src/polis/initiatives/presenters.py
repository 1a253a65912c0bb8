"""How the initiatives API shows initiatives and supporters: rows in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.initiatives import queries
from polis.initiatives.models import Initiative, InitiativeSupport
from polis.initiatives.schemas import InitiativeOut, ScopeRef, SupporterOut
from polis.kit.presenting import from_row
from polis.users import service as users_service
from polis.users.models import User
from polis.users.presenters import person_ref


def progress_percentage(initiative: Initiative) -> float:
    """How far the initiative is towards its target, 0 to 100, one decimal."""
    if initiative.target_support <= 0:
        return 0.0
    return round(min(100.0, 100.0 * initiative.current_support / initiative.target_support), 1)


async def initiatives_out(
    session: AsyncSession, viewer: User, initiatives: Sequence[Initiative]
) -> list[InitiativeOut]:
    """``initiatives`` as ``viewer`` sees them; people, scopes and the viewer's supports are
    read in one query each, whatever the page size."""
    people = await users_service.people(
        session, [i.creator_id for i in initiatives] + [i.assignee_id for i in initiatives]
    )
    scopes = await queries.units(session, [i.scope_id for i in initiatives])
    mine = await queries.supported_by(session, viewer.id, [i.id for i in initiatives])
    out = []
    for i in initiatives:
        scope_unit = scopes.get(i.scope_id) if i.scope_id else None
        out.append(
            from_row(
                InitiativeOut,
                i,
                scope=ScopeRef(
                    type=i.scope_type,
                    id=i.scope_id,
                    name=scope_unit.name if scope_unit else None,
                ),
                progress_percentage=progress_percentage(i),
                creator=person_ref(people, i.creator_id),
                supported_by_me=i.id in mine,
                assignee=person_ref(people, i.assignee_id),
            )
        )
    return out


async def initiative_out(
    session: AsyncSession, viewer: User, initiative: Initiative
) -> InitiativeOut:
    return (await initiatives_out(session, viewer, [initiative]))[0]


async def supporters_out(
    session: AsyncSession, rows: Sequence[InitiativeSupport]
) -> list[SupporterOut]:
    people = await users_service.people(session, [row.user_id for row in rows])
    return [
        SupporterOut(
            id=row.user_id,
            display_name=person_ref(people, row.user_id).display_name,
            comment=row.comment,
            supported_at=row.created_at,
        )
        for row in rows
    ]
