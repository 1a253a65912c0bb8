"""The tally: finalise an election (Merkle root, winner or runoff), install the winner,
and the results, frozen or live. Flush only; the caller commits.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import transition
from polis.elections import ledger
from polis.elections.base import (
    announce_start,
    ballots_of,
    candidates_of,
    close_ballot_box,
    count_electorate,
    locked,
    notify_electorate,
    periods,
    status_of,
    tell_electorate,
)
from polis.elections.models import Ballot, Candidate, Election, ElectionStatus
from polis.kit import clock
from polis.kit.errors import PolisError
from polis.notifications.models import NotificationType
from polis.notifications.service import notify_each
from polis.units import service as units
from polis.units.models import Unit, UnitStatus
from polis.users.models import User


def needs_finalising(election: Election) -> bool:
    """Voting has ended by the clock and the tally is not frozen yet."""
    return (
        election.cancelled_at is None
        and election.finalized_at is None
        and clock.now() >= election.ends_at
    )


def _seniority(user: User) -> tuple[datetime, datetime, str]:
    # The longest-standing member: onboarded first, then registered first, then a fixed order.
    onboarded = user.onboarded_at or datetime.max.replace(tzinfo=clock.now().tzinfo)
    return (onboarded, user.created_at, str(user.id))


async def finalize(session: AsyncSession, election_id: uuid.UUID) -> bool:
    """Tally, freeze the Merkle root, pick the winner (or open a runoff), install the leader.

    Exactly once: under the election's row lock, a second caller finds ``finalized_at`` set
    and does nothing. Returns True when this call finalised the election.
    """
    await close_ballot_box(session, election_id)
    election = await locked(session, election_id)
    if election is None or not needs_finalising(election):
        return False
    now = clock.now()
    candidates, tally = await _freeze_tally(session, election, now)
    winner, runoff = await _decide(session, election, candidates, tally)
    if winner is not None:
        election.winner_candidate_id = winner[0].id
    await transition(
        session,
        action="elections.finalized",
        entity_type="election",
        entity_id=election.id,
        actor_id=None,
        new={
            "total_votes": election.total_votes,
            "merkle_root": election.merkle_root,
            "winner_candidate_id": election.winner_candidate_id,
            "runoff_id": runoff.id if runoff else None,
        },
        tell=await tell_electorate(session, election, NotificationType.ELECTION_COMPLETED),
    )
    await _fill_seat(session, election, winner, runoff, now)
    return True


async def _freeze_tally(
    session: AsyncSession, election: Election, now: datetime
) -> tuple[list[tuple[Candidate, User]], Counter[uuid.UUID]]:
    """Count the ballots into the candidates and freeze the totals and the Merkle root."""
    ballots = await ballots_of(session, election.id)
    tally = Counter(candidate_id for _, candidate_id in ballots)
    candidates = await candidates_of(session, election.id)
    for candidate, _ in candidates:
        candidate.vote_count = tally.get(candidate.id, 0)
    election.total_votes = len(ballots)
    election.merkle_root = ledger.merkle_root(ballots)
    election.eligible_voters = await count_electorate(session, election)
    election.finalized_at = now
    # Rewrite every ballot in this one transaction, so that no ballot row keeps the
    # transaction id of the vote that wrote it (the participation row has it too).
    await session.execute(
        update(Ballot).where(Ballot.election_id == election.id).values(vote_hash=Ballot.vote_hash)
    )
    return candidates, tally


async def _decide(
    session: AsyncSession,
    election: Election,
    candidates: list[tuple[Candidate, User]],
    tally: Counter[uuid.UUID],
) -> tuple[tuple[Candidate, User] | None, Election | None]:
    """The winner, or the runoff a tie opens (at most one of the two; neither without votes)."""
    if not tally:
        election.outcome_note = "no votes"
        return None, None
    most = max(tally.values())
    tied = [(c, u) for c, u in candidates if tally.get(c.id, 0) == most]
    if len(tied) == 1:
        return tied[0], None
    if election.runoff_of_id is not None:
        # A tie in the runoff goes to the longest-standing member (§3.4).
        return min(tied, key=lambda pair: _seniority(pair[1])), None
    election.outcome_note = "tie: runoff"
    await session.flush()
    return None, await _open_runoff(session, election, [c for c, _ in tied])


async def _fill_seat(
    session: AsyncSession,
    election: Election,
    winner: tuple[Candidate, User] | None,
    runoff: Election | None,
    now: datetime,
) -> None:
    """Install a unit election's winner; with neither winner nor runoff the seat stays due."""
    if election.scope_id is None:
        return
    if winner is not None:
        await _install_winner(session, election, winner[1])
    elif runoff is None:
        # No leader came out of it: the seat is still due, and the job reschedules it.
        unit = await session.get(Unit, election.scope_id)
        if unit is not None and unit.status is UnitStatus.ACTIVE:
            unit.leader_election_due_at = unit.leader_election_due_at or now
            await session.flush()


