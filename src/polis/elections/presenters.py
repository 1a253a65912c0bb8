"""How the elections routes shape their answers: domain objects in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
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
from polis.kit.presenting import from_row
from polis.users.models import User

Out = TypeVar("Out", bound=ElectionOut)
Named = TypeVar("Named", bound=BaseModel)


def _out(schema: type[Out], election: Election, counts: Counts, **extra: Any) -> Out:
    # ``status`` follows the clock, and the counts are live (the ``total_votes`` column is only
    # written when the election is finalized).
    return from_row(
        schema,
        election,
        status=status_of(election),
        candidate_count=counts.candidate_count,
        total_votes=counts.total_votes,
        **extra,
    )


async def elections_out(session: AsyncSession, elections: Sequence[Election]) -> list[ElectionOut]:
    counts = await counts_of(session, elections)
    return [_out(ElectionOut, election, counts[election.id]) for election in elections]


async def election_out(session: AsyncSession, election: Election) -> ElectionOut:
    return (await elections_out(session, [election]))[0]


async def my_elections_out(session: AsyncSession, mine: list[MyElection]) -> list[MyElectionOut]:
    counts = await counts_of(session, [item.election for item in mine])
    return [
        _out(
            MyElectionOut,
            item.election,
            counts[item.election.id],
            may_vote=item.may_vote,
            may_stand=item.may_stand,
            has_voted=item.has_voted,
        )
        for item in mine
    ]


def _named(schema: type[Named], candidate: Candidate, user: User, **extra: Any) -> Named:
    """A candidate with the member standing: their id and the name shown."""
    return from_row(schema, candidate, user_id=user.id, name=user.display_name, **extra)


def candidate_out(candidate: Candidate, user: User) -> CandidateOut:
    return _named(CandidateOut, candidate, user)


def vote_answer(cast: CastVote) -> VoteAnswer:
    return VoteAnswer(vote=from_row(VoteOut, cast))


def results_out(found: Results) -> ResultsOut:
    # Status and totals are the tally's, not the election row's.
    election = from_row(
        ResultsElection,
        found.election,
        status=found.status,
        total_votes=found.total_votes,
        eligible_voters=found.eligible_voters,
        turnout=found.turnout,
    )
    return ResultsOut(
        election=election,
        results=[
            from_row(ResultRow, row, candidate=_named(CandidateRef, row.candidate, row.user))
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
    return from_row(ReceiptOut, proof)
