"""How the elections routes shape their answers: domain objects in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.elections import ledger
from polis.elections.base import status_of
from polis.elections.casting import CastVote, Publication
from polis.elections.models import Candidate, Election
from polis.elections.queries import Counts, MyElection, counts_of
from polis.elections.schemas import (
    BallotOut,
    BallotsOut,
    CandidateOut,
    CandidateRef,
    ElectionOut,
    MyElectionOut,
    ReceiptOut,
    ResultRow,
    ResultsElection,
    ResultsOut,
    VoteAnswer,
    VoteOut,
)
from polis.elections.tally import Results
from polis.users.models import User


def _out(election: Election, counts: Counts) -> ElectionOut:
    return ElectionOut(
        id=election.id,
        election_type=election.election_type,
        scope_type=election.scope_type,
        scope_id=election.scope_id,
        title=election.title,
        description=election.description,
        status=status_of(election),
        starts_at=election.starts_at,
        ends_at=election.ends_at,
        nominations_extended=election.nominations_extended,
        runoff_of_id=election.runoff_of_id,
        is_automatic=election.is_automatic,
        candidate_count=counts.candidate_count,
        total_votes=counts.total_votes,
        created_at=election.created_at,
        cancelled_at=election.cancelled_at,
        cancel_reason=election.cancel_reason,
        finalized_at=election.finalized_at,
        merkle_root=election.merkle_root,
        winner_candidate_id=election.winner_candidate_id,
        outcome_note=election.outcome_note,
    )


async def elections_out(session: AsyncSession, elections: Sequence[Election]) -> list[ElectionOut]:
    counts = await counts_of(session, elections)
    return [_out(election, counts[election.id]) for election in elections]


async def election_out(session: AsyncSession, election: Election) -> ElectionOut:
    return (await elections_out(session, [election]))[0]


async def my_elections_out(session: AsyncSession, mine: list[MyElection]) -> list[MyElectionOut]:
    counts = await counts_of(session, [item.election for item in mine])
    return [
        MyElectionOut(
            **_out(item.election, counts[item.election.id]).model_dump(),
            may_vote=item.may_vote,
            may_stand=item.may_stand,
            has_voted=item.has_voted,
        )
        for item in mine
    ]


def candidate_out(candidate: Candidate, user: User) -> CandidateOut:
    return CandidateOut(
        id=candidate.id,
        user_id=user.id,
        name=user.display_name,
        statement=candidate.statement,
        registered_at=candidate.registered_at,
    )


def vote_answer(cast: CastVote) -> VoteAnswer:
    return VoteAnswer(
        vote=VoteOut(election_id=cast.election_id, vote_hash=cast.vote_hash, cast_at=cast.cast_at)
    )


def results_out(found: Results) -> ResultsOut:
    election = found.election
    return ResultsOut(
        election=ResultsElection(
            id=election.id,
            title=election.title,
            election_type=election.election_type,
            status=found.status,
            starts_at=election.starts_at,
            ends_at=election.ends_at,
            total_votes=found.total_votes,
            eligible_voters=found.eligible_voters,
            turnout=found.turnout,
            finalized_at=election.finalized_at,
            runoff_of_id=election.runoff_of_id,
            outcome_note=election.outcome_note,
        ),
        results=[
            ResultRow(
                candidate=CandidateRef(
                    id=row.candidate.id, user_id=row.user.id, name=row.user.display_name
                ),
                vote_count=row.vote_count,
                percentage=row.percentage,
                is_winner=row.is_winner,
            )
            for row in found.rows
        ],
        merkle_root=found.merkle_root,
    )


def ballots_out(publication: Publication) -> BallotsOut:
    election = publication.election
    return BallotsOut(
        election_id=election.id,
        ballots=[
            BallotOut(vote_hash=vote_hash, candidate_id=candidate_id)
            for vote_hash, candidate_id in publication.ballots
        ],
        merkle_root=election.merkle_root or "",
        tree_size=len(publication.ballots),
    )


def receipt_out(proof: ledger.Receipt) -> ReceiptOut:
    return ReceiptOut(
        candidate_id=proof.candidate_id,
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        audit_path=proof.audit_path,
        merkle_root=proof.merkle_root,
    )
