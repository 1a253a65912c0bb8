"""Reading endorsements: slots, rights, one endorsement, the tavdebi, the lists (DESIGN.md §3.2).

Every read that a request, a rule or arbitration makes of endorsements goes through here; the
rules (service.py, revocation.py, penalties.py) change them, the router shapes them
(presenters.py). Nothing here writes or locks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.endorsements.models import (
    DEFAULT_LIMIT,
    Endorsement,
    EndorsementRights,
    EndorsementStatus,
    FineStatus,
    GedFine,
)
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.kit.pagination import Page, PageParams, paginate
from polis.units.models import Unit, UnitMembership
from polis.users.models import User, UserRole

NO_ENDORSEMENT = "No such endorsement."
NO_GEDER = "No such GeDer."


def _approved_count(geder_id: object) -> object:
    return (
        select(func.count())
        .select_from(Endorsement)
        .where(Endorsement.geder_id == geder_id, Endorsement.status == EndorsementStatus.APPROVED)
        .scalar_subquery()
    )


async def rights_of(session: AsyncSession, geder_id: uuid.UUID) -> EndorsementRights | None:
    """The GeDer's limit and suspension row, if an admin or a penalty ever made one."""
    return await session.get(EndorsementRights, geder_id, populate_existing=True)


async def used_slots(session: AsyncSession, geder_id: uuid.UUID) -> int:
    """How many approved, non-revoked endorsements ``geder_id`` gives now."""
    count = await session.scalar(
        select(func.count())
        .select_from(Endorsement)
        .where(Endorsement.geder_id == geder_id, Endorsement.status == EndorsementStatus.APPROVED)
    )
    return int(count or 0)


def limit_of(rights: EndorsementRights | None) -> int:
    """The GeDer's endorsement limit: their row's, else ``DEFAULT_LIMIT``."""
    return rights.endorsement_limit if rights is not None else DEFAULT_LIMIT


def is_suspended(rights: EndorsementRights | None) -> bool:
    """Whether the GeDer may not endorse now."""
    return rights is not None and rights.is_suspended(clock.now())


async def get_endorsement(session: AsyncSession, endorsement_id: uuid.UUID) -> Endorsement:
    """The endorsement ``endorsement_id``, or 404."""
    return await get_or_404(session, Endorsement, endorsement_id, missing=NO_ENDORSEMENT)


async def endorsement_between(
    session: AsyncSession, *, supporter_id: uuid.UUID, guarantor_id: uuid.UUID
) -> Endorsement | None:
    """The approved (non-revoked) endorsement of ``supporter_id`` by ``guarantor_id``, or None.
    For arbitration: an ``endorsement_fraud`` case names this row."""
    endorsement: Endorsement | None = await session.scalar(
        select(Endorsement).where(
            Endorsement.requester_id == supporter_id,
            Endorsement.geder_id == guarantor_id,
            Endorsement.status == EndorsementStatus.APPROVED,
        )
    )
    return endorsement