async def _open_runoff(
    session: AsyncSession, election: Election, tied: list[Candidate]
) -> Election:
    """A runoff between ``tied``: voting only, opening now for the settings' voting period."""
    now = clock.now()
    runoff = Election(
        election_type=election.election_type,
        scope_type=election.scope_type,
        scope_id=election.scope_id,
        title=f"{election.title} (runoff)"[:200],
        description=election.description,
        starts_at=now,
        ends_at=now + periods().voting,
        created_by_id=election.created_by_id,
        is_automatic=election.is_automatic,
        nominations_extended=True,
        runoff_of_id=election.id,
        opened_at=now,
        created_at=now,
    )
    session.add(runoff)
    await session.flush()
    for candidate in tied:
        session.add(
            Candidate(
                election_id=runoff.id,
                user_id=candidate.user_id,
                statement=candidate.statement,
                registered_at=candidate.registered_at,
            )
        )
    await session.flush()
    await notify_electorate(session, runoff, NotificationType.ELECTION_RUNOFF)
    await announce_start(session, runoff)
    return runoff


async def _install_winner(session: AsyncSession, election: Election, winner: User) -> None:
    assert election.scope_id is not None
    unit = await session.get(Unit, election.scope_id)
    if unit is None:
        return
    try:
        await units.install_leader(session, unit, winner, election.id)
    except PolisError as exc:
        # The unit fell back to forming, or the winner left it, between the vote and now:
        # nobody is installed, and the seat stays due if the unit is still active.
        election.outcome_note = f"not installed: {exc.error.name.lower()}"
        await session.flush()
        return
    member_ids = await session.scalars(units.leader_pool(unit.id, unit.level))
    await notify_each(
        session,
        member_ids.all(),
        NotificationType.LEADER_ELECTED,
        {
            "unit_name": unit.name,
            "winner_name": winner.display_name,
            "unit_id": unit.id,
            "election_id": election.id,
        },
        dedupe_key=f"leader-elected:{election.id}",
    )


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    user: User
    vote_count: int
    percentage: float
    is_winner: bool


@dataclass(frozen=True)
class Results:
    election: Election
    status: ElectionStatus
    total_votes: int
    eligible_voters: int
    turnout: float
    rows: list[CandidateResult]
    merkle_root: str | None


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


async def results(session: AsyncSession, election: Election) -> Results:
    """Counts, percentages and the winner: frozen once finalised, counted live before.

    Live counts are one COUNT … GROUP BY over the ballots (the route caches it); there is no
    per-candidate counter to read.
    """
    candidates = await candidates_of(session, election.id)
    if election.finalized_at is not None:
        counts = {c.id: c.vote_count or 0 for c, _ in candidates}
        total = election.total_votes or 0
        eligible = election.eligible_voters or 0
    else:
        rows = await session.execute(
            select(Ballot.candidate_id, func.count())
            .where(Ballot.election_id == election.id)
            .group_by(Ballot.candidate_id)
        )
        counts = {candidate_id: int(count) for candidate_id, count in rows}
        total = sum(counts.values())
        eligible = await count_electorate(session, election)
    result_rows = [
        CandidateResult(
            candidate=candidate,
            user=user,
            vote_count=counts.get(candidate.id, 0),
            percentage=_percent(counts.get(candidate.id, 0), total),
            is_winner=election.winner_candidate_id == candidate.id,
        )
        for candidate, user in candidates
    ]
    result_rows.sort(key=lambda row: (-row.vote_count, row.candidate.registered_at))
    return Results(
        election=election,
        status=status_of(election),
        total_votes=total,
        eligible_voters=eligible,
        turnout=_percent(total, eligible),
        rows=result_rows,
        merkle_root=election.merkle_root,
    )
