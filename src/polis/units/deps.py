"""Authorization levels of the units domain, declared on routes.

``LeaderUser`` lives here rather than in ``polis.auth.deps``: being a leader is a fact of the
units domain (an open leadership term), and auth must not import units (units imports users).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from polis.auth.deps import AuthenticatedUser
from polis.kit.deps import DbSession
from polis.kit.errors import PermissionDenied
from polis.units import queries
from polis.units.models import Unit, UnitLevel
from polis.users.models import User


async def _leader(user: AuthenticatedUser, session: DbSession) -> User:
    if not await queries.is_leader(session, user.id):
        raise PermissionDenied("Only sitting leaders may do this.")
    return user


LeaderUser = Annotated[User, Depends(_leader)]


async def _ateuli_editor(
    ateuli_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> tuple[Unit, User]:
    # Looked up first: an unknown ateuli is 404 before a foreign one is 403.
    unit = await queries.get_unit(session, ateuli_id, UnitLevel.ATEULI)
    if user.is_admin:
        return unit, user
    term = await queries.open_term(session, unit.id)
    if term is None or term.user_id != user.id:
        raise PermissionDenied("Only the atistavi or an admin may change this ateuli.")
    return unit, user


# The ateuli of the path, with the caller, when the caller is its atistavi or an admin.
AteuliEditor = Annotated[tuple[Unit, User], Depends(_ateuli_editor)]
