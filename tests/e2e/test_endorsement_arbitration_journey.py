"""Endorsement, fraud case, appeal and penalty, through one real `polis dev` and its demo society.

Everything goes over HTTP to the real API process, with the real worker delivering the login
codes to the development SMS outbox. The cast (demo numbering of ``polis.admin.demo_society``,
checked against the API as the journey goes):

- the **new member** (+995555907711, a number outside the demo block): logs in, onboards
  without a GeD number in Saburtalo district 1 (``GE-TB-03-D1``, found by
  ``GET /territories?search=``), where the demo grew its only ormotsdaateuli; asks a GeDer
  found through ``available-geders``, is approved, becomes a ``supporter`` and joins an ateuli
  with space in the district. The demo's only such ateuli there (Bakhtrioni Street, forming)
  is attached to no ormotsdaateuli (only active, led ateulis grow one), so the supporter
  cannot file a case themselves: arbitration needs an active ateuli under a led ormotsdaateuli.
- the **GeDer** (demo member 002, +995599000002, of Vazha-Pshavela Neighbours, one of the five
  led ateulis under the ormotsdaateuli): the tavdebi and the defendant.
- the **plaintiff** (demo member 012, +995599000012, of Saburtalo Students, another of the
  five): arbitration is unlocked for them (checked via ``unlocked-capabilities``).
- the **first arbitrator**: derived from ``GET /hierarchy/my-position`` of both parties (the
  lowest shared unit at ormotsdaateuli level or above whose leader is neither a party nor a
  party's tavdebi): the ormotsdaatistavi, demo member 001 (+995599000001), whose id is checked
  against the hierarchy's leader after logging in.
- the **appeal arbitrator**: the next shared unit above, with the same rule; the demo has no
  aseuli (one ormotsdaateuli cannot grow one), so it is the admin fallback, the demo admin
  (+995500000001), who logs in first so that an admin exists when the appeal is assigned.

What it proves: a supporter finds a GeDer, requests, is approved, joins an ateuli; a fraud
case is filed, assigned to the right leader, decided (not confirmed), appealed, reassigned one
level up (the admin), decided again (confirmed); the penalty is visible through the API (the
supporter is ``unverified`` and out of the ateuli, the endorsement is revoked with the penalty
flag, the GeDer is suspended and no longer offered, the audit log holds every step).
"""

from __future__ import annotations

import re
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from polis.admin.demo_society import PHONE_PREFIX
from polis.config import DEMO_ADMIN_PHONE
from tests.e2e.harness import DevRun

NEW_MEMBER_PHONE = "+995555907711"
NEW_MEMBER_PERSONAL_ID = "01024077711"
ORMOTSDAATISTAVI_PHONE = f"{PHONE_PREFIX}001"  # founder of the first led ateuli
GEDER_PHONE = f"{PHONE_PREFIX}002"  # Vazha-Pshavela Neighbours, a GeDer (2 % 3 != 0)
PLAINTIFF_PHONE = f"{PHONE_PREFIX}012"  # Saburtalo Students
DISTRICT_CODE = "GE-TB-03-D1"  # Saburtalo district 1
LEVELS = ("ateuli", "ormotsdaateuli", "aseuli", "ataseuli")
OUTBOX_WAIT_SECONDS = 60.0


@dataclass
class Member:
    label: str
    phone: str
    id: str
    auth: dict[str, str]
    me: dict[str, Any]


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, "
        f"got {response.status_code}: {response.text}"
    )
    return response.json()["data"]


def _code_from_outbox(http: httpx.Client, phone: str) -> str:
    """The newest code sent to ``phone``; polls with a growing pause (the anonymous tier is
    rate limited per address, and the worker delivers within a moment)."""
    deadline = time.monotonic() + OUTBOX_WAIT_SECONDS
    pause = 0.2
    while time.monotonic() < deadline:
        messages = _data(http.get("/api/v1/dev/sms-outbox", params={"phone_number": phone}))
        if messages:
            match = re.search(r"\b(\d{6})\b", messages[0]["text"])
            assert match, messages[0]
            return match.group(1)
        time.sleep(pause)  # the worker process is delivering the SMS
        pause = min(pause * 2, 2.0)
    raise AssertionError(f"no code for {phone[-3:]} reached the development outbox")


def _login(http: httpx.Client, label: str, phone: str, *, new: bool | None) -> Member:
    """One login per person (a different phone each time: no OTP cooldown is hit)."""
    sent = _data(http.post("/api/v1/auth/send-verification-code", json={"phone_number": phone}))
    code = _code_from_outbox(http, phone)
    login = _data(
        http.post(
            "/api/v1/auth/verify-phone",
            json={
                "verification_id": sent["verification_id"],
                "code": code,
                "device_fingerprint": {
                    "fingerprint_hash": (phone[-9:] * 8)[:64],
                    "device_type": "android",
                    "device_model": "Pixel 8",
                    "os_version": "15",
                    "app_version": "1.0.0",
                },
            },
        )
    )
    if new is not None:
        assert login["is_new_user"] is new, f"{label}: is_new_user should be {new}"
    auth = {"Authorization": f"Bearer {login['access_token']}"}
    me = _data(http.get("/api/v1/users/me", headers=auth))
    return Member(label=label, phone=phone, id=me["id"], auth=auth, me=me)