async def guarantor_of(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """The tavdebi of ``user_id`` (the GeDer of their approved endorsement), or None.
    For arbitration: a case is never assigned to a party's guarantor."""
    geder_id: uuid.UUID | None = await session.scalar(
        select(Endorsement.geder_id).where(
            Endorsement.requester_id == user_id,
            Endorsement.status == EndorsementStatus.APPROVED,
        )
    )
    return geder_id


async def penalties_besides(
    session: AsyncSession, geder_id: uuid.UUID, endorsement_id: uuid.UUID
) -> int:
    """How many of ``geder_id``'s endorsements other than ``endorsement_id`` were penalised:
    the guarantor's earlier confirmed offences."""
    count = await session.scalar(
        select(func.count())
        .select_from(Endorsement)
        .where(
            Endorsement.geder_id == geder_id,
            Endorsement.penalty.is_(True),
            Endorsement.id != endorsement_id,
        )
    )
    return int(count or 0)


async def pending_request_of(session: AsyncSession, user_id: uuid.UUID) -> Endorsement | None:
    """The member's request waiting for an answer, if any."""
    endorsement: Endorsement | None = await session.scalar(
        select(Endorsement).where(
            Endorsement.requester_id == user_id,
            Endorsement.status == EndorsementStatus.PENDING,
        )
    )
    return endorsement


@dataclass(frozen=True)
class GederSlots:
    geder: User
    ateuli: Unit | None
    used: int
    limit: int


async def available_geders(
    session: AsyncSession,
    user: User,
    params: PageParams,
    *,
    territory_id: uuid.UUID | None = None,
    search: str | None = None,
) -> tuple[list[GederSlots], int]:
    """GeDers ``user`` could ask now: not suspended, with a free slot, not ``user``.

    ``territory_id`` defaults to the caller's own district, the only one whose GeDers may
    vouch for them; ``search`` matches first or last name (case-insensitive substring).
    """
    now = clock.now()
    place = territory_id or user.territory_id
    limit = func.coalesce(
        select(EndorsementRights.endorsement_limit)
        .where(EndorsementRights.user_id == User.id)
        .scalar_subquery(),
        DEFAULT_LIMIT,
    )
    suspended = exists().where(
        EndorsementRights.user_id == User.id,
        or_(
            EndorsementRights.suspended_permanently.is_(True),
            EndorsementRights.suspended_until > now,
        ),
    )
    statement = select(User).where(
        User.role == UserRole.GEDER,
        User.deleted_at.is_(None),
        User.id != user.id,
        ~suspended,
        _approved_count(User.id) < limit,
    )
    if place is not None:
        statement = statement.where(User.territory_id == place)
    else:
        # A member without a district (diaspora) has no GeDer to ask.
        statement = statement.where(false())
    if search:
        statement = statement.where(_name_like(search))
    page = await paginate(
        session,
        statement,
        params,
        sortable={"created_at": User.created_at, "last_name": User.last_name},
        default_sort="created_at",
    )
    geders: list[User] = list(page.items)
    return await _slots_of(session, geders), page.total


def _name_like(search: str) -> ColumnElement[bool]:
    """First or last name contains ``search`` (case-insensitive, LIKE wildcards escaped)."""
    pattern = f"%{_escape_like(search.strip())}%"
    return or_(
        User.first_name.ilike(pattern, escape="\\"),
        User.last_name.ilike(pattern, escape="\\"),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _slots_of(session: AsyncSession, geders: list[User]) -> list[GederSlots]:
    ids = [g.id for g in geders]
    if not ids:
        return []
    used_rows = await session.execute(
        select(Endorsement.geder_id, func.count())
        .where(Endorsement.geder_id.in_(ids), Endorsement.status == EndorsementStatus.APPROVED)
        .group_by(Endorsement.geder_id)
    )
    used = {geder_id: int(count) for geder_id, count in used_rows}
    rights = {
        r.user_id: r
        for r in (
            await session.scalars(
                select(EndorsementRights).where(EndorsementRights.user_id.in_(ids))
            )
        ).all()
    }
    unit_rows = await session.execute(
        select(UnitMembership.user_id, Unit)
        .join(Unit, Unit.id == UnitMembership.unit_id)
        .where(UnitMembership.user_id.in_(ids), UnitMembership.left_at.is_(None))
    )
    ateulis = {user_id: unit for user_id, unit in unit_rows}
    return [
        GederSlots(
            geder=g,
            ateuli=ateulis.get(g.id),
            used=used.get(g.id, 0),
            limit=limit_of(rights.get(g.id)),
        )
        for g in geders
    ]


async def my_requests(session: AsyncSession, user: User, params: PageParams) -> Page:
    """Every request ``user`` made, newest first by default."""
    return await paginate(
        session,
        select(Endorsement).where(Endorsement.requester_id == user.id),
        params,
        sortable={"requested_at": Endorsement.requested_at},
        default_sort="requested_at",
    )


async def pending_approvals(session: AsyncSession, geder: User, params: PageParams) -> Page:
    """Requests waiting for ``geder``'s answer (not yet expired), oldest first by default."""
    return await paginate(
        session,
        select(Endorsement).where(
            Endorsement.geder_id == geder.id,
            Endorsement.status == EndorsementStatus.PENDING,
            Endorsement.expires_at > clock.now(),
        ),
        params if params.sort_by else PageParams(params.page, params.per_page, None, "asc"),
        sortable={"requested_at": Endorsement.requested_at},
        default_sort="requested_at",
    )


async def my_supporters(session: AsyncSession, geder: User, params: PageParams) -> Page:
    """The members ``geder`` vouches for now (approved, not revoked)."""
    return await paginate(
        session,
        select(Endorsement).where(
            Endorsement.geder_id == geder.id, Endorsement.status == EndorsementStatus.APPROVED
        ),
        params,
        sortable={"decided_at": Endorsement.decided_at},
        default_sort="decided_at",
    )


async def unsent_fine_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Fines the GeD Database has not accepted yet (for the hourly sweep)."""
    rows = await session.scalars(
        select(GedFine.id)
        .where(and_(GedFine.status != FineStatus.SENT, GedFine.ged_number.is_not(None)))
        .order_by(GedFine.created_at)
    )
    return list(rows.all())
