"""An SOS signal's whole journey, through HTTP: raised, verified, escalated, overdue, resolved.

In-process rather than against a `polis dev` child: the journey must pass a 48-hour deadline,
and only the clock seam of this process can be moved (a server process reads the real clock).
The app is the real one (every router, middleware, the envelope), its requests in the test's
transaction; the deadline sweep runs as the Celery task's body (``polis.sos.tasks.sweep``),
its batches committed as savepoints of the same transaction.

The cast: a tree of ten led ateulis in one district (tests/arbitration/helpers.tree): the
reporter is a member of ateuli 2, whose atistavi verifies and escalates the signal to the
ormotsdaatistavi above; nobody acts there for 48 h, so the sweep moves it to the asistavi,
who resolves it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.sos import tasks
from tests.conftest import savepoint_sessionmaker
from tests.sos.helpers import MORAL_FILTER, SIGNALS, auth, data, signal_body, tree

NOTIFICATIONS = "/api/v1/notifications"


async def _types(http: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    answer = await http.get(NOTIFICATIONS, params={"per_page": 100}, headers=headers)
    return sorted(n["type"] for n in data(answer))


async def test_sos_journey(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    start = clock.freeze()

    # Access tokens live 15 minutes on the moved clock: each request gets a fresh one.
    def as_(user_id: uuid.UUID) -> dict[str, str]:
        return auth(settings, user_id)

    # The member reads the question, answers it and raises the signal.
    question = data(
        await client.get(MORAL_FILTER, headers={**as_(t.members[2][3]), "Accept-Language": "en"})
    )
    assert question["language"] == "en"
    raised = await client.post(
        SIGNALS,
        json=signal_body(moral_filter_response="Yes: " + question["question"]),
        headers={**as_(t.members[2][3]), "Idempotency-Key": "journey-1"},
    )
    signal: dict[str, Any] = data(raised, 201)
    url = f"{SIGNALS}/{signal['id']}"
    assert (signal["current_level"], signal["holder"]["id"]) == ("ateuli", str(t.members[2][0]))

    # It waits for the atistavi, who hears of it and verifies it.
    waiting = data(
        await client.get(f"{SIGNALS}/pending-verification", headers=as_(t.members[2][0]))
    )
    assert [s["id"] for s in waiting] == [signal["id"]]
    assert "sos_signal_received" in await _types(client, as_(t.members[2][0]))
    clock.advance(timedelta(hours=2))
    verified = data(
        await client.post(
            f"{url}/verify",
            json={"is_legitimate": True, "priority": "high", "verification_notes": "Confirmed"},
            headers=as_(t.members[2][0]),
        )
    )
    assert (verified["status"], verified["priority"]) == ("verified", "high")

    # The atistavi hands it to the ormotsdaatistavi.
    escalated = data(
        await client.post(
            f"{url}/escalate",
            json={"to_level": "ormotsdaateuli", "notes": "The landlord owns buildings across"},
            headers=as_(t.members[2][0]),
        )
    )
    assert (escalated["status"], escalated["holder"]["id"]) == (
        "escalated",
        str(t.ormo_leader(0)),
    )
    assert "sos_signal_received" in await _types(client, as_(t.ormo_leader(0)))

    # Nobody acts for 48 h: the sweep moves it up by itself, with the system as actor.
    clock.advance(timedelta(hours=47, minutes=59))
    connection = db_session.bind
    assert isinstance(connection, AsyncConnection)
    maker = savepoint_sessionmaker(connection)
    assert (await tasks.sweep(maker, settings, send_task=None, redis=None)).moved == 0
    clock.advance(timedelta(minutes=2))
    assert (await tasks.sweep(maker, settings, send_task=None, redis=None)).moved == 1
    moved = data(await client.get(url, headers=as_(t.aseuli_leader)))
    assert (moved["current_level"], moved["holder"]["id"]) == ("aseuli", str(t.aseuli_leader))
    assert moved["escalation_count"] == 2
    trail = data(await client.get(f"{url}/escalations", headers=as_(t.members[2][3])))
    assert [(s["to_level"], s["reason"]) for s in trail] == [
        ("ateuli", "routed"),
        ("ormotsdaateuli", "manual"),
        ("aseuli", "deadline"),
    ]
    assert trail[2]["actor"] is None
    assert trail[2]["from_holder"]["id"] == str(t.ormo_leader(0))

    # The asistavi resolves it; the reporter sees it closed and heard of every step.
    resolved = data(
        await client.post(
            f"{url}/resolve",
            json={"resolution_notes": "The water is back; the landlord was fined."},
            headers=as_(t.aseuli_leader),
        )
    )
    assert (resolved["status"], resolved["deadline_at"]) == ("resolved", None)
    mine = data(await client.get(SIGNALS, headers=as_(t.members[2][3])))
    assert [(s["id"], s["status"]) for s in mine] == [(signal["id"], "resolved")]
    assert await _types(client, as_(t.members[2][3])) == [
        "sos_signal_escalated",
        "sos_signal_escalated",
        "sos_signal_resolved",
        "sos_signal_verified",
    ]
    assert clock.now() - start == timedelta(hours=50, minutes=1)
