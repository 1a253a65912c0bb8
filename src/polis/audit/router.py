"""The admins' view of the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from polis.audit import service
from polis.audit.models import ACTION_MAX, ENTITY_ID_MAX, ENTITY_TYPE_MAX
from polis.audit.schemas import AuditLogOut
from polis.auth.deps import AdminUser
from polis.kit.deps import DbSession
from polis.kit.envelope import ERROR_RESPONSES, ListEnvelope
from polis.kit.pagination import Pagination, paginated
from polis.kit.routing import DomainRouter

router = DomainRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/audit-logs", response_model=ListEnvelope[AuditLogOut], summary="Audit log")
async def audit_logs(
    _: AdminUser,
    session: DbSession,
    params: Pagination,
    actor_id: Annotated[uuid.UUID | None, Query()] = None,
    entity_type: Annotated[str | None, Query(max_length=ENTITY_TYPE_MAX)] = None,
    entity_id: Annotated[str | None, Query(max_length=ENTITY_ID_MAX)] = None,
    action: Annotated[str | None, Query(max_length=ACTION_MAX)] = None,
    created_after: Annotated[
        datetime | None, Query(description="inclusive; a time without a zone is UTC")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="exclusive; a time without a zone is UTC")
    ] = None,
) -> ListEnvelope[AuditLogOut]:
    """Newest first; ``sort_by`` accepts ``created_at``. Every filter given must match."""
    filters = service.AuditFilters(
        actor_id=actor_id,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        created_after=created_after,
        created_before=created_before,
    )
    page = await service.search(session, filters, params)
    items = [AuditLogOut.model_validate(entry) for entry in page.items]
    return paginated(items, page.total, params)
