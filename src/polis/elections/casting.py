"""Casting a vote and publishing the ballots: the receipt and its inclusion proof.

The vote is the platform's hottest write (docs/elections.md, "Benchmark"); the locks that keep
a vote out of a frozen tally are described in ``polis.elections.base``. Flush only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Row, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from polis.elections import ledger
from polis.elections.base import (
    BALLOT_BOX_LOCK,
    NO_ELECTION,
    OPEN_BALLOT_BOX,
    ballots_of,
    in_unit_electorate,
    proof_tree,
    status_of,
    unit_of,
)
from polis.elections.models import Election, ElectionScope, ElectionStatus, election_status
from polis.kit import clock
from polis.kit.errors import (
    AuthError,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    PolisError,
)
from polis.users.models import UserRole

_NO_CANDIDATE = "No such candidate in this election."


@dataclass(frozen=True)
class CastVote:
    election_id: uuid.UUID
    vote_hash: str
    cast_at: datetime


# A vote's second statement, after the lock: every check the vote needs (the election's state,
# the voter's row, the candidate) and, only when all pass, the participation and then the
# ballot. Two votes of one voter race on the primary key of participations: the second waits
# for the first to commit, then inserts nothing, so it stores no ballot. The conditions are
# those ``cast_vote`` reads back to name a refusal: keep the two in step. ``:eligible`` is the
# unit electorate's answer for a leader election, NULL for the national list (every
# onboarded GeDer, judged from the voter's row here).
CAST_VOTE = text(
    """
    WITH election AS (
        SELECT cancelled_at, finalized_at, starts_at, ends_at FROM elections
        WHERE id = :election_id
    ), voter AS (
        SELECT deleted_at, role, onboarded_at FROM users WHERE id = :voter_id
    ), checks AS (
        SELECT election.*, voter.role IS NOT NULL AS voter_exists, voter.deleted_at,
               COALESCE(:eligible, voter.role = :geder AND voter.onboarded_at IS NOT NULL)
                   AS eligible,
               EXISTS (SELECT 1 FROM election_candidates
                       WHERE id = :candidate_id AND election_id = :election_id)
                   AS candidate_stands
        FROM election LEFT JOIN voter ON true
    ), participation AS (
        INSERT INTO election_participations (election_id, voter_id, created_at)
        SELECT :election_id, :voter_id, :now FROM checks
        WHERE cancelled_at IS NULL AND finalized_at IS NULL
          AND :now >= starts_at AND :now < ends_at
          AND voter_exists AND deleted_at IS NULL AND eligible AND candidate_stands
        ON CONFLICT DO NOTHING
        RETURNING election_id
    ), ballot AS (
        INSERT INTO election_ballots (id, election_id, candidate_id, vote_hash)
        SELECT :ballot_id, election_id, :candidate_id, :vote_hash FROM participation
        RETURNING id
    )
    SELECT checks.*, (SELECT id FROM ballot) AS ballot_id FROM checks
    """
).bindparams(bindparam("eligible", type_=Boolean), bindparam("now", type_=DateTime(True)))


async def cast_vote(
    session: AsyncSession, voter_id: uuid.UUID, election_id: uuid.UUID, candidate_id: uuid.UUID
) -> CastVote:
    """Record the participation of ``voter_id`` and, separately, their ballot; return the
    receipt.

    Refusals, in this order: 404 unknown election; 401/1003 the voter's account is gone; 3003
    not voting now; 3004 not in the electorate; 404/4001 unknown candidate; 3002 already
    voted. Nothing is logged or audited here: the receipt and the voter meet only in this
    function and in the voter's answer. Two statements for the national list (three for a
    leader election, whose electorate is asked apart), no ORM objects: the vote is the
    platform's hottest write (docs/elections.md, "Benchmark").
    """
    connection = await session.connection()
    scope = (
        await connection.execute(
            OPEN_BALLOT_BOX,
            {
                "namespace": BALLOT_BOX_LOCK,
                "election": str(election_id),
                "election_id": election_id,
            },
        )
    ).one_or_none()
    if scope is None:
        raise NotFound(NO_ELECTION)
    scope_type = ElectionScope(scope.scope_type)
    unit_id = unit_of(scope_type, scope.scope_id)
    eligible: bool | None = None
    if unit_id is not None:
        eligible = await in_unit_electorate(session, scope_type, unit_id, voter_id)
    now = clock.now()
    ballot_id = uuid.uuid4()
    vote_hash = ledger.new_vote_hash(election_id, ballot_id, candidate_id)
    checks = (
        await connection.execute(
            CAST_VOTE,
            {
                "election_id": election_id,
                "voter_id": voter_id,
                "candidate_id": candidate_id,
                "eligible": eligible,
                "geder": UserRole.GEDER.value,
                "now": now,
                "ballot_id": ballot_id,
                "vote_hash": vote_hash,
            },
        )
    ).one()
    if checks.ballot_id is not None:
        return CastVote(election_id=election_id, vote_hash=vote_hash, cast_at=now)
    raise _refusal(checks, now)


def _refusal(checks: Row[Any], now: datetime) -> PolisError:
    """Why ``CAST_VOTE`` stored nothing, read from its checks in ``cast_vote``'s order."""
    if not checks.voter_exists or checks.deleted_at is not None:
        return AuthError("This account no longer exists.", error=ErrorCode.TOKEN_INVALID)
    status = election_status(checks.cancelled_at, checks.starts_at, checks.ends_at, now)
    if checks.finalized_at is not None or status is not ElectionStatus.ACTIVE:
        return Conflict(error=ErrorCode.ELECTION_NOT_ACTIVE, details={"status": status})
    if not checks.eligible:
        return PermissionDenied(error=ErrorCode.NOT_ELIGIBLE)
    if not checks.candidate_stands:
        return NotFound(_NO_CANDIDATE)
    return Conflict(error=ErrorCode.ALREADY_VOTED)


def _require_published(election: Election) -> None:
    if election.finalized_at is None or election.cancelled_at is not None:
        raise Conflict(
            "Ballots are published once the election has completed.",
            error=ErrorCode.ELECTION_NOT_ACTIVE,
            details={"status": status_of(election)},
        )


@dataclass(frozen=True)
class Publication:
    election: Election
    ballots: list[ledger.Ballot]


async def published_ballots(session: AsyncSession, election: Election) -> Publication:
    """Every ballot of a completed election, sorted by receipt (3003 before completion)."""
    _require_published(election)
    return Publication(election=election, ballots=await ballots_of(session, election.id))


async def receipt_of(session: AsyncSession, election: Election, vote_hash: str) -> ledger.Receipt:
    """The inclusion proof of one receipt (3003 before completion, 404 if unknown)."""
    _require_published(election)
    proof = (await proof_tree(session, election)).receipt(vote_hash)
    if proof is None:
        raise NotFound("No ballot has this receipt in this election.")
    return proof
