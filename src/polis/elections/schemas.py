"""Elections in and out of the API. The shapes of ballots, results and receipts are what
``polis.elections.verify`` (and any third-party verifier) reads: change them with it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from polis.elections.models import (
    DESCRIPTION_MAX,
    STATEMENT_MAX,
    TITLE_MAX,
    ElectionScope,
    ElectionStatus,
    ElectionType,
)


class ElectionIn(BaseModel):
    election_type: ElectionType
    scope_type: ElectionScope
    scope_id: uuid.UUID | None = None
    title: str = Field(min_length=3, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class CandidacyIn(BaseModel):
    statement: str | None = Field(default=None, max_length=STATEMENT_MAX)


class VoteIn(BaseModel):
    candidate_id: uuid.UUID = Field(description="The candidate's `id` from the candidates list")


class ElectionOut(BaseModel):
    id: uuid.UUID
    election_type: ElectionType
    scope_type: ElectionScope
    scope_id: uuid.UUID | None
    title: str
    description: str | None
    status: ElectionStatus
    starts_at: datetime
    ends_at: datetime
    nominations_extended: bool
    runoff_of_id: uuid.UUID | None
    is_automatic: bool
    candidate_count: int
    total_votes: int
    created_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None
    finalized_at: datetime | None
    merkle_root: str | None
    winner_candidate_id: uuid.UUID | None
    outcome_note: str | None


class MyElectionOut(ElectionOut):
    may_vote: bool
    may_stand: bool
    has_voted: bool


class CandidateOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    statement: str | None
    registered_at: datetime


class VoteOut(BaseModel):
    election_id: uuid.UUID
    vote_hash: str = Field(description="Your receipt: keep it to check your ballot later")
    cast_at: datetime


class VoteAnswer(BaseModel):
    vote: VoteOut


class BallotOut(BaseModel):
    vote_hash: str
    candidate_id: uuid.UUID


class BallotsOut(BaseModel):
    election_id: uuid.UUID
    ballots: list[BallotOut]
    merkle_root: str
    tree_size: int


class CandidateRef(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str


class ResultRow(BaseModel):
    candidate: CandidateRef
    vote_count: int
    percentage: float
    is_winner: bool


class ResultsElection(BaseModel):
    id: uuid.UUID
    title: str
    election_type: ElectionType
    status: ElectionStatus
    starts_at: datetime
    ends_at: datetime
    total_votes: int
    eligible_voters: int
    turnout: float
    finalized_at: datetime | None
    runoff_of_id: uuid.UUID | None
    outcome_note: str | None


class ResultsOut(BaseModel):
    election: ResultsElection
    results: list[ResultRow]
    merkle_root: str | None


class ReceiptOut(BaseModel):
    candidate_id: uuid.UUID
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    merkle_root: str
