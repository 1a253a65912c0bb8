"""An initiative gathers support to its threshold, lands with the leader and is completed,
through one real `polis dev` (API, worker, beat, embedded servers) and its demo society.

Everything goes over HTTP (and one WebSocket) to the real API process; the worker delivers the
login codes to the development SMS outbox. The cast (demo numbering of
``polis.admin.demo_society``, checked against the API as the journey goes):

- the **creator** (demo member 013) and the **supporters** (014 to 018), members of Saburtalo
  Students, a led ateuli of Saburtalo district 1;
- the **atistavi** (demo member 011, the ateuli's founder), found as the leader of the
  creator's ateuli through ``GET /hierarchy/my-position``;
- the **demo admin**, who reads the audit trail.

What it proves: a verified member starts an ateuli initiative (with an Idempotency-Key, so a
retried request makes one initiative), four supports bring it to 80 %, the fifth reaches the
target: it turns ``assigned`` to the atistavi at once, who hears
``initiative.support_threshold_reached`` on their open WebSocket and finds it in
``assigned-to-me`` and in their notifications; the atistavi completes it with an outcome; the
creator sees it completed and is told; the audit log holds every step.

The answer deadline is not part of this journey: the real server's clock cannot be moved, and
the sweep's moving one leader up is covered in tests/initiatives with the clock seam.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from polis.admin.demo_society import PHONE_PREFIX
from polis.config import DEMO_ADMIN_PHONE
from tests.e2e.harness import DevRun
from tests.e2e.test_endorsement_arbitration_journey import Member, _audit_actions, _data, _login

CREATOR_PHONE = f"{PHONE_PREFIX}013"
SUPPORTER_PHONES = [f"{PHONE_PREFIX}{n:03d}" for n in range(14, 19)]
ATISTAVI_PHONE = f"{PHONE_PREFIX}011"  # founder of Saburtalo Students
TARGET = 5  # the ateuli minimum
WS_WAIT_SECONDS = 20.0


@pytest.mark.slow
def test_an_initiative_reaches_its_target_lands_with_the_atistavi_and_is_completed(
    tmp_path: Path,
) -> None:
    run = DevRun(tmp_path / "data", tmp_path / "polis.log")
    try:
        run.wait_healthy()
        with httpx.Client(base_url=run.base, timeout=15) as http:
            _journey(http, run.base.replace("http://", "ws://"))
    finally:
        assert run.stop(signal.SIGINT) == 0, run.output()[-4000:]


def _support(http: httpx.Client, member: Member, initiative_id: str) -> dict[str, Any]:
    data: dict[str, Any] = _data(
        http.post(
            f"/api/v1/initiatives/{initiative_id}/support",
            headers=member.auth,
            json={"comment": "Count me in", "public": True},
        )
    )
    return data


def _notification_types(http: httpx.Client, member: Member) -> list[str]:
    items = _data(http.get("/api/v1/notifications", headers=member.auth))
    return [item["type"] for item in items]


def _journey(http: httpx.Client, ws_base: str) -> None:
    admin = _login(http, "admin", DEMO_ADMIN_PHONE, new=None)
    creator = _login(http, "creator", CREATOR_PHONE, new=False)
    position = _data(http.get("/api/v1/hierarchy/my-position", headers=creator.auth))
    ateuli = position["ateuli"]
    assert ateuli is not None, "the creator is a member of a demo ateuli"
    assert ateuli["leader"] is not None, f"{ateuli['name']} should be led in the demo"
    atistavi = _login(http, "atistavi", ATISTAVI_PHONE, new=False)
    assert atistavi.id == ateuli["leader"]["id"], "the founder is the ateuli's atistavi"

    # --- 1. the creator starts it (a retried request makes one initiative) ---------------------
    body = {
        "title": "Lights for the Saburtalo courtyard",
        "description": "Four lamps in the courtyard of building 12, so children play safely.",
        "category": "infrastructure",
        "scope_type": "ateuli",
        "scope_id": ateuli["id"],
        "target_support": TARGET,
    }
    headers = {**creator.auth, "Idempotency-Key": "e2e-initiative-1"}
    created = _data(http.post("/api/v1/initiatives", headers=headers, json=body), 201)
    replayed = _data(http.post("/api/v1/initiatives", headers=headers, json=body), 201)
    assert replayed["id"] == created["id"]
    initiative_id = created["id"]
    assert (created["status"], created["current_support"]) == ("active", 0)
    too_low = http.post(
        "/api/v1/initiatives", headers=creator.auth, json={**body, "target_support": TARGET - 1}
    )
    assert too_low.status_code == 422
    assert too_low.json()["error"]["code"] == 3051
    mine = _data(http.get("/api/v1/initiatives/my-initiatives", headers=creator.auth))
    assert [item["id"] for item in mine] == [initiative_id]

    # --- 2. four supports: 80 % --------------------------------------------------------------
    supporters = [
        _login(http, f"supporter {n}", phone, new=False) for n, phone in enumerate(SUPPORTER_PHONES)
    ]
    for supporter in supporters[:4]:
        data = _support(http, supporter, initiative_id)
    assert (data["status"], data["current_support"], data["progress_percentage"]) == (
        "active",
        4,
        80.0,
    )

    # --- 3. the fifth reaches the target, with the atistavi listening ------------------------
    token = atistavi.auth["Authorization"].removeprefix("Bearer ")
    with connect(f"{ws_base}/ws?token={token}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["event"] == "ready"
        reached = _support(http, supporters[4], initiative_id)
        assert reached["status"] == "assigned"
        assert reached["current_support"] == TARGET
        assert reached["progress_percentage"] == 100.0
        assert reached["assignee"]["id"] == atistavi.id
        assert reached["assigned_level"] == "ateuli"
        event = _threshold_event(ws)
    assert event["initiative_id"] == initiative_id
    assert (event["status"], event["assignee_id"]) == ("assigned", atistavi.id)

    waiting = _data(http.get("/api/v1/initiatives/assigned-to-me", headers=atistavi.auth))
    assert [item["id"] for item in waiting] == [initiative_id]
    assert "initiative_assigned" in _notification_types(http, atistavi)
    assert "initiative_supported_threshold" in _notification_types(http, creator)
    shown = _data(http.get(f"/api/v1/initiatives/{initiative_id}/supporters", headers=admin.auth))
    assert {s["id"] for s in shown} == {s.id for s in supporters}
    late = http.post(f"/api/v1/initiatives/{initiative_id}/support", headers=creator.auth, json={})
    assert (late.status_code, late.json()["error"]["code"]) == (409, 3052)

    # --- 4. only the atistavi answers; it is completed ----------------------------------------
    refused = http.post(
        f"/api/v1/initiatives/{initiative_id}/complete",
        headers=creator.auth,
        json={"outcome": "Done by myself"},
    )
    assert refused.status_code == 403
    done = _data(
        http.post(
            f"/api/v1/initiatives/{initiative_id}/complete",
            headers=atistavi.auth,
            json={"outcome": "The city installed four lamps on 3 December."},
        )
    )
    assert done["status"] == "completed"
    seen = _data(http.get(f"/api/v1/initiatives/{initiative_id}", headers=creator.auth))
    assert (seen["status"], seen["outcome"]) == (
        "completed",
        "The city installed four lamps on 3 December.",
    )
    assert "initiative_completed" in _notification_types(http, creator)
    actions = _audit_actions(http, admin, "initiative", initiative_id)
    assert sorted(set(actions)) == [
        "initiatives.achieved",
        "initiatives.assigned",
        "initiatives.completed",
        "initiatives.created",
    ], actions


def _threshold_event(ws: Any) -> dict[str, Any]:
    """The next ``initiative.support_threshold_reached`` frame (pings and the notification's
    own ``notification.new`` frame are passed over)."""
    deadline = time.monotonic() + WS_WAIT_SECONDS
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["event"] == "initiative.support_threshold_reached":
            data: dict[str, Any] = frame["data"]
            return data
    raise AssertionError("the atistavi heard no initiative.support_threshold_reached")
