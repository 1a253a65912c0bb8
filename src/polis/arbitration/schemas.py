"""Arbitration cases in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from polis.arbitration.models import REASON_MAX, TEXT_MAX, TITLE_MAX, CaseStatus, CaseType
from polis.units.models import UnitLevel
from polis.users.schemas import PersonRef


class FileCaseIn(BaseModel):
    defendant_id: uuid.UUID
    title: str = Field(min_length=3, max_length=TITLE_MAX)
    description: str = Field(min_length=1, max_length=TEXT_MAX)
    type: CaseType
    # endorsement_fraud only (and required there): the supporter the defendant endorsed.
    supporter_id: uuid.UUID | None = None


class AssignIn(BaseModel):
    arbitrator_id: uuid.UUID


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=TEXT_MAX)
    # Required for endorsement_fraud, refused for the other types.
    fraud_confirmed: bool | None = None


class AppealIn(BaseModel):
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class DecisionOut(BaseModel):
    round: int
    arbitrator: PersonRef | None
    level: UnitLevel | None  # null: decided by an admin
    unit_id: uuid.UUID | None
    resolution: str
    fraud_confirmed: bool | None
    decided_at: datetime
    appealed_at: datetime | None
    appealed_by_id: uuid.UUID | None
    appeal_reason: str | None


class CaseOut(BaseModel):
    id: uuid.UUID
    number: str
    type: CaseType
    status: CaseStatus
    title: str
    description: str
    plaintiff: PersonRef
    defendant: PersonRef
    arbitrator: PersonRef | None
    # Where the arbitrator sits: a unit they lead, or null for an admin (or nobody yet).
    level: UnitLevel | None
    unit_id: uuid.UUID | None
    # The lowest level that may decide the current round.
    min_level: UnitLevel
    endorsement_id: uuid.UUID | None
    resolution: str | None
    fraud_confirmed: bool | None
    resolved_at: datetime | None
    appeal_deadline: datetime | None
    # Whether the current decision can still go up: not at ataseuli level, not by an admin.
    appealable: bool
    appeal_count: int
    decisions: list[DecisionOut]
    created_at: datetime
    updated_at: datetime
