"""Elections through HTTP: candidacies, votes and their refusals, results, publication."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.elections import ledger
from polis.elections.models import Ballot, Candidate, Election, Participation
from polis.kit import clock
from polis.notifications.models import Notification, NotificationType
from polis.territories.models import Territory
from polis.units import queries as unit_queries
from polis.units import service as units
from polis.units.models import LeadershipTerm, TermEndReason
from polis.users.models import MemberStatus, UserRole
from tests.conftest import envelope_body, envelope_error
from tests.elections.factories import (
    URL,
    after,
    full_ateuli,
    move_clock,
    register,
    scheduled_election,
    vote,
    voting_time,
)
from tests.units.factories import verified


async def test_an_atistavi_election_from_nominations_to_the_installed_leader(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    members = ateuli.members
    # A sitting atistavi whose term the winner's replaces.
    old_term = await units.install_leader(db_session, ateuli.unit, members[9].user)
    election = await scheduled_election(db_session, ateuli.unit)
    outsider = await verified(db_session, settings, district.id)
    outsider.user.status = MemberStatus.ACTIVE
    passive = members[8]
    passive.user.status = MemberStatus.PASSIVE
    await db_session.flush()

    data = envelope_body(await client.get(f"{URL}/{election.id}", headers=members[0].headers))
    assert (data["data"]["status"], data["data"]["election_type"]) == ("scheduled", "atistavi")
    first = await register(client, election.id, members[0])
    second = await register(client, election.id, members[1])
    again = f"{URL}/{election.id}/register-candidate"
    envelope_error(await client.post(again, json={}, headers=members[0].headers), 409, 3032)
    envelope_error(await client.post(again, json={}, headers=outsider.headers), 403, 3031)
    envelope_error(await client.post(again, json={}, headers=passive.headers), 403, 3031)
    unknown = f"{URL}/{uuid.uuid4()}/register-candidate"
    envelope_error(await client.post(unknown, json={}, headers=members[0].headers), 404, 4001)
    # A third stands, then withdraws.
    await register(client, election.id, members[2])
    response = await client.delete(f"{URL}/{election.id}/candidacy", headers=members[2].headers)
    envelope_body(response)
    envelope_error(
        await client.delete(f"{URL}/{election.id}/candidacy", headers=members[2].headers),
        404,
        4001,
    )
    listed = envelope_body(
        await client.get(f"{URL}/{election.id}/candidates", headers=members[5].headers)
    )
    assert {(c["id"], c["user_id"]) for c in listed["data"]} == {
        (first, str(members[0].user.id)),
        (second, str(members[1].user.id)),
    }
    # Not yet voting.
    ballot = {"candidate_id": first}
    envelope_error(
        await client.post(f"{URL}/{election.id}/vote", json=ballot, headers=members[3].headers),
        409,
        3003,
    )

    move_clock(settings, voting_time(election), *members, outsider)
    envelope_error(await client.post(again, json={}, headers=members[3].headers), 409, 3003)
    envelope_error(
        await client.delete(f"{URL}/{election.id}/candidacy", headers=members[1].headers),
        409,
        3003,
    )
    receipts = {}
    for n, member in enumerate(members):
        receipts[member.user.id] = await vote(
            client, election.id, member, first if n < 6 else second
        )
    for member in (members[0], members[7]):
        envelope_error(
            await client.post(f"{URL}/{election.id}/vote", json=ballot, headers=member.headers),
            409,
            3002,
        )
    envelope_error(
        await client.post(f"{URL}/{election.id}/vote", json=ballot, headers=outsider.headers),
        403,
        3004,
    )
    envelope_error(
        await client.post(
            f"{URL}/{election.id}/vote",
            json={"candidate_id": str(uuid.uuid4())},
            headers=outsider.headers,
        ),
        403,
        3004,
    )
    envelope_error(
        await client.post(f"{URL}/{uuid.uuid4()}/vote", json=ballot, headers=outsider.headers),
        404,
        4001,
    )
    # Live results, cached with an ETag.
    live = await client.get(f"{URL}/{election.id}/results")
    data = envelope_body(live)["data"]
    assert data["election"]["status"] == "active"
    assert (data["election"]["total_votes"], data["election"]["eligible_voters"]) == (10, 10)
    assert data["election"]["turnout"] == 100.0
    assert [(r["candidate"]["id"], r["vote_count"]) for r in data["results"]] == [
        (first, 6),
        (second, 4),
    ]
    assert data["merkle_root"] is None
    assert not any(r["is_winner"] for r in data["results"])
    assert "max-age=300" in live.headers["cache-control"]
    cached = await client.get(
        f"{URL}/{election.id}/results", headers={"If-None-Match": live.headers["etag"]}
    )
    assert cached.status_code == 304
    # Nothing is published before the end.
    envelope_error(await client.get(f"{URL}/{election.id}/ballots"), 409, 3003)
    some_receipt = receipts[members[0].user.id]
    envelope_error(await client.get(f"{URL}/{election.id}/receipts/{some_receipt}"), 409, 3003)

    # The end: the first read of the results finalises.
    move_clock(settings, after(election), outsider)
    final = envelope_body(await client.get(f"{URL}/{election.id}/results"))["data"]
    assert final["election"]["status"] == "completed"
    assert final["election"]["total_votes"] == 10
    winners = [r for r in final["results"] if r["is_winner"]]
    assert [w["candidate"]["user_id"] for w in winners] == [str(members[0].user.id)]
    assert [r["percentage"] for r in final["results"]] == [60.0, 40.0]

    stored = await db_session.get_one(Election, election.id)
    await db_session.refresh(stored)
    assert stored.finalized_at is not None and stored.total_votes == 10
    term = await unit_queries.open_term(db_session, ateuli.unit.id)
    assert term is not None and term.user_id == members[0].user.id
    assert term.election_id == election.id
    await db_session.refresh(old_term)
    assert old_term.end_reason is TermEndReason.REPLACED
    elected = await db_session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.type == NotificationType.LEADER_ELECTED,
            Notification.params["election_id"].astext == str(election.id),
        )
    )
    assert elected == 10

    published = envelope_body(await client.get(f"{URL}/{election.id}/ballots"))["data"]
    hashes = [b["vote_hash"] for b in published["ballots"]]
    assert hashes == sorted(hashes) and set(hashes) == set(receipts.values())
    pairs = [(b["vote_hash"], uuid.UUID(b["candidate_id"])) for b in published["ballots"]]
    assert published["merkle_root"] == ledger.merkle_root(pairs) == final["merkle_root"]
    assert published["tree_size"] == 10
    for member in members:
        proof = envelope_body(
            await client.get(f"{URL}/{election.id}/receipts/{receipts[member.user.id]}")
        )["data"]
        receipt = ledger.Receipt(
            candidate_id=uuid.UUID(proof["candidate_id"]),
            leaf_index=proof["leaf_index"],
            tree_size=proof["tree_size"],
            audit_path=proof["audit_path"],
            merkle_root=proof["merkle_root"],
        )
        assert ledger.verify_receipt(receipts[member.user.id], receipt)
        # The server's proof is exactly the reference implementation's.
        assert receipt == ledger.receipt(pairs, receipts[member.user.id])
    envelope_error(await client.get(f"{URL}/{election.id}/receipts/{'0' * 64}"), 404, 4001)
    # Voting is over.
    envelope_error(
        await client.post(f"{URL}/{election.id}/vote", json=ballot, headers=outsider.headers),
        409,
        3003,
    )
    # A second read answers from the frozen record, cached for a week.
    again_read = await client.get(f"{URL}/{election.id}/results")
    assert envelope_body(again_read)["data"] == final
    assert "max-age=604800" in again_read.headers["cache-control"]


async def test_a_vote_writes_a_participation_and_a_ballot_and_replays_with_its_key(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    candidate = await register(client, election.id, ateuli.members[0])
    voter = ateuli.members[3]
    move_clock(settings, voting_time(election), voter)
    headers = {**voter.headers, "Idempotency-Key": "vote-1"}
    body = {"candidate_id": candidate}
    first = await client.post(f"{URL}/{election.id}/vote", json=body, headers=headers)
    replay = await client.post(f"{URL}/{election.id}/vote", json=body, headers=headers)
    # The replay is the first answer, byte for byte (its meta included).
    assert replay.status_code == 200
    assert replay.json() == envelope_body(first)
    assert replay.headers["idempotent-replayed"] == "true"
    vote_hash = first.json()["data"]["vote"]["vote_hash"]
    assert len(vote_hash) == 64
    assert first.json()["data"]["vote"]["election_id"] == str(election.id)
    ballots = (
        await db_session.scalars(select(Ballot).where(Ballot.election_id == election.id))
    ).all()
    assert [(b.vote_hash, str(b.candidate_id)) for b in ballots] == [(vote_hash, candidate)]
    voters = (
        await db_session.scalars(
            select(Participation.voter_id).where(Participation.election_id == election.id)
        )
    ).all()
    assert voters == [voter.user.id]


async def test_admins_create_list_and_cancel_elections(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    now = clock.freeze()
    admin = await verified(db_session, settings, district.id, admin=True)
    member = await verified(db_session, settings, district.id)
    ateuli = await full_ateuli(db_session, settings, district.id)
    national = {
        "election_type": "parliamentary",
        "scope_type": "national",
        "title": "Parliamentary list 2027",
        "description": "The national list.",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
    }
    envelope_error(await client.post(URL, json=national, headers=member.headers), 403, 1004)
    created = envelope_body(await client.post(URL, json=national, headers=admin.headers), 201)
    election_id = created["data"]["id"]
    assert created["data"]["status"] == "scheduled"
    assert (created["data"]["candidate_count"], created["data"]["total_votes"]) == (0, 0)
    mismatched = {**national, "scope_type": "ateuli", "scope_id": str(ateuli.unit.id)}
    envelope_error(await client.post(URL, json=mismatched, headers=admin.headers), 422, 3008)
    backwards = {**national, "ends_at": national["starts_at"]}
    envelope_error(await client.post(URL, json=backwards, headers=admin.headers), 422, 3034)
    past = {**national, "starts_at": (now - timedelta(hours=1)).isoformat()}
    envelope_error(await client.post(URL, json=past, headers=admin.headers), 422, 3034)
    naive = {**national, "starts_at": "2030-01-01T00:00:00"}
    envelope_error(await client.post(URL, json=naive, headers=admin.headers), 422, 2002)
    seat = {
        **national,
        "election_type": "atistavi",
        "scope_type": "ateuli",
        "scope_id": str(ateuli.unit.id),
    }
    envelope_error(
        await client.post(URL, json={**seat, "scope_id": str(uuid.uuid4())}, headers=admin.headers),
        404,
        4001,
    )
    envelope_body(await client.post(URL, json=seat, headers=admin.headers), 201)
    envelope_error(await client.post(URL, json=seat, headers=admin.headers), 409, 3033)

    listed = envelope_body(
        await client.get(URL, params={"election_type": "parliamentary"}, headers=member.headers)
    )
    assert election_id in [e["id"] for e in listed["data"]]
    scheduled = envelope_body(
        await client.get(
            URL,
            params={"status": "scheduled", "scope_id": str(ateuli.unit.id)},
            headers=member.headers,
        )
    )
    assert len(scheduled["data"]) == 1 and scheduled["meta"]["total"] == 1
    envelope_error(
        await client.get(URL, params={"sort_by": "nope"}, headers=member.headers), 422, 2002
    )

    cancel = f"{URL}/{election_id}/cancel"
    envelope_error(await client.post(cancel, headers=member.headers), 403, 1004)
    done = envelope_body(await client.post(cancel, headers=admin.headers))["data"]
    assert done["status"] == "cancelled"
    envelope_error(await client.post(cancel, headers=admin.headers), 409, 3035)
    envelope_error(
        await client.post(f"{URL}/{uuid.uuid4()}/cancel", headers=admin.headers), 404, 4001
    )
    cancelled = envelope_body(
        await client.get(URL, params={"status": "cancelled"}, headers=member.headers)
    )
    assert election_id in [e["id"] for e in cancelled["data"]]
    envelope_error(await client.get(f"{URL}/{uuid.uuid4()}", headers=member.headers), 404, 4001)
    envelope_error(await client.get(f"{URL}/{election_id}"), 401, 1003)


async def test_the_parliamentary_list_every_geder_votes_active_members_stand(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    now = clock.freeze()
    admin = await verified(db_session, settings, district.id, admin=True)
    diaspora = await verified(db_session, settings, None, diaspora=True)
    supporter = await verified(db_session, settings, district.id, role=UserRole.SUPPORTER)
    supporter.user.status = MemberStatus.ACTIVE
    passive_geder = await verified(db_session, settings, district.id)
    await db_session.flush()
    body = {
        "election_type": "parliamentary",
        "scope_type": "national",
        "title": "Parliamentary list",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
    }
    election_id = envelope_body(await client.post(URL, json=body, headers=admin.headers), 201)[
        "data"
    ]["id"]
    # An active supporter may stand; a passive GeDer may not.
    standing = await register(client, uuid.UUID(election_id), supporter)
    envelope_error(
        await client.post(
            f"{URL}/{election_id}/register-candidate", json={}, headers=passive_geder.headers
        ),
        403,
        3031,
    )
    mine = envelope_body(await client.get(f"{URL}/my-elections", headers=diaspora.headers))
    found = [e for e in mine["data"] if e["id"] == election_id]
    assert found and found[0]["may_vote"] and not found[0]["may_stand"]
    assert not found[0]["has_voted"]

    move_clock(settings, now + timedelta(days=1, seconds=1), diaspora, supporter)
    # A GeDer abroad votes; a supporter does not.
    await vote(client, uuid.UUID(election_id), diaspora, standing)
    envelope_error(
        await client.post(
            f"{URL}/{election_id}/vote", json={"candidate_id": standing}, headers=supporter.headers
        ),
        403,
        3004,
    )
    mine = envelope_body(await client.get(f"{URL}/my-elections", headers=diaspora.headers))
    assert [e["has_voted"] for e in mine["data"] if e["id"] == election_id] == [True]
    count = await db_session.scalar(
        select(func.count()).select_from(Candidate).where(Candidate.election_id == election_id)
    )
    assert count == 1


async def test_my_elections_lists_the_seats_i_elect(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    outsider = await verified(db_session, settings, district.id)
    member = ateuli.members[4]
    mine = envelope_body(await client.get(f"{URL}/my-elections", headers=member.headers))["data"]
    assert [(e["id"], e["may_vote"], e["may_stand"]) for e in mine] == [
        (str(election.id), True, True)
    ]
    theirs = envelope_body(await client.get(f"{URL}/my-elections", headers=outsider.headers))
    assert str(election.id) not in [e["id"] for e in theirs["data"]]
    # Once over, it is no longer listed.
    move_clock(settings, after(election), member)
    mine = envelope_body(await client.get(f"{URL}/my-elections", headers=member.headers))["data"]
    assert mine == []
    assert await db_session.scalar(select(func.count()).select_from(LeadershipTerm)) is not None


async def test_an_election_cancelled_while_voting_takes_no_more_votes_and_publishes_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    admin = await verified(db_session, settings, district.id, admin=True)
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    candidate = await register(client, election.id, ateuli.members[0])
    move_clock(settings, voting_time(election), admin, *ateuli.members)
    await vote(client, election.id, ateuli.members[1], candidate)
    cancelled = envelope_body(
        await client.post(f"{URL}/{election.id}/cancel", headers=admin.headers)
    )["data"]
    assert (cancelled["status"], cancelled["total_votes"]) == ("cancelled", 1)
    envelope_error(
        await client.post(
            f"{URL}/{election.id}/vote",
            json={"candidate_id": candidate},
            headers=ateuli.members[2].headers,
        ),
        409,
        3003,
    )
    results = envelope_body(await client.get(f"{URL}/{election.id}/results"))["data"]
    assert results["election"]["status"] == "cancelled" and results["merkle_root"] is None
    envelope_error(await client.get(f"{URL}/{election.id}/ballots"), 409, 3003)
    # Past its end, a cancelled election is never finalised.
    move_clock(settings, after(election))
    envelope_body(await client.get(f"{URL}/{election.id}/results"))
    stored = await db_session.get_one(Election, election.id)
    await db_session.refresh(stored)
    assert stored.finalized_at is None
