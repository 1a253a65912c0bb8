"""HTTP for elections: ``/elections``. Ballots, results and receipt proofs are public: anyone
may check a tally (docs/verification.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query, Request, Response

from polis.auth.deps import AdminUser, AuthenticatedUser, Claims
from polis.elections import base, casting, presenters, queries, service, tally
from polis.elections.models import ElectionScope, ElectionStatus, ElectionType
from polis.elections.schemas import (
    BallotsOut,
    CandidacyIn,
    CandidateOut,
    ElectionIn,
    ElectionOut,
    MyElectionOut,
    ReceiptOut,
    ResultsOut,
    VoteAnswer,
    VoteIn,
)
from polis.kit.cache import cached_answer
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import Pagination, paginated
from polis.kit.routing import DomainRouter, errors

router = DomainRouter(prefix="/elections", tags=["elections"])

CACHE_NAMESPACE = "elections"
# §3.4: results at most 5 minutes old while voting runs; a completed election never changes.
LIVE_TTL = 5 * 60
FINAL_TTL = 7 * 24 * 60 * 60

VoteHash = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="a receipt (vote_hash)")]


@router.get("", response_model=ListEnvelope[ElectionOut], summary="Elections")
async def list_elections(
    _: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    election_type: ElectionType | None = None,
    status: Annotated[ElectionStatus | None, Query(description="as of now, by the clock")] = None,
    scope_type: ElectionScope | None = None,
    scope_id: uuid.UUID | None = None,
) -> ListEnvelope[ElectionOut]:
    filters = queries.ElectionFilters(
        election_type=election_type, status=status, scope_type=scope_type, scope_id=scope_id
    )
    page = await queries.list_elections(session, filters, params)
    return paginated(await presenters.elections_out(session, page.items), page.total, params)


@router.post(
    "",
    response_model=Envelope[ElectionOut],
    status_code=201,
    summary="Create an election with explicit times (admins); nominations open at once",
)
@errors(
    ErrorCode.INVALID_HIERARCHY_LEVEL,
    ErrorCode.ELECTION_ALREADY_OPEN,
    ErrorCode.INVALID_ELECTION_PERIOD,
    ErrorCode.NOT_FOUND,
)
async def create_election(
    body: ElectionIn, admin: AdminUser, session: DbSession
) -> Envelope[ElectionOut]:
    election = await service.create_election(
        session,
        admin,
        service.NewElection(
            election_type=body.election_type,
            scope_type=body.scope_type,
            scope_id=body.scope_id,
            title=body.title,
            description=body.description,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        ),
    )
    return ok(await presenters.election_out(session, election))


@router.get(
    "/my-elections",
    response_model=ListEnvelope[MyElectionOut],
    summary="Scheduled and active elections I may vote or stand in",
)
async def my_elections(
    user: AuthenticatedUser, session: DbSession, params: Pagination
) -> ListEnvelope[MyElectionOut]:
    items = await presenters.my_elections_out(session, await queries.my_elections(session, user))
    page = items[params.offset : params.offset + params.per_page]
    return paginated(page, len(items), params)


@router.get("/{election_id}", response_model=Envelope[ElectionOut], summary="One election")
@errors(ErrorCode.NOT_FOUND)
async def get_election(
    election_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Envelope[ElectionOut]:
    election = await queries.get_election(session, election_id)
    return ok(await presenters.election_out(session, election))


@router.post(
    "/{election_id}/cancel",
    response_model=Envelope[ElectionOut],
    summary="Cancel a scheduled or active election (admins)",
)
@errors(ErrorCode.ELECTION_FINISHED, ErrorCode.NOT_FOUND)
async def cancel_election(
    election_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> Envelope[ElectionOut]:
    election = await service.cancel_election(
        session, election_id, actor=admin, reason="cancelled by an admin"
    )
    return ok(await presenters.election_out(session, election))


@router.get(
    "/{election_id}/candidates",
    response_model=ListEnvelope[CandidateOut],
    summary="The candidates, in the order they registered",
)
async def candidates(
    election_id: uuid.UUID, _: AuthenticatedUser, session: DbSession, params: Pagination
) -> ListEnvelope[CandidateOut]:
    await queries.get_election(session, election_id)
    rows = await base.candidates_of(session, election_id)
    items = [presenters.candidate_out(candidate, user) for candidate, user in rows]
    return paginated(items[params.offset : params.offset + params.per_page], len(items), params)


@router.post(
    "/{election_id}/register-candidate",
    response_model=Envelope[CandidateOut],
    status_code=201,
    summary="Stand as a candidate (while nominations are open)",
)
@errors(
    ErrorCode.ELECTION_NOT_ACTIVE,
    ErrorCode.NOT_ELIGIBLE_CANDIDATE,
    ErrorCode.ALREADY_A_CANDIDATE,
    ErrorCode.NOT_FOUND,
)
async def register_candidate(
    election_id: uuid.UUID, body: CandidacyIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[CandidateOut]:
    candidate = await service.register_candidate(session, user, election_id, body.statement)
    return ok(presenters.candidate_out(candidate, user))


@router.delete(
    "/{election_id}/candidacy",
    response_model=Envelope[None],
    summary="Withdraw my candidacy (while nominations are open)",
)
@errors(ErrorCode.ELECTION_NOT_ACTIVE, ErrorCode.NOT_FOUND)
async def withdraw(
    election_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[None]:
    await service.withdraw(session, user, election_id)
    return ok(None)


@router.post(
    "/{election_id}/vote",
    response_model=Envelope[VoteAnswer],
    summary="Cast my vote; the answer carries my receipt",
    description=(
        "3002 already voted, 3003 not voting now, 3004 not in the electorate, 4001 unknown "
        "candidate. Accepts Idempotency-Key."
    ),
)
@errors(
    ErrorCode.ALREADY_VOTED,
    ErrorCode.ELECTION_NOT_ACTIVE,
    ErrorCode.NOT_ELIGIBLE,
    ErrorCode.NOT_FOUND,
)
async def vote(
    election_id: uuid.UUID,
    body: VoteIn,
    claims: Claims,
    session: DbSession,
    _: IdempotencyKey,
) -> Envelope[VoteAnswer]:
    # The token's claims are enough here: the vote reads the voter's standing in the same
    # statement as the election, instead of loading the member first (docs/elections.md).
    cast = await casting.cast_vote(session, claims.user_id, election_id, body.candidate_id)
    return ok(presenters.vote_answer(cast))


@router.get(
    "/{election_id}/results",
    response_model=Envelope[ResultsOut],
    summary="Counts, percentages, turnout and the winner (public)",
    description=(
        "Cached with ETag: 5 minutes while voting runs, 7 days once completed. The first read "
        "after voting ends finalises the election if the worker has not yet."
    ),
)
async def results(request: Request, election_id: uuid.UUID, session: DbSession) -> Response:
    election = await queries.get_election(session, election_id)
    if tally.needs_finalising(election):
        await tally.finalize(session, election.id)
        election = await queries.get_election(session, election_id)
        if election.finalized_at is not None:
            # Just finalised in this request's transaction: answer uncached, so no cache
            # entry can outlive a rollback.
            answer = presenters.results_out(await tally.results(session, election))
            return Response(
                content=ok(answer).model_dump_json().encode(),
                media_type="application/json",
                headers={"Cache-Control": "no-store"},
            )
    status = base.status_of(election)
    final = election.finalized_at is not None or status is ElectionStatus.CANCELLED
    ttl = FINAL_TTL if final else LIVE_TTL

    async def produce() -> ResultsOut:
        return presenters.results_out(await tally.results(session, election))

    phase = "final" if election.finalized_at is not None else status.value
    return await cached_answer(
        request, CACHE_NAMESPACE, f"results:{election.id}:{phase}", ttl, produce
    )


@router.get(
    "/{election_id}/ballots",
    response_model=Envelope[BallotsOut],
    summary="Every ballot (receipt, candidate) sorted by receipt, with the Merkle root (public)",
    description="Only once completed (3003 before). Cached 7 days with ETag.",
)
@errors(ErrorCode.ELECTION_NOT_ACTIVE)
async def ballots(request: Request, election_id: uuid.UUID, session: DbSession) -> Response:
    election = await queries.get_election(session, election_id)

    async def produce() -> BallotsOut:
        return presenters.ballots_out(await casting.published_ballots(session, election))

    # produce() raises 3003 before completion, so nothing is cached until the list is final.
    return await cached_answer(
        request, CACHE_NAMESPACE, f"ballots:{election.id}", FINAL_TTL, produce
    )


@router.get(
    "/{election_id}/receipts/{vote_hash}",
    response_model=Envelope[ReceiptOut],
    summary="The inclusion proof of a receipt (public)",
    description="Only once completed (3003 before); 404/4001 for an unknown receipt.",
)
@errors(ErrorCode.ELECTION_NOT_ACTIVE, ErrorCode.NOT_FOUND)
async def receipt(
    request: Request, election_id: uuid.UUID, vote_hash: VoteHash, session: DbSession
) -> Response:
    election = await queries.get_election(session, election_id)

    async def produce() -> ReceiptOut:
        # 3003 before completion and 404 for an unknown receipt propagate: never cached.
        return presenters.receipt_out(await casting.receipt_of(session, election, vote_hash))

    return await cached_answer(
        request, CACHE_NAMESPACE, f"receipt:{election.id}:{vote_hash}", FINAL_TTL, produce
    )
