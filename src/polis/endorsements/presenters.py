"""How the endorsements API shows its rows: endorsements, GeDers' slots, supporters, a
member's status and a GeDer's rights. Rows in, response schemas out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.endorsements import queries
from polis.endorsements.models import Endorsement, EndorsementRights
from polis.endorsements.schemas import (
    AteuliRef,
    AvailableGederOut,
    EndorsementOut,
    GederRightsOut,
    MyStatusOut,
    SupporterOut,
    SuspensionOut,
)
from polis.kit import clock
from polis.kit.presenting import from_row
from polis.users import service as users_service
from polis.users.models import User
from polis.users.presenters import person_ref


async def endorsements_out(
    session: AsyncSession, endorsements: Sequence[Endorsement]
) -> list[EndorsementOut]:
    """Endorsements with both people named (one query for all of them)."""
    ids = {e.requester_id for e in endorsements} | {e.geder_id for e in endorsements}
    people = await users_service.people(session, ids)
    return [
        from_row(
            EndorsementOut,
            e,
            requester=person_ref(people, e.requester_id),
            geder=person_ref(people, e.geder_id),
        )
        for e in endorsements
    ]


async def endorsement_out(session: AsyncSession, endorsement: Endorsement) -> EndorsementOut:
    return (await endorsements_out(session, [endorsement]))[0]


def suspension_out(rights: EndorsementRights | None) -> SuspensionOut:
    """A GeDer's suspension as of now; its dates and case only while it runs."""
    if rights is None:
        return SuspensionOut(suspended=False, permanent=False, until=None, since=None, case_id=None)
    suspended = rights.is_suspended(clock.now())
    return SuspensionOut(
        suspended=suspended,
        permanent=rights.suspended_permanently,
        until=rights.suspended_until if suspended and not rights.suspended_permanently else None,
        since=rights.suspended_at if suspended else None,
        case_id=rights.suspension_case_id if suspended else None,
    )


def available_geders_out(slots: Sequence[queries.GederSlots]) -> list[AvailableGederOut]:
    """GeDers one could ask, with their ateuli and free slots."""
    return [
        from_row(
            AvailableGederOut,
            s.geder,
            ateuli=AteuliRef(id=s.ateuli.id, name=s.ateuli.name) if s.ateuli else None,
            available_slots=max(s.limit - s.used, 0),
            total_slots=s.limit,
            endorsement_count=s.used,
        )
        for s in slots
    ]


async def supporters_out(
    session: AsyncSession, endorsements: Sequence[Endorsement]
) -> list[SupporterOut]:
    """The members a GeDer vouches for, with their review flag."""
    people = await users_service.people(session, {e.requester_id for e in endorsements})
    return [
        from_row(
            SupporterOut,
            people[e.requester_id],
            endorsement_id=e.id,
            endorsed_at=e.decided_at,
            flagged_for_review=people[e.requester_id].flagged_for_review_at is not None,
        )
        for e in endorsements
    ]


async def my_status_out(session: AsyncSession, user: User) -> MyStatusOut:
    """``user``'s limit, slots, suspension, tavdebi and pending request."""
    rights = await queries.rights_of(session, user.id)
    limit = queries.limit_of(rights)
    used = await queries.used_slots(session, user.id)
    suspension = suspension_out(rights)
    tavdebi_id = await queries.guarantor_of(session, user.id)
    tavdebi = await users_service.people(session, [tavdebi_id])
    pending = await queries.pending_request_of(session, user.id)
    is_geder = user.role.value == "geder" and user.is_onboarded
    return MyStatusOut(
        role=user.role,
        endorsement_limit=limit,
        used_slots=used,
        available_slots=max(limit - used, 0),
        can_endorse=is_geder and not suspension.suspended and used < limit,
        suspension=suspension,
        tavdebi=person_ref(tavdebi, tavdebi_id),
        pending_request_id=pending.id if pending else None,
    )


async def rights_out(session: AsyncSession, geder_id: uuid.UUID) -> GederRightsOut:
    """A GeDer's limit, used slots and suspension, as the admin routes answer them."""
    rights = await queries.rights_of(session, geder_id)
    return GederRightsOut(
        geder_id=geder_id,
        endorsement_limit=queries.limit_of(rights),
        used_slots=await queries.used_slots(session, geder_id),
        suspension=suspension_out(rights),
    )
