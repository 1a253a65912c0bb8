"""Initiatives in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from polis.initiatives.models import (
    ANSWER_MAX,
    COMMENT_MAX,
    DESCRIPTION_MAX,
    TARGET_MAX,
    TITLE_MAX,
    InitiativeCategory,
    InitiativeScope,
    InitiativeStatus,
)
from polis.units.models import UnitLevel
from polis.users.schemas import PersonRef


def no_nul(value: str) -> str:
    """Refuse NUL characters: PostgreSQL cannot store them in text, so they would otherwise
    reach the database and fail there (a 500) instead of being a 422 here."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text a member writes: trimmed (a title of blanks is no title), never a NUL.
Text = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(no_nul)]


class InitiativeIn(BaseModel):
    title: Text = Field(min_length=3, max_length=TITLE_MAX)
    description: Text = Field(min_length=10, max_length=DESCRIPTION_MAX)
    category: InitiativeCategory
    scope_type: InitiativeScope
    # The unit of that level; leave it out for a national initiative.
    scope_id: uuid.UUID | None = None
    # At least the scope's minimum (a rule, checked by the service: 422/3051).
    target_support: int = Field(ge=1, le=TARGET_MAX)
    draft: bool = False


class InitiativePatchIn(BaseModel):
    """Only the fields sent change. Scope cannot change: start a new initiative instead."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(default=None, min_length=3, max_length=TITLE_MAX)
    description: Text | None = Field(default=None, min_length=10, max_length=DESCRIPTION_MAX)
    category: InitiativeCategory | None = None
    target_support: int | None = Field(default=None, ge=1, le=TARGET_MAX)


class SupportIn(BaseModel):
    comment: Text | None = Field(default=None, max_length=COMMENT_MAX)
    # Show my name in the supporters list (the count is always public).
    public: bool = False


class AssignIn(BaseModel):
    assignee_id: uuid.UUID


class CompleteIn(BaseModel):
    outcome: Text = Field(min_length=3, max_length=ANSWER_MAX)


class RejectIn(BaseModel):
    reason: Text = Field(min_length=3, max_length=ANSWER_MAX)


class ScopeRef(BaseModel):
    type: InitiativeScope
    id: uuid.UUID | None
    name: str | None


class InitiativeOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    category: InitiativeCategory
    scope_type: InitiativeScope
    scope_id: uuid.UUID | None
    scope: ScopeRef
    status: InitiativeStatus
    target_support: int
    current_support: int
    progress_percentage: float
    creator: PersonRef
    supported_by_me: bool
    assignee: PersonRef | None
    assigned_level: UnitLevel | None
    assigned_unit_id: uuid.UUID | None
    assigned_at: datetime | None
    answer_due_at: datetime | None
    reassign_count: int
    published_at: datetime | None
    achieved_at: datetime | None
    answered_at: datetime | None
    outcome: str | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime


class SupporterOut(BaseModel):
    id: uuid.UUID
    display_name: str
    comment: str | None
    supported_at: datetime