def _me(http: httpx.Client, member: Member) -> dict[str, Any]:
    me: dict[str, Any] = _data(http.get("/api/v1/users/me", headers=member.auth))
    return me


def _status(http: httpx.Client, member: Member) -> dict[str, Any]:
    status: dict[str, Any] = _data(http.get("/api/v1/endorsements/my-status", headers=member.auth))
    return status


def _path(http: httpx.Client, member: Member) -> list[dict[str, Any]]:
    position = _data(http.get("/api/v1/hierarchy/my-position", headers=member.auth))
    path: list[dict[str, Any]] = position["path"]
    return path


def _expected_arbitrator(
    plaintiff_path: list[dict[str, Any]],
    defendant_path: list[dict[str, Any]],
    excluded: set[str],
    above: str | None,
) -> dict[str, Any] | None:
    """§3.7 from the hierarchy as the API shows it: the lowest unit holding both parties, at
    ormotsdaateuli level or above (strictly above ``above`` when given), whose leader is neither
    a party nor a party's tavdebi. None: nobody, the admin fallback."""
    shared = {unit["id"] for unit in defendant_path}
    floor = LEVELS.index(above) + 1 if above else LEVELS.index("ormotsdaateuli")
    for unit in plaintiff_path:  # bottom up
        if unit["id"] not in shared or LEVELS.index(unit["level"]) < floor:
            continue
        leader = unit["leader"]
        if leader is not None and leader["id"] not in excluded:
            return unit
    return None


def _audit_actions(
    http: httpx.Client, admin: Member, entity_type: str, entity_id: str
) -> list[str]:
    entries = _data(
        http.get(
            "/api/v1/admin/audit-logs",
            headers=admin.auth,
            params={"entity_type": entity_type, "entity_id": entity_id, "per_page": 100},
        )
    )
    return [entry["action"] for entry in entries]


@pytest.mark.slow
def test_a_fraudulent_endorsement_is_found_out_on_appeal(tmp_path: Path) -> None:
    run = DevRun(tmp_path / "data", tmp_path / "polis.log")
    try:
        run.wait_healthy()
        with httpx.Client(base_url=run.base, timeout=15) as http:
            _journey(http)
    finally:
        assert run.stop(signal.SIGINT) == 0, run.output()[-4000:]


