"""Initiatives through HTTP: creating, editing, publishing, supporting, lists and supporters."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.initiatives import service
from polis.initiatives.models import Initiative, InitiativeScope, InitiativeStatus
from polis.users.models import UserRole
from tests.conftest import envelope_body, envelope_error
from tests.initiatives.helpers import (
    INITIATIVES,
    audit_actions,
    auth,
    body,
    stored,
    support_rows,
    tree,
)
from tests.units.factories import bulk_users, verified


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Initiative)) or 0)


async def _create(
    client: httpx.AsyncClient, settings: Settings, creator: uuid.UUID, payload: dict[str, object]
) -> dict[str, object]:
    answer = await client.post(INITIATIVES, json=payload, headers=auth(settings, creator))
    data: dict[str, object] = envelope_body(answer, 201)["data"]
    return data


# --- creating -------------------------------------------------------------------------------


async def test_a_member_starts_an_active_initiative_for_their_ateuli(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    creator = t.members[1][4]

    data = await _create(client, settings, creator, body("ateuli", t.ateulis[1].id, 5))

    assert data["status"] == "active"
    assert data["current_support"] == 0
    assert data["progress_percentage"] == 0.0
    assert data["scope"] == {"type": "ateuli", "id": str(t.ateulis[1].id), "name": "Test ateuli"}
    assert data["creator"]["id"] == str(creator)  # type: ignore[index]
    row = await stored(db_session, str(data["id"]))
    assert (row.status, row.creator_id, row.target_support) == (
        InitiativeStatus.ACTIVE,
        creator,
        5,
    )
    assert row.published_at is not None
    assert await audit_actions(db_session, row.id) == ["initiatives.created"]


async def test_members_of_an_ateuli_under_a_unit_belong_to_its_scope(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    assert t.aseuli is not None
    # A member of ateuli 7 (under the second ormotsdaateuli) speaks for the whole aseuli.
    data = await _create(client, settings, t.members[7][3], body("aseuli", t.aseuli.id, 20))
    assert data["scope_type"] == "aseuli"
    data = await _create(
        client, settings, t.members[7][3], body("ormotsdaateuli", t.ormo[1].id, 10)
    )
    assert data["scope_id"] == str(t.ormo[1].id)


@pytest.mark.parametrize(
    ("scope", "minimum"),
    [("ateuli", 5), ("ormotsdaateuli", 10), ("aseuli", 20), ("national", 1000)],
)
async def test_a_target_below_the_scopes_minimum_is_refused_with_3051(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    scope: str,
    minimum: int,
) -> None:
    t = await tree(db_session, ateulis=10)
    assert t.aseuli is not None
    scope_ids = {
        "ateuli": t.ateulis[0].id,
        "ormotsdaateuli": t.ormo[0].id,
        "aseuli": t.aseuli.id,
        "national": None,
    }
    creator = auth(settings, t.members[0][5])
    before = await _count(db_session)

    low = await client.post(
        INITIATIVES, json=body(scope, scope_ids[scope], minimum - 1), headers=creator
    )

    error = envelope_error(low, 422, 3051)
    assert error["details"]["minimum"] == minimum
    assert await _count(db_session) == before
    enough = await client.post(
        INITIATIVES, json=body(scope, scope_ids[scope], minimum), headers=creator
    )
    envelope_body(enough, 201)


def test_minimum_targets_are_settings(settings: Settings) -> None:
    changed = settings.model_copy(update={"initiative_min_support_ataseuli": 7})
    assert service.minimum_target(changed, InitiativeScope.ATASEULI) == 7
    assert service.minimum_target(settings, InitiativeScope.ATASEULI) == 100


async def test_creation_refusals(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    member = auth(settings, t.members[0][5])
    before = await _count(db_session)

    # Not a member of that ateuli (lives in ateuli 0, asks for ateuli 6): 403/3050.
    foreign = await client.post(
        INITIATIVES, json=body("ateuli", t.ateulis[6].id, 5), headers=member
    )
    envelope_error(foreign, 403, 3050)
    # Not under that ormotsdaateuli either.
    foreign = await client.post(
        INITIATIVES, json=body("ormotsdaateuli", t.ormo[1].id, 10), headers=member
    )
    envelope_error(foreign, 403, 3050)
    # An unknown unit, and a unit of another level than the scope: 404.
    unknown = await client.post(INITIATIVES, json=body("ateuli", uuid.uuid4(), 5), headers=member)
    envelope_error(unknown, 404, 4001)
    wrong_level = await client.post(
        INITIATIVES, json=body("ormotsdaateuli", t.ateulis[0].id, 10), headers=member
    )
    envelope_error(wrong_level, 404, 4001)
    # Every attempt counts towards the daily limit (5): the next ones come from a neighbour.
    member = auth(settings, t.members[0][6])
    # scope_id is required for a unit scope, and forbidden for national.
    missing = await client.post(INITIATIVES, json=body("ateuli", None, 5), headers=member)
    assert envelope_error(missing, 422, 2001)["details"]["field"] == "scope_id"
    extra = await client.post(
        INITIATIVES, json=body("national", t.ateulis[0].id, 1000), headers=member
    )
    assert envelope_error(extra, 422, 2002)["details"]["field"] == "scope_id"
    # Malformed: an unknown category, an empty title.
    member = auth(settings, t.members[0][7])
    bad = await client.post(
        INITIATIVES, json=body("ateuli", t.ateulis[0].id, 5, category="weather"), headers=member
    )
    envelope_error(bad, 422, 2002)
    for title in ("", "    ", "ab\x00cd"):
        bad = await client.post(
            INITIATIVES, json=body("ateuli", t.ateulis[0].id, 5, title=title), headers=member
        )
        envelope_error(bad, 422, 2002)
    # No token: 401; not verified: 403/1005.
    anonymous = await client.post(INITIATIVES, json=body("ateuli", t.ateulis[0].id, 5))
    envelope_error(anonymous, 401, 1003)
    newcomer = await verified(db_session, settings, t.district_id, role=UserRole.UNVERIFIED)
    unverified = await client.post(
        INITIATIVES, json=body("national", None, 1000), headers=newcomer.headers
    )
    envelope_error(unverified, 403, 1005)
    assert await _count(db_session) == before


async def test_a_verified_member_outside_any_ateuli_may_start_a_national_initiative(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    (loner,) = await bulk_users(db_session, t.district_id, 1)

    data = await _create(client, settings, loner, body("national", None, 1000))

    assert (data["scope_type"], data["scope_id"], data["scope"]["name"]) == (  # type: ignore[index]
        "national",
        None,
        None,
    )
    refused = await client.post(
        INITIATIVES, json=body("ateuli", t.ateulis[0].id, 5), headers=auth(settings, loner)
    )
    envelope_error(refused, 403, 3050)


async def test_at_most_five_initiatives_a_day_per_member(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    member = auth(settings, t.members[2][3])
    other = auth(settings, t.members[2][4])
    payload = body("ateuli", t.ateulis[2].id, 5, draft=True)
    for _ in range(5):
        answer = await client.post(INITIATIVES, json=payload, headers=member)
        envelope_body(answer, 201)
        assert answer.headers["x-ratelimit-limit"] == "5"

    sixth = await client.post(INITIATIVES, json=payload, headers=member)

    envelope_error(sixth, 429, 1006)
    assert sixth.headers["x-ratelimit-remaining"] == "0"
    # Counted per member: another member still may.
    envelope_body(await client.post(INITIATIVES, json=payload, headers=other), 201)
    assert (
        await db_session.scalar(
            select(func.count())
            .select_from(Initiative)
            .where(Initiative.creator_id == t.members[2][3])
        )
        == 5
    )


async def test_an_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    headers = {**auth(settings, t.members[3][2]), "Idempotency-Key": "init-1"}
    payload = body("ateuli", t.ateulis[3].id, 5)

    first = await client.post(INITIATIVES, json=payload, headers=headers)
    again = await client.post(INITIATIVES, json=payload, headers=headers)
    other = await client.post(INITIATIVES, json={**payload, "title": "Another"}, headers=headers)

    assert envelope_body(first, 201)["data"]["id"] == again.json()["data"]["id"]
    assert again.headers["idempotent-replayed"] == "true"
    envelope_error(other, 422, 2005)
    assert (
        await db_session.scalar(
            select(func.count())
            .select_from(Initiative)
            .where(Initiative.creator_id == t.members[3][2])
        )
        == 1
    )


# --- drafts, editing ------------------------------------------------------------------------


async def test_a_draft_is_private_until_its_creator_publishes_it(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    creator, neighbour = t.members[1][5], t.members[1][6]
    data = await _create(client, settings, creator, body("ateuli", t.ateulis[1].id, 5, draft=True))
    url = f"{INITIATIVES}/{data['id']}"
    assert data["status"] == "draft"

    # Others do not see it, cannot support or publish it.
    envelope_error(await client.get(url, headers=auth(settings, neighbour)), 404, 4001)
    listed = await client.get(INITIATIVES, headers=auth(settings, neighbour))
    assert data["id"] not in {item["id"] for item in envelope_body(listed)["data"]}
    support = await client.post(f"{url}/support", json={}, headers=auth(settings, neighbour))
    envelope_error(support, 404, 4001)
    envelope_error(
        await client.post(f"{url}/publish", headers=auth(settings, neighbour)), 404, 4001
    )
    mine = await client.get(f"{INITIATIVES}/my-initiatives", headers=auth(settings, creator))
    assert [item["id"] for item in envelope_body(mine)["data"]] == [data["id"]]

    published = await client.post(f"{url}/publish", headers=auth(settings, creator))

    assert envelope_body(published)["data"]["status"] == "active"
    row = await stored(db_session, str(data["id"]))
    assert row.status is InitiativeStatus.ACTIVE
    assert row.published_at is not None
    assert await audit_actions(db_session, row.id) == [
        "initiatives.created",
        "initiatives.published",
    ]
    again = await client.post(f"{url}/publish", headers=auth(settings, creator))
    envelope_error(again, 409, 3052)
    # Now visible, but still only the creator publishes or edits.
    envelope_body(await client.get(url, headers=auth(settings, neighbour)))
    envelope_error(
        await client.post(f"{url}/publish", headers=auth(settings, neighbour)), 403, 1004
    )


async def test_the_creator_edits_while_nobody_supports_it(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    creator, neighbour = t.members[1][5], t.members[1][6]
    data = await _create(client, settings, creator, body("ateuli", t.ateulis[1].id, 5))
    url = f"{INITIATIVES}/{data['id']}"

    edited = await client.patch(
        url, json={"title": "Six lamps", "target_support": 6}, headers=auth(settings, creator)
    )

    assert envelope_body(edited)["data"]["title"] == "Six lamps"
    row = await stored(db_session, str(data["id"]))
    assert (row.title, row.target_support) == ("Six lamps", 6)
    assert "initiatives.updated" in await audit_actions(db_session, row.id)
    # Refusals: not the creator, a target below the minimum, a field that cannot change.
    other = await client.patch(url, json={"title": "Mine"}, headers=auth(settings, neighbour))
    envelope_error(other, 403, 1004)
    low = await client.patch(url, json={"target_support": 4}, headers=auth(settings, creator))
    envelope_error(low, 422, 3051)
    scope = await client.patch(
        url, json={"scope_type": "national"}, headers=auth(settings, creator)
    )
    envelope_error(scope, 422, 2002)
    unknown = await client.patch(
        f"{INITIATIVES}/{uuid.uuid4()}", json={"title": "x" * 5}, headers=auth(settings, creator)
    )
    envelope_error(unknown, 404, 4001)

    envelope_body(await client.post(f"{url}/support", json={}, headers=auth(settings, neighbour)))
    # Supported now: the text is what a member signed.
    locked = await client.patch(url, json={"title": "Changed"}, headers=auth(settings, creator))
    envelope_error(locked, 409, 3055)
    assert (await stored(db_session, str(data["id"]))).title == "Six lamps"
    # The only support withdrawn, nobody has signed it any more: editable again.
    envelope_body(await client.delete(f"{url}/support", headers=auth(settings, neighbour)))
    reopened = await client.patch(
        url, json={"title": "Seven lamps"}, headers=auth(settings, creator)
    )

    assert envelope_body(reopened)["data"]["title"] == "Seven lamps"
    assert (await stored(db_session, str(data["id"]))).title == "Seven lamps"


# --- support --------------------------------------------------------------------------------


async def test_support_once_and_withdraw_while_active(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    data = await _create(client, settings, t.members[1][5], body("ateuli", t.ateulis[1].id, 5))
    url = f"{INITIATIVES}/{data['id']}"
    supporter = auth(settings, t.members[1][6])

    supported = await client.post(
        f"{url}/support", json={"comment": "Yes, please"}, headers=supporter
    )

    out = envelope_body(supported)["data"]
    assert (out["current_support"], out["progress_percentage"], out["supported_by_me"]) == (
        1,
        20.0,
        True,
    )
    assert (await stored(db_session, str(data["id"]))).current_support == 1
    assert await support_rows(db_session, str(data["id"])) == 1
    envelope_error(await client.post(f"{url}/support", json={}, headers=supporter), 409, 3053)
    # Outside the scope (another ateuli), not verified, unknown initiative.
    outsider = auth(settings, t.members[6][2])
    envelope_error(await client.post(f"{url}/support", json={}, headers=outsider), 403, 3050)
    newcomer = await verified(db_session, settings, t.district_id, role=UserRole.UNVERIFIED)
    envelope_error(
        await client.post(f"{url}/support", json={}, headers=newcomer.headers), 403, 1005
    )
    envelope_error(
        await client.post(f"{INITIATIVES}/{uuid.uuid4()}/support", json={}, headers=supporter),
        404,
        4001,
    )
    long = await client.post(f"{url}/support", json={"comment": "x" * 501}, headers=outsider)
    envelope_error(long, 422, 2002)

    withdrawn = await client.delete(f"{url}/support", headers=supporter)

    assert envelope_body(withdrawn)["data"]["current_support"] == 0
    assert await support_rows(db_session, str(data["id"])) == 0
    assert (await stored(db_session, str(data["id"]))).current_support == 0
    envelope_error(await client.delete(f"{url}/support", headers=supporter), 409, 3054)


async def test_a_draft_cannot_be_supported_and_an_achieved_one_not_changed(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    creator = t.members[1][5]
    data = await _create(client, settings, creator, body("ateuli", t.ateulis[1].id, 5))
    url = f"{INITIATIVES}/{data['id']}"
    for n in range(1, 6):
        envelope_body(
            await client.post(f"{url}/support", json={}, headers=auth(settings, t.members[1][n]))
        )
    assert (await stored(db_session, str(data["id"]))).status is InitiativeStatus.ASSIGNED

    late = await client.post(f"{url}/support", json={}, headers=auth(settings, t.members[1][7]))
    envelope_error(late, 409, 3052)
    taken_back = await client.delete(f"{url}/support", headers=auth(settings, t.members[1][1]))
    envelope_error(taken_back, 409, 3052)
    edit = await client.patch(url, json={"title": "Changed"}, headers=auth(settings, creator))
    envelope_error(edit, 409, 3055)
    assert await support_rows(db_session, str(data["id"])) == 5
    # The creator's own draft cannot be supported either.
    draft = await _create(client, settings, creator, body("ateuli", t.ateulis[1].id, 5, draft=True))
    refused = await client.post(
        f"{INITIATIVES}/{draft['id']}/support", json={}, headers=auth(settings, creator)
    )
    envelope_error(refused, 409, 3052)


async def test_the_supporters_list_shows_only_those_who_chose_to_be_shown(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    data = await _create(client, settings, t.members[1][5], body("ateuli", t.ateulis[1].id, 5))
    url = f"{INITIATIVES}/{data['id']}"
    shown, hidden, default = t.members[1][6], t.members[1][7], t.members[1][8]
    await client.post(
        f"{url}/support", json={"public": True, "comment": "Good"}, headers=auth(settings, shown)
    )
    await client.post(f"{url}/support", json={"public": False}, headers=auth(settings, hidden))
    # No body at all: a support without a comment, not shown by name.
    await client.post(f"{url}/support", headers=auth(settings, default))

    listed = await client.get(f"{url}/supporters", headers=auth(settings, t.members[2][1]))

    answer = envelope_body(listed)
    assert [(s["id"], s["comment"]) for s in answer["data"]] == [(str(shown), "Good")]
    assert answer["meta"]["total"] == 1
    # The count is public all the same.
    one = await client.get(url, headers=auth(settings, t.members[2][1]))
    assert envelope_body(one)["data"]["current_support"] == 3
    envelope_error(
        await client.get(f"{INITIATIVES}/{uuid.uuid4()}/supporters", headers=auth(settings, shown)),
        404,
        4001,
    )


# --- lists ----------------------------------------------------------------------------------


async def test_lists_filter_search_and_paginate(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    creator = t.members[2][5]
    lamps = await _create(client, settings, creator, body("ateuli", t.ateulis[2].id, 5))
    park = await _create(
        client,
        settings,
        creator,
        body(
            "ormotsdaateuli",
            t.ormo[0].id,
            10,
            title="A park_100% green",
            category="environment",
        ),
    )
    draft = await _create(client, settings, creator, body("ateuli", t.ateulis[2].id, 5, draft=True))
    viewer = auth(settings, t.members[3][3])
    scope = {"scope_id": str(t.ateulis[2].id)}

    def ids(response: httpx.Response) -> list[str]:
        return [item["id"] for item in envelope_body(response)["data"]]

    assert set(ids(await client.get(INITIATIVES, params=scope, headers=viewer))) == {lamps["id"]}
    env = await client.get(INITIATIVES, params={"category": "environment"}, headers=viewer)
    assert park["id"] in ids(env)
    assert lamps["id"] not in ids(env)
    # search is a plain substring: % and _ are not wildcards.
    found = await client.get(INITIATIVES, params={"search": "PARK_100%"}, headers=viewer)
    assert ids(found) == [park["id"]]
    assert ids(await client.get(INITIATIVES, params={"search": "park_1000"}, headers=viewer)) == []
    by_type = await client.get(
        INITIATIVES, params={"scope_type": "ormotsdaateuli", "status": "active"}, headers=viewer
    )
    assert park["id"] in ids(by_type)
    mine = await client.get(
        f"{INITIATIVES}/my-initiatives", params={"per_page": 2}, headers=auth(settings, creator)
    )
    answer = envelope_body(mine)
    assert answer["meta"]["total"] == 3
    assert (answer["meta"]["total_pages"], answer["meta"]["has_next"]) == (2, True)
    assert draft["id"] in ids(
        await client.get(f"{INITIATIVES}/my-initiatives", headers=auth(settings, creator))
    )
    drafts = await client.get(INITIATIVES, params={"status": "draft"}, headers=viewer)
    assert ids(drafts) == []
    by_progress = await client.get(
        INITIATIVES, params={"sort_by": "progress", "sort_order": "asc"}, headers=viewer
    )
    envelope_body(by_progress)
    envelope_error(
        await client.get(INITIATIVES, params={"sort_by": "secret"}, headers=viewer), 422, 2002
    )
    envelope_error(
        await client.get(INITIATIVES, params={"status": "lost"}, headers=viewer), 422, 2002
    )
    envelope_error(
        await client.get(INITIATIVES, params={"search": "a\x00b"}, headers=viewer), 422, 2002
    )
    envelope_error(await client.get(INITIATIVES), 401, 1003)
