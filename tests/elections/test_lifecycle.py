"""The lifecycle: automatic scheduling, extension and cancellation, runoffs, re-elections."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.config import Settings
from polis.elections import base, lifecycle, tasks
from polis.elections.models import Election, ElectionStatus
from polis.kit import clock, events
from polis.notifications.models import Notification, NotificationType
from polis.realtime.schemas import user_channel
from polis.territories.models import Territory
from polis.units import queries as unit_queries
from polis.units import service as units
from polis.units.models import LeadershipTerm
from tests.conftest import envelope_body, savepoint_sessionmaker
from tests.elections.factories import (
    URL,
    after,
    full_ateuli,
    move_clock,
    open_election_of,
    register,
    scheduled_election,
    vote,
    voting_time,
)


async def _lifecycle(session: AsyncSession) -> tasks.LifecycleReport:
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    return await tasks.lifecycle_pass(savepoint_sessionmaker(connection))


async def _notified(session: AsyncSession, kind: NotificationType, election: Election) -> int:
    rows = await session.scalars(
        select(Notification.id).where(
            Notification.type == kind,
            Notification.params["election_id"].astext == str(election.id),
        )
    )
    return len(rows.all())


async def test_a_due_seat_gets_one_election_however_often_it_is_asked(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    now = clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    await units.on_leader_election_due(db_session, ateuli.unit)
    await units.on_leader_election_due(db_session, ateuli.unit)
    assert await lifecycle.schedule_leader_election(db_session, ateuli.unit) is None
    report = await _lifecycle(db_session)
    assert report.scheduled == 0
    elections = (
        await db_session.scalars(select(Election).where(Election.scope_id == ateuli.unit.id))
    ).all()
    assert len(elections) == 1
    election = elections[0]
    assert election.is_automatic and election.title == f"Atistavi of {ateuli.unit.name}"
    assert election.starts_at == now + timedelta(seconds=259_200)
    assert election.ends_at == election.starts_at + timedelta(seconds=259_200)
    assert await _notified(db_session, NotificationType.ELECTION_SCHEDULED, election) == 10


async def test_nobody_stands_nominations_extend_once_then_cancel_and_reschedule(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    first_start = election.starts_at
    clock.freeze(first_start)
    report = await _lifecycle(db_session)
    assert report.extended == 1
    await db_session.refresh(election)
    assert election.nominations_extended
    assert election.starts_at == first_start + timedelta(seconds=259_200)
    assert election.status_at(clock.now()) is ElectionStatus.SCHEDULED
    assert await _notified(db_session, NotificationType.ELECTION_NOMINATIONS_EXTENDED, election)

    clock.freeze(election.starts_at)
    report = await _lifecycle(db_session)
    assert report.cancelled == 1
    await db_session.refresh(election)
    assert election.status_at(clock.now()) is ElectionStatus.CANCELLED
    assert election.cancel_reason == "no candidates"
    successor = await open_election_of(db_session, ateuli.unit.id)
    assert successor.id != election.id and not successor.nominations_extended
    assert successor.starts_at == clock.now() + timedelta(seconds=259_200)


async def test_voting_opens_with_a_notification_and_a_realtime_event_to_the_electorate(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    await register(client, election.id, ateuli.members[0])
    clock.freeze(election.starts_at)
    async with db_session.begin_nested():
        assert await lifecycle.open_voting(db_session, election.id) == "opened"
    started = [
        item
        for item in events.pending(db_session)
        if isinstance(item, events.RealtimeEvent) and item.event == "election.started"
    ]
    assert sorted(item.channel for item in started) == sorted(
        f"polis:user:{m.user.id}" for m in ateuli.members
    )
    assert started[0].data["election_id"] == str(election.id)
    assert await _notified(db_session, NotificationType.ELECTION_STARTED, election) == 10
    # Opening twice does nothing.
    assert await lifecycle.open_voting(db_session, election.id) is None


async def test_the_lifecycle_job_publishes_election_started_after_its_commit(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    district: Territory,
    redis: Redis,
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    await register(client, election.id, ateuli.members[0])
    clock.freeze(election.starts_at)
    voter = ateuli.members[3].user.id
    sent: list[events.TaskJob] = []
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_channel(voter))
    try:
        connection = db_session.bind
        assert isinstance(connection, AsyncConnection)
        report = await tasks.lifecycle_pass(
            savepoint_sessionmaker(connection), redis=redis, send_task=sent.append
        )
        received: list[dict[str, Any]] = []
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                received.append(json.loads(message["data"]))
            if any(item["event"] == "election.started" for item in received):
                break
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert report.opened == 1
    started = [item for item in received if item["event"] == "election.started"]
    assert started and started[0]["data"]["election_id"] == str(election.id)


async def test_a_tie_opens_a_runoff_whose_tie_goes_to_the_longest_standing_member(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    members = ateuli.members
    # members[1] has been a member longer than members[0].
    members[1].user.onboarded_at = clock.now() - timedelta(days=400)
    await db_session.flush()
    election = await scheduled_election(db_session, ateuli.unit)
    a = await register(client, election.id, members[0])
    b = await register(client, election.id, members[1])
    await register(client, election.id, members[2])
    move_clock(settings, voting_time(election), *members)
    for n, member in enumerate(members[:4]):
        await vote(client, election.id, member, a if n % 2 else b)
    move_clock(settings, after(election))
    report = await _lifecycle(db_session)
    assert report.finalized == 1
    await db_session.refresh(election)
    assert election.winner_candidate_id is None and election.outcome_note == "tie: runoff"
    runoff = await open_election_of(db_session, ateuli.unit.id)
    assert runoff.runoff_of_id == election.id and runoff.opened_at is not None
    assert runoff.status_at(clock.now()) is ElectionStatus.ACTIVE
    assert runoff.ends_at == clock.now() + timedelta(seconds=259_200)
    candidates = await base.candidates_of(db_session, runoff.id)
    assert {user.id for _, user in candidates} == {members[0].user.id, members[1].user.id}
    assert await _notified(db_session, NotificationType.ELECTION_RUNOFF, runoff) == 10
    # Still tied in the runoff: seniority decides.
    ids = {user.id: candidate.id for candidate, user in candidates}
    move_clock(settings, voting_time(runoff), *members)
    await vote(client, runoff.id, members[5], str(ids[members[0].user.id]))
    await vote(client, runoff.id, members[6], str(ids[members[1].user.id]))
    move_clock(settings, after(runoff))
    results = envelope_body(await client.get(f"{URL}/{runoff.id}/results"))["data"]
    winners = [r["candidate"]["user_id"] for r in results["results"] if r["is_winner"]]
    assert winners == [str(members[1].user.id)]
    term = await unit_queries.open_term(db_session, ateuli.unit.id)
    assert term is not None and term.user_id == members[1].user.id


async def test_no_votes_no_leader_and_the_seat_is_scheduled_again(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    await units.on_leader_election_due(db_session, ateuli.unit)
    election = await open_election_of(db_session, ateuli.unit.id)
    await register(client, election.id, ateuli.members[0])
    clock.freeze(after(election))
    report = await _lifecycle(db_session)
    assert (report.finalized, report.scheduled) == (1, 1)
    await db_session.refresh(election)
    assert election.outcome_note == "no votes" and election.total_votes == 0
    assert await unit_queries.open_term(db_session, ateuli.unit.id) is None
    again = await open_election_of(db_session, ateuli.unit.id)
    assert again.id != election.id


async def test_a_term_near_its_end_schedules_the_re_election(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    term = await units.install_leader(db_session, ateuli.unit, ateuli.members[0].user)
    assert isinstance(term, LeadershipTerm)
    report = await _lifecycle(db_session)
    assert report.scheduled == 0
    # Six days before the twelve months are up, nominations (3 days) and voting (3 days) fit.
    clock.freeze(term.started_at + lifecycle.TERM - timedelta(days=6))
    report = await _lifecycle(db_session)
    assert report.scheduled == 1
    election = await open_election_of(db_session, ateuli.unit.id)
    assert election.ends_at == term.started_at + lifecycle.TERM
    assert (await _lifecycle(db_session)).scheduled == 0


async def test_a_new_higher_unit_schedules_its_leader_election(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateulis = [await full_ateuli(db_session, settings, district.id) for _ in range(5)]
    for ateuli in ateulis:
        await units.install_leader(db_session, ateuli.unit, ateuli.members[0].user)
    parent_id = (await db_session.get_one(type(ateulis[0].unit), ateulis[0].unit.id)).parent_id
    assert parent_id is not None
    election = await open_election_of(db_session, parent_id)
    assert election.election_type.value == "ormotsdaatistavi"
    voters = await db_session.scalars(base.electorate(election))
    assert sorted(voters.all()) == sorted(a.members[0].user.id for a in ateulis)


async def test_the_lifecycle_job_is_on_the_beat_every_minute_and_open_votes_are_counted(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    from polis.elections.tasks import LIFECYCLE_TASK
    from polis.statistics import service as statistics
    from polis.worker import BEAT_SCHEDULE, celery_app

    entry = BEAT_SCHEDULE["elections-lifecycle"]
    assert entry["task"] == LIFECYCLE_TASK
    assert entry["schedule"] == timedelta(minutes=1)
    assert LIFECYCLE_TASK in celery_app.tasks
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    before = (await statistics.platform(db_session)).open_elections
    clock.freeze(voting_time(election))
    assert (await statistics.platform(db_session)).open_elections == before + 1
