"""endorsement_fraud cases and guarantors: arbitration working with the endorsements domain."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration.models import ArbitrationCase, CaseStatus
from polis.config import Settings
from polis.endorsements.models import Endorsement, EndorsementStatus
from polis.kit import clock
from tests.arbitration.helpers import CASES, arb_client, auth, case_body, make_admin, tree


async def _endorse(
    session: AsyncSession, supporter: uuid.UUID, guarantor: uuid.UUID
) -> Endorsement:
    now = clock.now()
    endorsement = Endorsement(
        requester_id=supporter,
        geder_id=guarantor,
        status=EndorsementStatus.APPROVED,
        requested_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=6),
        decided_at=now,
    )
    session.add(endorsement)
    await session.flush()
    return endorsement


async def test_a_guarantor_never_arbitrates(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session)
    plaintiff, defendant = t.members[1][3], t.members[2][4]
    # The ormotsdaatistavi vouched for the plaintiff: the case goes to the aseuli.
    await _endorse(db_session, plaintiff, t.ormo_leader(0))
    admin = await make_admin(db_session, t.members[8][8])
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES, json=case_body(defendant), headers=auth(settings, plaintiff)
        )
        refused = await http.post(
            f"{CASES}/{answer.json()['data']['id']}/assign",
            json={"arbitrator_id": str(t.ormo_leader(0))},
            headers=auth(settings, admin.id),
        )
    assert answer.json()["data"]["arbitrator"]["id"] == str(t.aseuli_leader)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, 3023)


async def test_confirmed_fraud_applies_the_penalty(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    plaintiff, guarantor, supporter = t.members[1][3], t.members[2][4], t.members[3][5]
    ormo = t.ormo_leader(0)
    endorsement = await _endorse(db_session, supporter, guarantor)
    body = case_body(guarantor, type="endorsement_fraud", supporter_id=str(supporter))
    async with arb_client(settings, db_session) as http:
        filed = await http.post(CASES, json=body, headers=auth(settings, plaintiff))
        url = f"{CASES}/{filed.json()['data']['id']}"
        await http.post(f"{url}/start", headers=auth(settings, ormo))
        missing = await http.post(
            f"{url}/resolve", json={"resolution": "x"}, headers=auth(settings, ormo)
        )
        confirmed = await http.post(
            f"{url}/resolve",
            json={"resolution": "A fake person.", "fraud_confirmed": True},
            headers=auth(settings, ormo),
        )
    assert filed.status_code == 201, filed.text
    assert filed.json()["data"]["endorsement_id"] == str(endorsement.id)
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, 2001)
    assert confirmed.json()["data"]["fraud_confirmed"] is True
    case = await db_session.get_one(
        ArbitrationCase, uuid.UUID(filed.json()["data"]["id"]), populate_existing=True
    )
    assert case.status is CaseStatus.RESOLVED
    await db_session.refresh(endorsement)
    assert endorsement.penalty is True
    assert endorsement.penalty_case_id == case.id
    assert endorsement.status is EndorsementStatus.REVOKED
