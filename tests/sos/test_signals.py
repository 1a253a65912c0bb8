"""SOS signals through HTTP: raising and routing, visibility, verify, escalate, resolve, patch."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.notifications.models import NotificationType
from polis.notifications.service import channels_for
from polis.realtime.schemas import user_channel
from polis.sos.models import EscalationReason, SosLevel, SosPriority, SosStatus
from polis.units.models import LeadershipTerm
from polis.users.models import Language, User, UserRole
from tests.conftest import route_tasks_to
from tests.sos.helpers import (
    MORAL_FILTER,
    SIGNALS,
    audited,
    auth,
    count_signals,
    data,
    error,
    make_admin,
    notified,
    queued_tasks,
    raise_as,
    signal_body,
    sos_app,
    sos_client,
    steps,
    stored,
    trail,
    tree,
)
from tests.units.factories import bulk_users

RECEIVED = NotificationType.SOS_SIGNAL_RECEIVED
CRITICAL = NotificationType.SOS_SIGNAL_CRITICAL


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- the moral filter -------------------------------------------------------------------------


async def test_moral_filter_is_the_setting_in_the_members_language(
    db_session: AsyncSession, settings: Settings
) -> None:
    (member,) = await bulk_users(db_session, None, 1)  # type: ignore[arg-type]
    me = auth(settings, member)
    async with sos_client(
        settings, db_session, sos_moral_filter_ka="კითხვა?", sos_moral_filter_en="Question?"
    ) as http:
        saved = data(await http.get(MORAL_FILTER, headers=me))
        english = data(await http.get(MORAL_FILTER, headers={**me, "Accept-Language": "en-GB"}))
        (await db_session.get_one(User, member)).language = Language.EN
        await db_session.flush()
        profile = data(await http.get(MORAL_FILTER, headers=me))
        anonymous = await http.get(MORAL_FILTER)

    assert saved == {"question": "კითხვა?", "language": "ka"}
    assert english == {"question": "Question?", "language": "en"}
    assert profile == {"question": "Question?", "language": "en"}
    error(anonymous, 401, 1003)


# --- raising and routing ----------------------------------------------------------------------


async def test_a_signal_goes_to_the_reporters_atistavi(
    db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    start = clock.freeze()
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_channel(atistavi))
    try:
        async with sos_client(settings, db_session) as http:
            signal = await raise_as(http, settings, reporter, latitude=41.7, longitude=44.78)
        events = []
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                events.append(json.loads(message["data"]))
            if any(e["event"] == "sos.new_signal" for e in events):
                break
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert signal["status"] == "pending"
    assert signal["priority"] == "normal"
    assert (signal["current_level"], signal["holder"]["id"]) == ("ateuli", str(atistavi))
    assert signal["holder_unit_id"] == str(t.ateulis[2].id)
    assert signal["reporter"]["id"] == str(reporter)
    assert (signal["latitude"], signal["longitude"]) == (41.7, 44.78)
    assert _at(signal["deadline_at"]) == start + timedelta(hours=24)
    row = await stored(db_session, signal["id"])
    assert (row.status, row.current_level, row.holder_id) == (
        SosStatus.PENDING,
        SosLevel.ATEULI,
        atistavi,
    )
    assert row.ateuli_id == t.ateulis[2].id
    assert await notified(db_session, atistavi, RECEIVED) == 1
    assert await notified(db_session, atistavi, CRITICAL) == 0
    [step] = await trail(db_session, signal["id"])
    assert (step.from_level, step.to_level, step.to_holder_id, step.reason) == (
        None,
        SosLevel.ATEULI,
        atistavi,
        EscalationReason.ROUTED,
    )
    assert await audited(db_session, signal["id"], "sos.signal.raised") == 1
    new_signal = [e for e in events if e["event"] == "sos.new_signal"]
    assert [e["data"]["id"] for e in new_signal] == [signal["id"]]
    assert "reporter" not in json.dumps(new_signal)


async def test_priority_sets_the_verification_deadline_and_critical_uses_its_own_type(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    start = clock.freeze()
    async with sos_client(settings, db_session) as http:
        made = {
            priority: await raise_as(http, settings, reporter, priority=priority.value)
            for priority in SosPriority
        }

    hours = {"critical": 1, "high": 6, "normal": 24, "low": 72}
    for priority, signal in made.items():
        assert _at(signal["deadline_at"]) == start + timedelta(hours=hours[priority.value])
    assert await notified(db_session, atistavi, CRITICAL) == 1
    assert await notified(db_session, atistavi, RECEIVED) == 3


async def test_routing_skips_to_the_next_leader_or_the_moderators(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    admin = await make_admin(db_session, t.members[4][9])
    (loner,) = await bulk_users(db_session, t.district_id, 1)
    # Ateuli 3 loses its atistavi: the seat is vacant.
    term = await db_session.get_one(LeadershipTerm, (await _term(db_session, t.ateulis[3].id)))
    term.ended_at = clock.now()
    await db_session.flush()
    async with sos_client(settings, db_session) as http:
        by_atistavi = await raise_as(http, settings, t.members[2][0])
        in_vacant = await raise_as(http, settings, t.members[3][5])
        no_ateuli = await raise_as(http, settings, loner)

    ormo_leader = str(t.ormo_leader(0))
    assert (by_atistavi["current_level"], by_atistavi["holder"]["id"]) == (
        "ormotsdaateuli",
        ormo_leader,
    )
    assert (in_vacant["current_level"], in_vacant["holder"]["id"]) == (
        "ormotsdaateuli",
        ormo_leader,
    )
    # Nobody leads above a member in no ateuli: the moderators (the admins) hold it.
    assert (no_ateuli["current_level"], no_ateuli["holder"]) == ("moderators", None)
    assert no_ateuli["ateuli_id"] is None
    assert await notified(db_session, admin.id, RECEIVED) == 1
    assert await notified(db_session, t.ormo_leader(0), RECEIVED) == 2


async def _term(session: AsyncSession, unit_id: uuid.UUID) -> uuid.UUID:
    from sqlalchemy import select

    found = await session.scalar(
        select(LeadershipTerm.id).where(
            LeadershipTerm.unit_id == unit_id, LeadershipTerm.ended_at.is_(None)
        )
    )
    assert found is not None
    return found


async def test_raising_refusals(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session, ateulis=5)
    reporter = t.members[2][3]
    unverified = await db_session.get_one(User, t.members[2][4])
    unverified.role = UserRole.UNVERIFIED
    await db_session.flush()
    me = auth(settings, reporter)
    before = await count_signals(db_session)
    async with sos_client(settings, db_session) as http:
        not_verified = await http.post(
            SIGNALS, json=signal_body(), headers=auth(settings, unverified.id)
        )
        anonymous = await http.post(SIGNALS, json=signal_body())
        missing = await http.post(
            SIGNALS,
            json={k: v for k, v in signal_body().items() if k != "moral_filter_response"},
            headers=me,
        )
        half = await http.post(SIGNALS, json=signal_body(latitude=41.7), headers=me)
        off_map = await http.post(SIGNALS, json=signal_body(latitude=91, longitude=44), headers=me)
        bad_priority = await http.post(SIGNALS, json=signal_body(priority="urgent"), headers=me)
        blank_title = await http.post(SIGNALS, json=signal_body(title=""), headers=me)

    error(not_verified, 403, 1005)
    error(anonymous, 401, 1003)
    error(missing, 422, 2001)
    assert error(half, 422, 2001)["details"] == {"field": "longitude"}
    error(off_map, 422, 2002)
    error(bad_priority, 422, 2002)
    error(blank_title, 422, 2002)
    assert await count_signals(db_session) == before


async def test_the_sos_rate_limit_counts_per_member(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, other = t.members[2][3], t.members[2][4]
    async with sos_client(settings, db_session, rate_limit_sos="2/day") as http:
        first = await http.post(SIGNALS, json=signal_body(), headers=auth(settings, reporter))
        second = await http.post(SIGNALS, json=signal_body(), headers=auth(settings, reporter))
        third = await http.post(SIGNALS, json=signal_body(), headers=auth(settings, reporter))
        others = await http.post(SIGNALS, json=signal_body(), headers=auth(settings, other))

    assert [first.status_code, second.status_code, others.status_code] == [201, 201, 201]
    assert second.headers["X-RateLimit-Limit"] == "2"
    assert second.headers["X-RateLimit-Remaining"] == "0"
    error(third, 429, 1006)
    assert "Retry-After" in third.headers
    assert await count_signals(db_session) >= 3


async def test_idempotency_key_replays_the_first_signal(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    me = {**auth(settings, t.members[2][3]), "Idempotency-Key": "sos-1"}
    before = await count_signals(db_session)
    async with sos_client(settings, db_session) as http:
        first = await http.post(SIGNALS, json=signal_body(), headers=me)
        replay = await http.post(SIGNALS, json=signal_body(), headers=me)
        other_body = await http.post(SIGNALS, json=signal_body(title="Another one"), headers=me)

    assert data(first, 201)["id"] == data(replay, 201)["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    error(other_body, 422, 2005)
    assert await count_signals(db_session) == before + 1


# --- who sees what ----------------------------------------------------------------------------


async def test_visibility_reporter_subtree_leaders_holders_and_admins(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    neighbour = t.members[2][4]  # same ateuli, not the reporter: sees nothing
    other_ormo = t.ormo_leader(1)  # leads the other half of the aseuli
    admin = await make_admin(db_session, t.members[7][9])
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"

        def ids(answer: object) -> list[str]:
            return [s["id"] for s in data(answer)]  # type: ignore[arg-type]

        assert data(await http.get(url, headers=auth(settings, reporter)))["id"] == signal["id"]
        for viewer in (atistavi, t.ormo_leader(0), t.aseuli_leader, admin.id):
            assert data(await http.get(url, headers=auth(settings, viewer)))["id"] == signal["id"]
            listed = await http.get(SIGNALS, headers=auth(settings, viewer))
            assert signal["id"] in ids(listed)
        for stranger in (neighbour, other_ormo):
            error(await http.get(url, headers=auth(settings, stranger)), 404, 4001)
            assert signal["id"] not in ids(
                await http.get(SIGNALS, headers=auth(settings, stranger))
            )
        error(
            await http.get(f"{SIGNALS}/{uuid.uuid4()}", headers=auth(settings, admin.id)),
            404,
            4001,
        )
        # Seeing is not acting: a leader above who does not hold it gets 403.
        above = await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, t.aseuli_leader)
        )
        hidden = await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, neighbour)
        )
        unknown = await http.post(
            f"{SIGNALS}/{uuid.uuid4()}/verify",
            json={"is_legitimate": True},
            headers=auth(settings, atistavi),
        )
        mine = await http.get(SIGNALS, headers=auth(settings, reporter))
        filtered = await http.get(
            SIGNALS,
            params={"status": "pending", "priority": "normal", "current_level": "ateuli"},
            headers=auth(settings, reporter),
        )
        none = await http.get(
            SIGNALS, params={"status": "verified"}, headers=auth(settings, reporter)
        )
        bad_filter = await http.get(
            SIGNALS, params={"current_level": "parliament"}, headers=auth(settings, reporter)
        )

    error(above, 403, 1004)
    error(hidden, 404, 4001)
    error(unknown, 404, 4001)
    assert ids(mine) == [signal["id"]]
    assert mine.json()["meta"]["total"] == 1
    assert ids(filtered) == [signal["id"]]
    assert ids(none) == []
    error(bad_filter, 422, 2002)
    assert (await stored(db_session, signal["id"])).status is SosStatus.PENDING


# --- verify -----------------------------------------------------------------------------------


async def test_the_holder_verifies_with_a_priority_and_the_reporter_is_told(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    start = clock.freeze()
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"
        by_reporter = await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, reporter)
        )
        clock.advance(timedelta(hours=3))
        verified = data(
            await http.post(
                f"{url}/verify",
                json={"is_legitimate": True, "priority": "high", "verification_notes": "Seen it"},
                headers=auth(settings, atistavi),
            )
        )
        again = await http.post(
            f"{url}/verify", json={"is_legitimate": False}, headers=auth(settings, atistavi)
        )

    error(by_reporter, 403, 1004)
    assert (verified["status"], verified["priority"]) == ("verified", "high")
    assert verified["verification_notes"] == "Seen it"
    # 48 h to resolve at this level, counted from the verification.
    assert _at(verified["deadline_at"]) == start + timedelta(hours=3 + 48)
    error(again, 409, 3040)
    row = await stored(db_session, signal["id"])
    assert (row.status, row.priority, row.verified_by_id) == (
        SosStatus.VERIFIED,
        SosPriority.HIGH,
        atistavi,
    )
    assert await notified(db_session, reporter, NotificationType.SOS_SIGNAL_VERIFIED) == 1
    assert await audited(db_session, signal["id"], "sos.signal.verified") == 1


async def test_rejecting_needs_notes_and_closes_the_signal(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    admin = await make_admin(db_session, t.members[4][9])
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        other = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"
        bare = await http.post(
            f"{url}/verify",
            json={"is_legitimate": False, "verification_notes": "  "},
            headers=auth(settings, atistavi),
        )
        rejected = data(
            await http.post(
                f"{url}/verify",
                json={"is_legitimate": False, "verification_notes": "A private quarrel"},
                headers=auth(settings, atistavi),
            )
        )
        own = await raise_as(http, settings, admin.id)
        self_verified = await http.post(
            f"{SIGNALS}/{own['id']}/verify",
            json={"is_legitimate": True},
            headers=auth(settings, admin.id),
        )
        # An admin may verify a signal they do not hold.
        by_admin = data(
            await http.post(
                f"{SIGNALS}/{other['id']}/verify",
                json={"is_legitimate": True},
                headers=auth(settings, admin.id),
            )
        )
        escalate_rejected = await http.post(
            f"{url}/escalate", json={}, headers=auth(settings, atistavi)
        )

    error(bare, 422, 2001)
    error(self_verified, 403, 1004)
    assert (rejected["status"], rejected["deadline_at"]) == ("rejected", None)
    assert rejected["verification_notes"] == "A private quarrel"
    assert (by_admin["status"], by_admin["priority"]) == ("verified", "normal")
    error(escalate_rejected, 409, 3040)
    row = await stored(db_session, signal["id"])
    assert (row.status, row.deadline_at) == (SosStatus.REJECTED, None)
    assert await notified(db_session, reporter, NotificationType.SOS_SIGNAL_REJECTED) == 1
    assert await audited(db_session, signal["id"], "sos.signal.rejected") == 1


# --- escalate ---------------------------------------------------------------------------------


async def test_the_holder_escalates_to_the_ormotsdaatistavi(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    start = clock.freeze()
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"
        await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, atistavi)
        )
        same_level = await http.post(
            f"{url}/escalate", json={"to_level": "ateuli"}, headers=auth(settings, atistavi)
        )
        not_holder = await http.post(f"{url}/escalate", json={}, headers=auth(settings, reporter))
        moved = data(
            await http.post(
                f"{url}/escalate",
                json={"to_level": "ormotsdaateuli", "notes": "Needs the landlord's district"},
                headers=auth(settings, atistavi),
            )
        )
        # The former holder still sees it (they held it), but may no longer act on it.
        seen = await http.get(url, headers=auth(settings, atistavi))
        acted = await http.post(f"{url}/escalate", json={}, headers=auth(settings, atistavi))
        down = await http.post(
            f"{url}/escalate", json={"to_level": "ateuli"}, headers=auth(settings, t.ormo_leader(0))
        )
        trail_answer = data(await http.get(f"{url}/escalations", headers=auth(settings, reporter)))

    error(same_level, 422, 3041)
    error(not_holder, 403, 1004)
    assert moved["status"] == "escalated"
    assert (moved["current_level"], moved["holder"]["id"]) == (
        "ormotsdaateuli",
        str(t.ormo_leader(0)),
    )
    assert moved["escalation_count"] == 1
    assert _at(moved["deadline_at"]) == start + timedelta(hours=48)
    assert seen.status_code == 200
    error(acted, 403, 1004)
    error(down, 422, 3041)
    assert [(s["step"], s["from_level"], s["to_level"], s["reason"]) for s in trail_answer] == [
        (0, None, "ateuli", "routed"),
        (1, "ateuli", "ormotsdaateuli", "manual"),
    ]
    assert trail_answer[1]["actor"]["id"] == str(atistavi)
    assert trail_answer[1]["from_holder"]["id"] == str(atistavi)
    assert trail_answer[1]["notes"] == "Needs the landlord's district"
    row = await stored(db_session, signal["id"])
    assert (row.status, row.holder_id) == (SosStatus.ESCALATED, t.ormo_leader(0))
    assert await notified(db_session, t.ormo_leader(0), RECEIVED) == 1
    assert await notified(db_session, reporter, NotificationType.SOS_SIGNAL_ESCALATED) == 1
    assert await audited(db_session, signal["id"], "sos.signal.escalated") == 1


async def test_empty_levels_are_skipped_and_above_the_last_leader_is_the_media(
    db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    queue = "polis-test-sos-media"
    # Two ormotsdaateulis under an aseuli nobody leads, and no ataseuli at all.
    t = await tree(db_session, ateulis=10, lead_aseuli=False)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    contacts = ["desk@example.ge", "news@example.com"]
    await redis.delete(queue)
    try:
        async with sos_app(settings, db_session, sos_media_contacts=contacts) as (app, http):
            route_tasks_to(app, settings, queue)
            pending = await raise_as(http, settings, reporter)
            signal = await raise_as(http, settings, reporter, priority="critical")
            url = f"{SIGNALS}/{signal['id']}"
            unverified = await http.post(
                f"{SIGNALS}/{pending['id']}/escalate",
                json={"to_level": "media"},
                headers=auth(settings, atistavi),
            )
            # A pending signal that runs out of leaders goes to the moderators, not the media.
            to_moderators = data(
                await http.post(
                    f"{SIGNALS}/{pending['id']}/escalate",
                    json={"to_level": "aseuli"},
                    headers=auth(settings, atistavi),
                )
            )
            await http.post(
                f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, atistavi)
            )
            published = data(
                await http.post(
                    f"{url}/escalate", json={"to_level": "aseuli"}, headers=auth(settings, atistavi)
                )
            )
            nothing_above = await http.post(
                f"{url}/escalate", json={}, headers=auth(settings, atistavi)
            )
        messages = await queued_tasks(redis, queue)
    finally:
        await redis.delete(queue)

    error(unverified, 409, 3042)
    assert (to_moderators["current_level"], to_moderators["holder"]) == ("moderators", None)
    assert to_moderators["status"] == "pending"
    assert (published["current_level"], published["holder"], published["deadline_at"]) == (
        "media",
        None,
        None,
    )
    # The former holder is no longer the holder: 403, not 3041.
    error(nothing_above, 403, 1004)
    emails = [kwargs for name, _, kwargs in messages if name == "polis.email.send"]
    assert sorted(e["to"] for e in emails) == contacts
    assert all(set(e) == {"to", "subject", "body", "dedupe_key"} for e in emails)
    assert all("Water cut off for a week" in e["subject"] for e in emails)
    assert len({e["dedupe_key"] for e in emails}) == 2
    assert str(reporter) not in json.dumps(emails)
    row = await stored(db_session, signal["id"])
    assert (row.current_level, row.holder_id, row.deadline_at) == (SosLevel.MEDIA, None, None)


async def test_admins_may_escalate_past_the_media_only_when_verified(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    admin = await make_admin(db_session, t.members[4][9])
    reporter = t.members[2][3]
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"
        to_moderators = data(
            await http.post(
                f"{url}/escalate", json={"to_level": "moderators"}, headers=auth(settings, admin.id)
            )
        )
        pending_up = await http.post(f"{url}/escalate", json={}, headers=auth(settings, admin.id))
        await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, admin.id)
        )
        media = data(await http.post(f"{url}/escalate", json={}, headers=auth(settings, admin.id)))
        top = await http.post(f"{url}/escalate", json={}, headers=auth(settings, admin.id))
        beyond = await http.post(
            f"{url}/escalate", json={"to_level": "media"}, headers=auth(settings, admin.id)
        )

    assert to_moderators["current_level"] == "moderators"
    error(pending_up, 409, 3042)
    assert (media["current_level"], media["status"]) == ("media", "escalated")
    error(top, 422, 3041)
    error(beyond, 422, 3041)


# --- resolve and patch ------------------------------------------------------------------------


async def test_resolve_by_the_holder_or_the_reporter(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    async with sos_client(settings, db_session) as http:
        first = await raise_as(http, settings, reporter)
        second = await raise_as(http, settings, reporter)
        notes = {"resolution_notes": "The water is back."}
        above = await http.post(
            f"{SIGNALS}/{first['id']}/resolve", json=notes, headers=auth(settings, t.aseuli_leader)
        )
        stranger = await http.post(
            f"{SIGNALS}/{first['id']}/resolve", json=notes, headers=auth(settings, t.members[9][2])
        )
        empty = await http.post(
            f"{SIGNALS}/{first['id']}/resolve",
            json={"resolution_notes": ""},
            headers=auth(settings, atistavi),
        )
        by_holder = data(
            await http.post(
                f"{SIGNALS}/{first['id']}/resolve", json=notes, headers=auth(settings, atistavi)
            )
        )
        by_reporter = data(
            await http.post(
                f"{SIGNALS}/{second['id']}/resolve", json=notes, headers=auth(settings, reporter)
            )
        )
        twice = await http.post(
            f"{SIGNALS}/{second['id']}/resolve", json=notes, headers=auth(settings, reporter)
        )

    error(above, 403, 1004)
    error(stranger, 404, 4001)
    error(empty, 422, 2002)
    for answer in (by_holder, by_reporter):
        assert (answer["status"], answer["deadline_at"]) == ("resolved", None)
        assert answer["resolution_notes"] == "The water is back."
    error(twice, 409, 3040)
    assert (await stored(db_session, first["id"])).status is SosStatus.RESOLVED
    resolved = NotificationType.SOS_SIGNAL_RESOLVED
    assert await notified(db_session, reporter, resolved) == 1  # by the holder
    assert await notified(db_session, atistavi, resolved) == 1  # by the reporter
    assert await audited(db_session, first["id"], "sos.signal.resolved") == 1


async def test_the_reporter_corrects_a_pending_signal(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        url = f"{SIGNALS}/{signal['id']}"
        changed = data(
            await http.patch(
                url,
                json={"location": "14 Vazha-Pshavela Ave", "latitude": 41.72, "longitude": 44.75},
                headers=auth(settings, reporter),
            )
        )
        half = await http.patch(url, json={"latitude": None}, headers=auth(settings, reporter))
        null_title = await http.patch(url, json={"title": None}, headers=auth(settings, reporter))
        cleared = data(
            await http.patch(
                url, json={"latitude": None, "longitude": None}, headers=auth(settings, reporter)
            )
        )
        by_holder = await http.patch(
            url, json={"title": "Changed by the holder"}, headers=auth(settings, atistavi)
        )
        hidden = await http.patch(
            url, json={"title": "Changed by a neighbour"}, headers=auth(settings, t.members[2][5])
        )
        await http.post(
            f"{url}/verify", json={"is_legitimate": True}, headers=auth(settings, atistavi)
        )
        too_late = await http.patch(
            url, json={"title": "Changed too late"}, headers=auth(settings, reporter)
        )

    assert changed["location"] == "14 Vazha-Pshavela Ave"
    assert (changed["latitude"], changed["longitude"]) == (41.72, 44.75)
    assert changed["title"] == signal["title"]
    error(half, 422, 2001)
    error(null_title, 422, 2002)
    assert (cleared["latitude"], cleared["longitude"]) == (None, None)
    error(by_holder, 403, 1004)
    error(hidden, 404, 4001)
    error(too_late, 409, 3040)
    row = await stored(db_session, signal["id"])
    assert (row.title, row.location) == (signal["title"], "14 Vazha-Pshavela Ave")
    assert await audited(db_session, signal["id"], "sos.signal.updated") == 2


async def test_pending_verification_lists_what_waits_for_me(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    admin = await make_admin(db_session, t.members[4][9])
    (loner,) = await bulk_users(db_session, t.district_id, 1)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    pending_url = f"{SIGNALS}/pending-verification"
    async with sos_client(settings, db_session) as http:
        low = await raise_as(http, settings, reporter, priority="low")
        critical = await raise_as(http, settings, reporter, priority="critical")
        done = await raise_as(http, settings, reporter)
        orphan = await raise_as(http, settings, loner)
        await http.post(
            f"{SIGNALS}/{done['id']}/verify",
            json={"is_legitimate": True},
            headers=auth(settings, atistavi),
        )
        mine = data(await http.get(pending_url, headers=auth(settings, atistavi)))
        admins = data(await http.get(pending_url, headers=auth(settings, admin.id)))
        reporters = data(await http.get(pending_url, headers=auth(settings, reporter)))

    # Soonest deadline first.
    assert [s["id"] for s in mine] == [critical["id"], low["id"]]
    assert [s["id"] for s in admins] == [orphan["id"]]
    assert reporters == []


async def test_trail_refusals(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session, ateulis=5)
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, t.members[2][3])
        hidden = await http.get(
            f"{SIGNALS}/{signal['id']}/escalations", headers=auth(settings, t.members[2][5])
        )
        unknown = await http.get(
            f"{SIGNALS}/{uuid.uuid4()}/escalations", headers=auth(settings, t.members[2][3])
        )
        bad_id = await http.get(f"{SIGNALS}/not-an-id", headers=auth(settings, t.members[2][3]))
    error(hidden, 404, 4001)
    error(unknown, 404, 4001)
    error(bad_id, 422, 2002)
    assert await steps(db_session, signal["id"], EscalationReason.ROUTED) == 1


async def test_critical_signals_may_reach_the_holder_by_sms_others_may_not(
    db_session: AsyncSession,
) -> None:
    (member,) = await bulk_users(db_session, None, 1)  # type: ignore[arg-type]

    critical = await channels_for(db_session, member, CRITICAL)
    received = await channels_for(db_session, member, RECEIVED)

    assert critical == {"push", "email", "sms"}
    assert received == {"push", "email"}