def _journey(http: httpx.Client) -> None:
    # The admin logs in first: the appeal's fallback needs an admin to exist.
    admin = _login(http, "admin", DEMO_ADMIN_PHONE, new=None)
    assert admin.me["is_admin"] is True, "the demo admin is a bootstrap admin of polis dev"

    # --- 1. the new member, onboarded without a GeD number in Saburtalo district 1 ----------
    supporter = _login(http, "new member", NEW_MEMBER_PHONE, new=True)
    found = _data(
        http.get("/api/v1/territories", headers=supporter.auth, params={"search": DISTRICT_CODE})
    )
    districts = [t for t in found if t["code"] == DISTRICT_CODE]
    assert len(districts) == 1, f"the shipped map should hold {DISTRICT_CODE}: {found}"
    district_id = districts[0]["id"]
    onboarded = _data(
        http.post(
            "/api/v1/users/me/complete-onboarding",
            headers=supporter.auth,
            json={
                "personal_id": NEW_MEMBER_PERSONAL_ID,
                "status": "active",
                "motivation": "I want my neighbours in Saburtalo to decide for themselves.",
                "constitution_agreed": True,
                "is_diaspora": False,
                "territory_id": district_id,
                "first_name": "Tamta",
                "last_name": "Vashakidze",
            },
        )
    )
    assert onboarded["user"]["role"] == "unverified", "no GeD number: not verified yet"

    # The grown ormotsdaateuli of the district and its leader, as the hierarchy shows them.
    ormos = _data(
        http.get(
            "/api/v1/hierarchy/ormotsdaateulis",
            headers=supporter.auth,
            params={"territory_id": district_id, "status": "active"},
        )
    )
    led = [unit for unit in ormos if unit["leader"] is not None]
    assert led, f"the demo should have grown a led ormotsdaateuli in {DISTRICT_CODE}: {ormos}"
    ormo = led[0]

    geder = _login(http, "GeDer", GEDER_PHONE, new=False)
    assert geder.me["role"] == "geder", geder.me
    assert geder.me["territory"]["id"] == district_id, "the GeDer lives in the same district"
    geder_path = _path(http, geder)
    assert ormo["id"] in {u["id"] for u in geder_path}, "the GeDer's ateuli is under the ormo"

    # The new member finds that GeDer among the ones who may vouch for them.
    offered = _data(
        http.get(
            "/api/v1/endorsements/available-geders",
            headers=supporter.auth,
            params={"search": geder.me["last_name"]},
        )
    )
    row = next((g for g in offered if g["id"] == geder.id), None)
    assert row is not None, f"the GeDer should be offered: {offered}"
    assert row["available_slots"] > 0
    assert row["ateuli"] is not None
    assert row["territory_id"] == district_id

    requested = _data(
        http.post(
            "/api/v1/endorsements/request",
            headers={**supporter.auth, "Idempotency-Key": str(uuid.uuid4())},
            json={"geder_id": geder.id, "message": "We met at the Saburtalo assembly."},
        ),
        201,
    )
    endorsement_id = requested["id"]
    assert requested["status"] == "pending"
    assert _status(http, supporter)["pending_request_id"] == endorsement_id

    pending = _data(http.get("/api/v1/endorsements/pending-approvals", headers=geder.auth))
    assert endorsement_id in {e["id"] for e in pending}, f"the GeDer should see it: {pending}"
    approved = _data(
        http.post(f"/api/v1/endorsements/{endorsement_id}/approve", headers=geder.auth)
    )
    assert approved["status"] == "approved"

    assert _me(http, supporter)["role"] == "supporter", "approval makes the member a supporter"
    supporter_status = _status(http, supporter)
    assert supporter_status["tavdebi"] is not None
    assert supporter_status["tavdebi"]["id"] == geder.id
    assert supporter_status["pending_request_id"] is None

    # Join an ateuli of the district with space: one under the ormotsdaateuli if any exists.
    open_ateulis = _data(
        http.get(
            "/api/v1/ateulis",
            headers=supporter.auth,
            params={"territory_id": district_id, "has_space": "true", "per_page": 100},
        )
    )
    assert open_ateulis, f"the demo should have an ateuli with space in {DISTRICT_CODE}"
    under_ormo = [a for a in open_ateulis if a["parent_id"] == ormo["id"]]
    forming = [a for a in open_ateulis if a["status"] == "forming"]
    ateuli = (under_ormo or forming or open_ateulis)[0]
    joined = _data(http.post(f"/api/v1/ateulis/{ateuli['id']}/join", headers=supporter.auth))
    assert joined["member_count"] == ateuli["member_count"] + 1
    assert _me(http, supporter)["unit"]["id"] == ateuli["id"]

    # --- 2. the fraud case ------------------------------------------------------------------
    plaintiff = _login(http, "plaintiff", PLAINTIFF_PHONE, new=False)
    assert plaintiff.id not in {geder.id, supporter.id}
    capabilities = _data(
        http.get("/api/v1/gamification/unlocked-capabilities", headers=plaintiff.auth)
    )
    arbitration = [c for c in capabilities["capabilities"] if c["code"] == "arbitration"]
    assert arbitration and arbitration[0]["unlocked"], f"arbitration locked: {capabilities}"
    plaintiff_path = _path(http, plaintiff)

    # Nobody may arbitrate who is a party or a party's tavdebi.
    excluded = {plaintiff.id, geder.id}
    for party in (plaintiff, geder):
        tavdebi = _status(http, party)["tavdebi"]
        if tavdebi is not None:
            excluded.add(tavdebi["id"])
    first_seat = _expected_arbitrator(plaintiff_path, geder_path, excluded, above=None)
    assert first_seat is not None, "a led ormotsdaateuli holds both parties"
    assert first_seat["id"] == ormo["id"], "the lowest shared unit is the ormotsdaateuli"

    filed = _data(
        http.post(
            "/api/v1/arbitration/cases",
            headers=plaintiff.auth,
            json={
                "defendant_id": geder.id,
                "title": "A supporter vouched for without knowing them",
                "description": "The GeDer endorsed a person they had never met.",
                "type": "endorsement_fraud",
                "supporter_id": supporter.id,
            },
        ),
        201,
    )
    case_id = filed["id"]
    assert re.fullmatch(r"ARB-\d{4}-\d{6}", filed["number"]), filed["number"]
    assert filed["endorsement_id"] == endorsement_id
    assert filed["status"] == "assigned", filed
    assert filed["arbitrator"]["id"] == first_seat["leader"]["id"], (
        f"the case should go to the ormotsdaatistavi {first_seat['leader']}: {filed}"
    )
    assert (filed["level"], filed["unit_id"]) == ("ormotsdaateuli", ormo["id"])

    arbitrator = _login(http, "ormotsdaatistavi", ORMOTSDAATISTAVI_PHONE, new=False)
    assert arbitrator.id == first_seat["leader"]["id"], (
        "demo member 001 should be the ormotsdaatistavi the hierarchy shows"
    )
    assigned = _data(http.get("/api/v1/arbitration/assigned-to-me", headers=arbitrator.auth))
    assert case_id in {c["id"] for c in assigned}
    started = _data(
        http.post(f"/api/v1/arbitration/cases/{case_id}/start", headers=arbitrator.auth)
    )
    assert started["status"] == "in_progress"
    first = _data(
        http.post(
            f"/api/v1/arbitration/cases/{case_id}/resolve",
            headers=arbitrator.auth,
            json={"resolution": "Not proven: they had met.", "fraud_confirmed": False},
        )
    )
    assert (first["status"], first["fraud_confirmed"], first["appealable"]) == (
        "resolved",
        False,
        True,
    ), first
    assert _me(http, supporter)["role"] == "supporter", "no penalty while fraud is not confirmed"

    # The appeal goes one level up, or to the admin when no higher unit holds both parties.
    second_seat = _expected_arbitrator(
        plaintiff_path, geder_path, excluded | {arbitrator.id}, above=first["level"]
    )
    appealed = _data(
        http.post(
            f"/api/v1/arbitration/cases/{case_id}/appeal",
            headers=plaintiff.auth,
            json={"reason": "The supporter has never lived in Saburtalo."},
        )
    )
    assert appealed["status"] == "appealed", appealed
    assert appealed["min_level"] == "aseuli"
    assert appealed["appeal_count"] == 1
    if second_seat is None:
        second = admin
        assert appealed["arbitrator"]["id"] == admin.id, f"admin fallback expected: {appealed}"
        assert appealed["level"] is None and appealed["unit_id"] is None
    else:  # a higher unit exists; its leader is not one of the cast this test can log in as
        pytest.fail(
            f"an appeal arbitrator above the ormotsdaateuli was not expected: {second_seat}"
        )

    _data(http.post(f"/api/v1/arbitration/cases/{case_id}/start", headers=second.auth))
    decided = _data(
        http.post(
            f"/api/v1/arbitration/cases/{case_id}/resolve",
            headers=second.auth,
            json={
                "resolution": "Fraud: the supporter was unknown to them.",
                "fraud_confirmed": True,
            },
        )
    )
    assert (decided["status"], decided["fraud_confirmed"]) == ("resolved", True), decided
    assert decided["appealable"] is False, "an admin's decision is final"
    assert [d["fraud_confirmed"] for d in decided["decisions"]] == [False, True]

    # --- penalties, through the API ----------------------------------------------------------
    supporter_me = _me(http, supporter)
    assert supporter_me["role"] == "unverified", "the supporter loses the role"
    assert supporter_me["unit"] is None, "and leaves the ateuli"
    assert _status(http, supporter)["tavdebi"] is None
    left = _data(http.get(f"/api/v1/ateulis/{ateuli['id']}", headers=supporter.auth))
    assert left["member_count"] == ateuli["member_count"]

    mine = _data(http.get("/api/v1/endorsements/my-requests", headers=supporter.auth))
    revoked = next(e for e in mine if e["id"] == endorsement_id)
    assert revoked["status"] == "revoked" and revoked["penalty"] is True, revoked
    assert revoked["revoked_at"] is not None

    suspension = _status(http, geder)
    assert suspension["can_endorse"] is False, suspension
    assert suspension["suspension"]["suspended"] is True
    assert suspension["suspension"]["permanent"] is False, "a first offence is not permanent"
    assert suspension["suspension"]["case_id"] == case_id
    until = datetime.fromisoformat(suspension["suspension"]["until"])
    months = (until - datetime.now(UTC)) / timedelta(days=30)
    assert 5.5 < months < 6.5, f"six months of suspension: {until}"

    offered_after = _data(
        http.get(
            "/api/v1/endorsements/available-geders",
            headers=supporter.auth,
            params={"search": geder.me["last_name"]},
        )
    )
    assert geder.id not in {g["id"] for g in offered_after}, "a suspended GeDer is not offered"

    case_steps = _audit_actions(http, admin, "arbitration_case", case_id)
    for action, times in (
        ("arbitration.case.filed", 1),
        ("arbitration.case.started", 2),
        ("arbitration.case.resolved", 2),
        ("arbitration.case.appealed", 1),
    ):
        assert case_steps.count(action) == times, (
            f"{action} should appear {times} time(s) in {case_steps}"
        )
    endorsement_steps = _audit_actions(http, admin, "endorsement", endorsement_id)
    for action in (
        "endorsements.requested",
        "endorsements.approved",
        "endorsements.revoked",
        "endorsements.penalty.applied",
    ):
        assert action in endorsement_steps, f"{action} missing from {endorsement_steps}"
