"""The member's own profile, onboarding, export and deletion; other members' public view."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from polis.auth import service as auth
from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.ged.adapter import ged_database
from polis.kit import clock
from polis.kit.deps import DbSession, RedisDep, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination, paginated
from polis.kit.routing import DomainRouter, errors
from polis.users import service
from polis.users.presenters import me_out, public_out
from polis.users.schemas import (
    DeletedOut,
    MeOut,
    OnboardingIn,
    OnboardingOut,
    PublicUserOut,
    UpdateMeIn,
    UserExportOut,
)

router = DomainRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=Envelope[MeOut], summary="My profile")
async def get_me(
    user: AuthenticatedUser, session: DbSession, settings: SettingsDep
) -> Envelope[MeOut]:
    return ok(await me_out(session, settings, user))


@router.patch("/me", response_model=Envelope[MeOut], summary="Change my profile")
async def update_me(
    body: UpdateMeIn, user: AuthenticatedUser, session: DbSession, settings: SettingsDep
) -> Envelope[MeOut]:
    await service.update_me(session, user, body.model_dump(exclude_unset=True))
    return ok(await me_out(session, settings, user))


@router.post(
    "/me/complete-onboarding", response_model=Envelope[OnboardingOut], summary="Complete onboarding"
)
@errors(
    ErrorCode.OUT_OF_RANGE,
    ErrorCode.DUPLICATE,
    ErrorCode.INVALID_HIERARCHY_LEVEL,
    ErrorCode.GED_NOT_CONFIRMED,
    ErrorCode.ALREADY_ONBOARDED,
    ErrorCode.NOT_FOUND,
)
async def complete_onboarding(
    body: OnboardingIn, user: AuthenticatedUser, session: DbSession, settings: SettingsDep
) -> Envelope[OnboardingOut]:
    steps = await service.complete_onboarding(
        session,
        settings,
        ged_database(settings),
        user,
        service.Onboarding(**body.model_dump()),
    )
    return ok(OnboardingOut(user=await me_out(session, settings, user), next_steps=steps))


@router.get("/me/export", response_model=Envelope[UserExportOut], summary="Export my data")
async def export_me(
    user: AuthenticatedUser, session: DbSession, settings: SettingsDep
) -> Envelope[UserExportOut]:
    sessions = await auth.list_sessions(session, user)
    return ok(
        UserExportOut(
            profile=await me_out(session, settings, user),
            motivation=user.motivation,
            sessions=[
                {
                    "id": str(s.id),
                    "created_at": s.created_at.isoformat(),
                    "last_seen_at": s.last_seen_at.isoformat(),
                    "ip_address": s.ip_address,
                    "device_type": d.device_type,
                    "device_model": d.device_model,
                }
                for s, d in sessions
            ],
            devices=[
                {"id": str(d.id), "device_type": d.device_type, "device_model": d.device_model}
                for d in {d.id: d for _, d in sessions}.values()
            ],
            exported_at=clock.now(),
        )
    )


@router.delete("/me", response_model=Envelope[DeletedOut], summary="Delete my account")
async def delete_me(
    user: AuthenticatedUser, session: DbSession, settings: SettingsDep, redis: RedisDep
) -> Envelope[DeletedOut]:
    await auth.revoke_all_sessions(session, settings, redis, user, "account_deleted")
    await service.anonymise(session, user)
    return ok(DeletedOut())


@router.get("/search", response_model=ListEnvelope[PublicUserOut], summary="Find members")
async def search(
    _: VerifiedUser,
    session: DbSession,
    settings: SettingsDep,
    params: Pagination,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="a part of a name")
    ] = None,
    territory_id: uuid.UUID | None = None,
) -> ListEnvelope[PublicUserOut]:
    page = await service.search_members(session, params, name=q, territory_id=territory_id)
    items = [await public_out(session, settings, member) for member in page.items]
    return paginated(items, page.total, params)


@router.get("/{user_id}", response_model=Envelope[PublicUserOut], summary="A member's public view")
@errors(ErrorCode.NOT_FOUND)
async def get_user(
    user_id: uuid.UUID, _: AuthenticatedUser, session: DbSession, settings: SettingsDep
) -> Envelope[PublicUserOut]:
    member = await service.get_member(session, user_id)
    return ok(await public_out(session, settings, member))
