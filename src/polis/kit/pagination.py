"""Pagination for list endpoints: ``page``, ``per_page`` (≤ 100), ``sort_by``, ``sort_order``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from polis.kit.envelope import ListEnvelope, ListMeta, make_meta
from polis.kit.errors import ErrorCode, ValidationFailed

T = TypeVar("T")

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    per_page: int = 20
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] = "desc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


async def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="items per page")] = 20,
    sort_by: Annotated[str | None, Query(max_length=64)] = None,
    sort_order: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> PageParams:
    return PageParams(page=page, per_page=per_page, sort_by=sort_by, sort_order=sort_order)


Pagination = Annotated[PageParams, Depends(_page_params)]


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int
    params: PageParams


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    params: PageParams,
    *,
    sortable: Mapping[str, ColumnElement[Any] | InstrumentedAttribute[Any]],
    default_sort: str,
) -> Page:
    """Run ``statement`` for one page, sorted by an allowed column, and count the whole set."""
    sort_key = params.sort_by or default_sort
    column = sortable.get(sort_key)
    if column is None:
        raise ValidationFailed(
            f"sort_by must be one of: {', '.join(sorted(sortable))}",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "sort_by", "allowed": sorted(sortable)},
        )
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    direction = column.asc() if params.sort_order == "asc" else column.desc()
    ordered = statement.order_by(direction, *_tiebreaker(statement, params))
    rows = (await session.scalars(ordered.offset(params.offset).limit(params.per_page))).all()
    return Page(items=rows, total=int(total or 0), params=params)


def _tiebreaker(statement: Select[Any], params: PageParams) -> list[ColumnElement[Any]]:
    # Rows with equal sort keys would otherwise move between pages from one query to the next.
    entity = (
        statement.column_descriptions[0].get("entity") if statement.column_descriptions else None
    )
    key = getattr(entity, "id", None)
    if key is None:
        return []
    return [key.asc() if params.sort_order == "asc" else key.desc()]


def list_meta(total: int, params: PageParams) -> ListMeta:
    total_pages = math.ceil(total / params.per_page) if total else 0
    base = make_meta()
    return ListMeta(
        timestamp=base.timestamp,
        request_id=base.request_id,
        total=total,
        page=params.page,
        per_page=params.per_page,
        total_pages=total_pages,
        has_next=params.page < total_pages,
        has_prev=params.page > 1,
    )


def paginated(items: list[T], total: int, params: PageParams) -> ListEnvelope[T]:
    """Wrap one page of ``items`` in the list envelope."""
    return ListEnvelope[T](data=items, meta=list_meta(total, params))
