"""HTTP for gamification: progress, capabilities, achievements, the leaderboard (§3.3)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import Query, Request, Response

from polis.auth.deps import AuthenticatedUser
from polis.gamification import queries, service
from polis.gamification.models import AchievementCode
from polis.gamification.schemas import (
    AchievementOut,
    CapabilitiesOut,
    CapabilityOut,
    ChainUnitOut,
    LeaderboardItemOut,
    ProgressOut,
    TerritoryProgressOut,
)
from polis.kit.cache import cached_page_answer
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.territories.models import TerritoryType
from polis.territories.schemas import TerritoryRefOut

router = DomainRouter(prefix="/gamification", tags=["gamification"])

CACHE_NAMESPACE = "gamification"
# The leaderboard moves as members onboard; five minutes, as statistics (§4).
LEADERBOARD_TTL = 5 * 60


def _message(progress: service.TerritoryProgress) -> str:
    name = progress.territory.name_en
    if progress.next_level is None:
        return f"{name} has reached the highest level, an ataseuli."
    if progress.members_needed:
        return (
            f"{name} needs {progress.members_needed} more members to form "
            f"an {progress.next_level.value}."
        )
    if progress.units_needed and progress.units_level is not None:
        return (
            f"{name} needs {progress.units_needed} more led {progress.units_level.value}s "
            f"to form an {progress.next_level.value}."
        )
    return f"{name} has what it needs to form an {progress.next_level.value}."


@router.get(
    "/progress",
    response_model=Envelope[ProgressOut] | Envelope[TerritoryProgressOut],
    summary="How far my chain of units (or a territory) has grown, and what the next level needs",
    description="Without territory_id: the caller's chain (ateuli → ataseuli). With it: the "
    "territory's progress; 404/4001 for an unknown territory. Definitions: "
    "docs/gamification.md.",
)
@errors(ErrorCode.NOT_FOUND)
async def progress(
    user: AuthenticatedUser,
    session: DbSession,
    territory_id: uuid.UUID | None = None,
) -> Envelope[ProgressOut] | Envelope[TerritoryProgressOut]:
    if territory_id is not None:
        found = await service.territory_progress(session, territory_id)
        territory = TerritoryRefOut.of(found.territory)
        return ok(
            from_row(TerritoryProgressOut, found, territory=territory, message=_message(found))
        )
    mine = await service.my_progress(session, user)
    chain = [from_row(ChainUnitOut, link.unit, led=link.led) for link in mine.chain]
    return ok(from_row(ProgressOut, mine, chain=chain))


@router.get(
    "/unlocked-capabilities",
    response_model=Envelope[CapabilitiesOut],
    summary="What my level of the hierarchy lets me do",
)
async def unlocked_capabilities(
    user: AuthenticatedUser, session: DbSession
) -> Envelope[CapabilitiesOut]:
    level, capabilities = await service.my_capabilities(session, user)
    return ok(
        CapabilitiesOut(
            unlocked_level=level,
            capabilities=[
                from_row(CapabilityOut, cap, unlocked=unlocked) for cap, unlocked in capabilities
            ],
        )
    )


@router.get(
    "/achievements",
    response_model=Envelope[list[AchievementOut]],
    summary="Every milestone, with whether and when I reached it",
    description="Awarded by the hourly sweep polis.gamification.milestone_sweep.",
)
async def achievements(
    user: AuthenticatedUser, session: DbSession
) -> Envelope[list[AchievementOut]]:
    held = await queries.achievements_of(session, user.id)
    return ok(
        [
            AchievementOut(code=code.value, achieved=code in held, awarded_at=held.get(code))
            for code in AchievementCode
        ]
    )


@router.get(
    "/leaderboard",
    response_model=ListEnvelope[LeaderboardItemOut],
    summary="Territories ranked by verified members or by 30-day growth",
    description="sort_by: members (default) or growth_30d. Cached 5 minutes; ETag and 304.",
)
async def leaderboard(
    request: Request,
    _: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    type: Annotated[TerritoryType | None, Query(description="region, municipality, …")] = None,
) -> Response:
    async def produce() -> dict[str, Any]:
        rows, total = await queries.leaderboard(session, params, type_=type)
        items = [
            from_row(LeaderboardItemOut, row, territory=TerritoryRefOut.of(row.territory))
            for row in rows
        ]
        return {"items": items, "total": total}

    key = "leaderboard:" + json.dumps(
        [type, params.page, params.per_page, params.sort_by, params.sort_order]
    )
    return await cached_page_answer(request, CACHE_NAMESPACE, key, LEADERBOARD_TTL, params, produce)
