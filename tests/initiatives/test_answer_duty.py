"""The threshold, who answers, answering, reassigning, and the hourly deadline sweep."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.initiatives import handover, service, tasks
from polis.initiatives.models import (
    InitiativeCategory,
    InitiativeScope,
    InitiativeStatus,
    InitiativeSupport,
)
from polis.kit import clock
from polis.notifications.models import Channel, Delivery, NotificationPreference, NotificationType
from polis.realtime.schemas import user_channel
from polis.units.models import UnitLevel
from polis.users.models import User
from tests.conftest import envelope_body, envelope_error
from tests.initiatives.helpers import (
    INITIATIVES,
    audit_actions,
    auth,
    body,
    make_admin,
    notified,
    stored,
    support_rows,
    tree,
    vacate,
)
from tests.units.factories import ateuli_with, bulk_users

THRESHOLD = NotificationType.INITIATIVE_SUPPORTED_THRESHOLD
ASSIGNED = NotificationType.INITIATIVE_ASSIGNED
REASSIGNED = NotificationType.INITIATIVE_REASSIGNED
SUPPORTED_COMPLETED = NotificationType.SUPPORTED_INITIATIVE_COMPLETED
SUPPORTED_REJECTED = NotificationType.SUPPORTED_INITIATIVE_REJECTED


async def _start(
    client: httpx.AsyncClient,
    settings: Settings,
    creator: uuid.UUID,
    scope: str,
    scope_id: uuid.UUID | None,
    target: int,
) -> str:
    answer = await client.post(
        INITIATIVES, json=body(scope, scope_id, target), headers=auth(settings, creator)
    )
    initiative_id: str = envelope_body(answer, 201)["data"]["id"]
    return initiative_id


async def _support_all(
    client: httpx.AsyncClient, settings: Settings, initiative_id: str, members: list[uuid.UUID]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for member in members:
        answer = await client.post(
            f"{INITIATIVES}/{initiative_id}/support", json={}, headers=auth(settings, member)
        )
        data = envelope_body(answer)["data"]
    return data


# --- the threshold --------------------------------------------------------------------------


async def test_the_support_that_reaches_the_target_hands_it_to_the_atistavi(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    t = await tree(db_session, ateulis=5)
    creator, atistavi = t.members[2][5], t.members[2][0]
    now = clock.freeze()
    initiative_id = await _start(client, settings, creator, "ateuli", t.ateulis[2].id, 5)
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_channel(creator), user_channel(atistavi))
    await pubsub.get_message(timeout=1)
    await pubsub.get_message(timeout=1)

    four = await _support_all(client, settings, initiative_id, t.members[2][1:5])
    assert (four["status"], four["current_support"], four["progress_percentage"]) == (
        "active",
        4,
        80.0,
    )
    last = await _support_all(client, settings, initiative_id, [t.members[2][6]])

    assert last["status"] == "assigned"
    assert last["progress_percentage"] == 100.0
    assert last["assignee"]["id"] == str(atistavi)
    assert (last["assigned_level"], last["assigned_unit_id"]) == ("ateuli", str(t.ateulis[2].id))
    row = await stored(db_session, initiative_id)
    assert (row.status, row.assignee_id, row.current_support) == (
        InitiativeStatus.ASSIGNED,
        atistavi,
        5,
    )
    assert row.achieved_at == now
    assert row.answer_due_at == now + timedelta(days=14)
    assert await support_rows(db_session, initiative_id) == 5
    assert await notified(db_session, creator, THRESHOLD) == 1
    assert await notified(db_session, atistavi, ASSIGNED) == 1
    # One record each (the frozen clock gives them one timestamp, so compare unordered).
    assert sorted(await audit_actions(db_session, initiative_id)) == [
        "initiatives.achieved",
        "initiatives.assigned",
        "initiatives.created",
    ]
    # The real-time event reached both, on their own channels.
    seen: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(5):
        while len(seen) < 2:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:
                continue
            payload = json.loads(message["data"])
            if payload["event"] == handover.THRESHOLD_EVENT:
                seen[message["channel"].decode()] = payload["data"]
    await pubsub.unsubscribe()
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert set(seen) == {user_channel(creator), user_channel(atistavi)}
    event = seen[user_channel(creator)]
    assert event["initiative_id"] == initiative_id
    assert (event["status"], event["assignee_id"], event["current_support"]) == (
        "assigned",
        str(atistavi),
        5,
    )
    # The assignee finds it in assigned-to-me.
    mine = await client.get(f"{INITIATIVES}/assigned-to-me", headers=auth(settings, atistavi))
    assert [item["id"] for item in envelope_body(mine)["data"]] == [initiative_id]


async def test_an_empty_seat_sends_it_to_the_next_leader_up(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    await vacate(db_session, t.ateulis[3].id)
    initiative_id = await _start(client, settings, t.members[3][5], "ateuli", t.ateulis[3].id, 5)

    data = await _support_all(client, settings, initiative_id, t.members[3][1:6])

    assert data["assignee"]["id"] == str(t.ormo_leader(0))
    assert (data["assigned_level"], data["assigned_unit_id"]) == (
        "ormotsdaateuli",
        str(t.ormo[0].id),
    )


async def test_a_leader_never_answers_their_own_initiative(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    atistavi = t.members[3][0]
    initiative_id = await _start(client, settings, atistavi, "ateuli", t.ateulis[3].id, 5)

    data = await _support_all(client, settings, initiative_id, t.members[3][1:6])

    assert data["assignee"]["id"] == str(t.ormo_leader(0))


async def test_with_no_leader_it_goes_to_an_admin_and_with_none_it_waits_for_the_sweep(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    # An ateuli of its own, with no atistavi and nothing above it.
    ids = await bulk_users(db_session, t.district_id, 10)
    lone = await ateuli_with(db_session, t.district_id, ids)
    first = await _start(client, settings, ids[9], "ateuli", lone.id, 5)
    waiting = await _support_all(client, settings, first, ids[:5])

    # No leader and no admin: achieved, with nobody to answer yet.
    assert (waiting["status"], waiting["assignee"]) == ("achieved", None)
    row = await stored(db_session, first)
    assert row.status is InitiativeStatus.ACHIEVED
    assert await notified(db_session, ids[9], THRESHOLD) == 1

    admin = await make_admin(db_session, t.members[4][9])
    swept = await tasks.answer_deadline_sweep(db_session, settings)

    assert swept == 1
    row = await stored(db_session, first)
    assert (row.status, row.assignee_id, row.assigned_unit_id) == (
        InitiativeStatus.ASSIGNED,
        admin.id,
        None,
    )
    assert await notified(db_session, admin.id, ASSIGNED) == 1
    # With an admin present, the next one goes to the admin at once.
    second = await _start(client, settings, ids[8], "ateuli", lone.id, 5)
    data = await _support_all(client, settings, second, ids[:5])
    assert (data["status"], data["assignee"]["id"], data["assigned_level"]) == (
        "assigned",
        str(admin.id),
        None,
    )


async def test_a_national_initiative_goes_to_the_longest_standing_admin(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    admin = await make_admin(db_session, t.members[4][9])
    members = await bulk_users(db_session, t.district_id, 5)
    settings_small = settings.model_copy(update={"initiative_min_support_national": 3})
    # The minimum is a setting: a national initiative of 3 is allowed with it lowered.
    initiative = await service.create_initiative(
        db_session,
        settings_small,
        await db_session.get_one(User, members[0]),
        title="Open budgets",
        description="Publish every unit's budget each month.",
        category=InitiativeCategory.GOVERNANCE,
        scope_type=InitiativeScope.NATIONAL,
        scope_id=None,
        target_support=3,
    )
    data = await _support_all(client, settings, str(initiative.id), members[1:4])

    assert (data["status"], data["assignee"]["id"]) == ("assigned", str(admin.id))


# --- answering ------------------------------------------------------------------------------


async def _assigned(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> tuple[Any, str, uuid.UUID, uuid.UUID]:
    t = await tree(db_session, ateulis=10)
    creator = t.members[2][5]
    initiative_id = await _start(client, settings, creator, "ateuli", t.ateulis[2].id, 5)
    await _support_all(client, settings, initiative_id, t.members[2][1:6])
    return t, initiative_id, creator, t.members[2][0]


async def test_the_assignee_completes_it_and_the_creator_is_told(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t, initiative_id, creator, atistavi = await _assigned(client, db_session, settings)
    url = f"{INITIATIVES}/{initiative_id}"

    # Only the assignee answers: the creator, a supporter, a higher leader may not.
    for other in (creator, t.members[2][1], t.ormo_leader(0)):
        refused = await client.post(
            f"{url}/complete", json={"outcome": "Done"}, headers=auth(settings, other)
        )
        envelope_error(refused, 403, 1004)
    short = await client.post(
        f"{url}/complete", json={"outcome": ""}, headers=auth(settings, atistavi)
    )
    envelope_error(short, 422, 2002)
    done = await client.post(
        f"{url}/complete",
        json={"outcome": "Four lamps installed on 3 December."},
        headers=auth(settings, atistavi),
    )

    data = envelope_body(done)["data"]
    assert (data["status"], data["outcome"]) == ("completed", "Four lamps installed on 3 December.")
    row = await stored(db_session, initiative_id)
    assert row.status is InitiativeStatus.COMPLETED
    assert row.answered_at is not None
    assert await notified(db_session, creator, NotificationType.INITIATIVE_COMPLETED) == 1
    # Every supporter hears the outcome; the creator (a supporter too) only once, in their words.
    for supporter in t.members[2][1:5]:
        assert await notified(db_session, supporter, SUPPORTED_COMPLETED) == 1
    assert await notified(db_session, creator, SUPPORTED_COMPLETED) == 0
    assert "initiatives.completed" in await audit_actions(db_session, initiative_id)
    again = await client.post(
        f"{url}/reject", json={"reason": "Changed my mind"}, headers=auth(settings, atistavi)
    )
    envelope_error(again, 409, 3052)


async def test_the_assignee_rejects_it_with_a_reason(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t, initiative_id, creator, atistavi = await _assigned(client, db_session, settings)
    # Channel preferences apply: one supporter turned email off for this type.
    with_email, without_email = t.members[2][1], t.members[2][2]
    for member in (with_email, without_email):
        (await db_session.get_one(User, member)).email = f"{member.hex[:8]}@example.org"
    db_session.add(
        NotificationPreference(
            user_id=without_email, type=SUPPORTED_REJECTED, channel=Channel.EMAIL, enabled=False
        )
    )
    await db_session.flush()

    rejected = await client.post(
        f"{INITIATIVES}/{initiative_id}/reject",
        json={"reason": "The courtyard belongs to the city, not to us."},
        headers=auth(settings, atistavi),
    )

    assert envelope_body(rejected)["data"]["status"] == "rejected"
    row = await stored(db_session, initiative_id)
    assert (row.status, row.reject_reason) == (
        InitiativeStatus.REJECTED,
        "The courtyard belongs to the city, not to us.",
    )
    assert await notified(db_session, creator, NotificationType.INITIATIVE_REJECTED) == 1
    for supporter in t.members[2][1:5]:
        assert await notified(db_session, supporter, SUPPORTED_REJECTED) == 1
    assert await email_deliveries(db_session, with_email) == 1
    assert await email_deliveries(db_session, without_email) == 0
    missing = await client.post(
        f"{INITIATIVES}/{initiative_id}/reject", json={}, headers=auth(settings, atistavi)
    )
    envelope_error(missing, 422, 2001)


async def email_deliveries(session: AsyncSession, user_id: uuid.UUID) -> int:
    rows = await session.scalars(
        select(Delivery.id).where(Delivery.user_id == user_id, Delivery.channel == Channel.EMAIL)
    )
    return len(rows.all())


async def _statements_to_complete(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, supporters: int
) -> int:
    t = await tree(db_session, ateulis=5)
    creator, atistavi = t.members[2][9], t.members[2][0]
    initiative_id = await _start(client, settings, creator, "ateuli", t.ateulis[2].id, 5)
    initiative = await stored(db_session, initiative_id)
    others = await bulk_users(db_session, t.district_id, supporters)
    db_session.add_all(InitiativeSupport(initiative_id=initiative.id, user_id=u) for u in others)
    initiative.status, initiative.assignee_id = InitiativeStatus.ASSIGNED, atistavi
    await db_session.flush()
    member = await db_session.get_one(User, atistavi)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = db_session.bind.engine.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", count)
    try:
        await service.complete(db_session, member, initiative.id, "Done.")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert await notified(db_session, others[-1], SUPPORTED_COMPLETED) == 1
    return len(statements)


async def test_supporters_are_told_in_a_fixed_number_of_statements(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    few = await _statements_to_complete(client, db_session, settings, 3)
    many = await _statements_to_complete(client, db_session, settings, 40)

    assert many == few


async def test_an_active_initiative_cannot_be_answered(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    initiative_id = await _start(client, settings, t.members[2][5], "ateuli", t.ateulis[2].id, 5)
    refused = await client.post(
        f"{INITIATIVES}/{initiative_id}/complete",
        json={"outcome": "Done"},
        headers=auth(settings, t.members[2][0]),
    )
    # Nobody holds it yet, so nobody is its assignee.
    envelope_error(refused, 403, 1004)


# --- reassigning by hand --------------------------------------------------------------------


async def test_a_higher_leader_or_an_admin_reassigns(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t, initiative_id, creator, atistavi = await _assigned(client, db_session, settings)
    url = f"{INITIATIVES}/{initiative_id}/assign"
    ormo_leader = t.ormo_leader(0)

    # The ormotsdaatistavi above takes it.
    taken = await client.post(
        url, json={"assignee_id": str(ormo_leader)}, headers=auth(settings, ormo_leader)
    )

    data = envelope_body(taken)["data"]
    assert (data["assignee"]["id"], data["assigned_level"], data["reassign_count"]) == (
        str(ormo_leader),
        "ormotsdaateuli",
        1,
    )
    assert await notified(db_session, ormo_leader, ASSIGNED) == 1
    assert await notified(db_session, creator, REASSIGNED) == 1
    assert await notified(db_session, atistavi, REASSIGNED) == 1
    audit = await db_session.scalar(
        select(AuditLog.actor_id).where(
            AuditLog.entity_id == initiative_id, AuditLog.action == "initiatives.reassigned"
        )
    )
    assert audit == ormo_leader
    # Now the atistavi (below the holder), a plain member and the creator may not reassign.
    for other in (atistavi, t.members[2][3], creator):
        refused = await client.post(
            url, json={"assignee_id": str(other)}, headers=auth(settings, other)
        )
        envelope_error(refused, 403, 1004)
    # The asistavi may; a plain member may not be given it (422/3056); nor the creator.
    asistavi = auth(settings, t.aseuli_leader)
    plain = await client.post(url, json={"assignee_id": str(t.members[2][3])}, headers=asistavi)
    envelope_error(plain, 422, 3056)
    own = await client.post(url, json={"assignee_id": str(creator)}, headers=asistavi)
    envelope_error(own, 422, 3056)
    unknown = await client.post(url, json={"assignee_id": str(uuid.uuid4())}, headers=asistavi)
    envelope_error(unknown, 404, 4001)
    # An admin hands it back down to the atistavi.
    admin = await make_admin(db_session, t.members[9][9])
    back = await client.post(
        url, json={"assignee_id": str(atistavi)}, headers=auth(settings, admin.id)
    )
    assert envelope_body(back)["data"]["assignee"]["id"] == str(atistavi)
    assert (await stored(db_session, initiative_id)).reassign_count == 2
    # Unknown initiative: 404; an active one cannot be assigned (409/3052).
    envelope_error(
        await client.post(
            f"{INITIATIVES}/{uuid.uuid4()}/assign",
            json={"assignee_id": str(atistavi)},
            headers=auth(settings, admin.id),
        ),
        404,
        4001,
    )
    active = await _start(client, settings, t.members[2][4], "ateuli", t.ateulis[2].id, 5)
    early = await client.post(
        f"{INITIATIVES}/{active}/assign",
        json={"assignee_id": str(atistavi)},
        headers=auth(settings, admin.id),
    )
    envelope_error(early, 409, 3052)


# --- the deadline sweep ---------------------------------------------------------------------


async def test_past_the_deadline_it_moves_one_leader_up_and_at_the_top_among_admins(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    t, initiative_id, creator, atistavi = await _assigned(client, db_session, settings)
    first_admin = await make_admin(db_session, t.members[9][9])
    second_admin = await make_admin(db_session, t.members[9][8])
    second_admin.created_at = first_admin.created_at + timedelta(seconds=1)
    await db_session.flush()

    # Not yet due: nothing moves.
    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert await tasks.answer_deadline_sweep(db_session, settings) == 0
    # Due: the ormotsdaatistavi, with a fresh deadline.
    moment = clock.advance(timedelta(seconds=1))
    assert await tasks.answer_deadline_sweep(db_session, settings) == 1
    row = await stored(db_session, initiative_id)
    assert (row.assignee_id, row.assigned_level, row.answer_due_at, row.reassign_count) == (
        t.ormo_leader(0),
        UnitLevel.ORMOTSDAATEULI,
        moment + timedelta(days=14),
        1,
    )
    assert await notified(db_session, t.ormo_leader(0), ASSIGNED) == 1
    assert await notified(db_session, creator, REASSIGNED) == 1
    assert await notified(db_session, atistavi, REASSIGNED) == 1
    # Idempotent: a second run at the same moment finds nothing.
    assert await tasks.answer_deadline_sweep(db_session, settings) == 0
    # Then the asistavi, then (no leader above) the longest-standing admin, then the next one.
    expected = [
        (t.aseuli_leader, UnitLevel.ASEULI),
        (first_admin.id, None),
        (second_admin.id, None),
        (first_admin.id, None),
    ]
    for assignee, level in expected:
        clock.advance(timedelta(days=14))
        assert await tasks.answer_deadline_sweep(db_session, settings) == 1
        row = await stored(db_session, initiative_id)
        assert (row.assignee_id, row.assigned_level) == (assignee, level)
    assert row.reassign_count == 5
    # The system moved it: no actor on the sweep's records.
    records = (
        await db_session.scalars(
            select(AuditLog.actor_id).where(
                AuditLog.entity_id == initiative_id, AuditLog.action == "initiatives.reassigned"
            )
        )
    ).all()
    assert records == [None] * 5
    # The atistavi can no longer answer it.
    late = await client.post(
        f"{INITIATIVES}/{initiative_id}/complete",
        json={"outcome": "Done after all"},
        headers=auth(settings, atistavi),
    )
    envelope_error(late, 403, 1004)


async def test_at_the_top_with_a_single_admin_it_stays_with_a_fresh_deadline(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    t = await tree(db_session, ateulis=5)
    admin = await make_admin(db_session, t.members[4][9])
    members = await bulk_users(db_session, t.district_id, 4)
    initiative = await service.create_initiative(
        db_session,
        settings.model_copy(update={"initiative_min_support_national": 3}),
        await db_session.get_one(User, members[0]),
        title="Open budgets",
        description="Publish every unit's budget each month.",
        category=InitiativeCategory.GOVERNANCE,
        scope_type=InitiativeScope.NATIONAL,
        scope_id=None,
        target_support=3,
    )
    await _support_all(client, settings, str(initiative.id), members[1:4])

    moment = clock.advance(timedelta(days=15))
    assert await tasks.answer_deadline_sweep(db_session, settings) == 1

    row = await stored(db_session, initiative.id)
    assert (row.assignee_id, row.answer_due_at, row.reassign_count) == (
        admin.id,
        moment + timedelta(days=14),
        1,
    )
    # Reminded: a second "assigned" notification for the new deadline.
    assert await notified(db_session, admin.id, ASSIGNED) == 2


async def test_the_sweep_works_in_bounded_batches(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    t = await tree(db_session, ateulis=5)
    ids = []
    for creator in t.members[3][5:8]:
        initiative_id = await _start(client, settings, creator, "ateuli", t.ateulis[3].id, 5)
        await _support_all(client, settings, initiative_id, [*t.members[3][1:5], t.members[3][9]])
        ids.append(initiative_id)
    clock.advance(timedelta(days=15))

    # Two rows a batch, one batch a run: the third waits for the next run.
    assert await tasks.answer_deadline_sweep(db_session, settings, batch_size=2, max_batches=1) == 2
    assert await tasks.answer_deadline_sweep(db_session, settings, batch_size=2, max_batches=1) == 1
    assert await tasks.answer_deadline_sweep(db_session, settings, batch_size=2) == 0
    for initiative_id in ids:
        assert (await stored(db_session, initiative_id)).assignee_id == t.ormo_leader(0)
