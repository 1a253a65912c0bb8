"""A new member's first day, through a real `polis dev` (API, worker and beat processes).

They log in with the code from the development SMS outbox, complete onboarding as a GeDer,
refresh their tokens, list their sessions, log out, and are refused afterwards. Then every
line that every process logged is searched for the secrets that went by.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import DevRun

PHONE = "+995555901234"
PERSONAL_ID = "01024099999"
OUTBOX_WAIT_SECONDS = 60.0


def _code_from_outbox(http: httpx.Client) -> str:
    deadline = time.monotonic() + OUTBOX_WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = http.get("/api/v1/dev/sms-outbox", params={"phone_number": PHONE})
        assert answer.status_code == 200, answer.text
        messages = answer.json()["data"]
        if messages:
            match = re.search(r"\b(\d{6})\b", messages[0]["text"])
            assert match, messages[0]
            return match.group(1)
        time.sleep(0.1)  # the worker process is delivering; nothing waits for time to pass
    raise AssertionError("the code never reached the development outbox")


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


@pytest.mark.slow
def test_a_new_member_logs_in_onboards_and_logs_out(tmp_path: Path) -> None:
    run = DevRun(tmp_path / "data", tmp_path / "polis.log", POLIS_LOG_LEVEL="INFO")
    secrets_seen: list[str] = [PHONE, PERSONAL_ID]
    try:
        run.wait_healthy()
        with httpx.Client(base_url=run.base, timeout=10) as http:
            sent = _data(
                http.post("/api/v1/auth/send-verification-code", json={"phone_number": PHONE})
            )
            code = _code_from_outbox(http)
            secrets_seen.append(code)
            login = _data(
                http.post(
                    "/api/v1/auth/verify-phone",
                    json={
                        "verification_id": sent["verification_id"],
                        "code": code,
                        "device_fingerprint": {
                            "fingerprint_hash": "f" * 64,
                            "device_type": "ios",
                            "device_model": "iPhone 15",
                            "os_version": "18.1",
                            "app_version": "1.0.0",
                        },
                    },
                )
            )
            assert login["is_new_user"] is True
            secrets_seen += [login["access_token"], login["refresh_token"]]
            auth = {"Authorization": f"Bearer {login['access_token']}"}

            onboarded = _data(
                http.post(
                    "/api/v1/users/me/complete-onboarding",
                    headers=auth,
                    json={
                        "personal_id": PERSONAL_ID,
                        "ged_number": "GED000321",
                        "status": "active",
                        "motivation": "I want a say in my country from abroad.",
                        "constitution_agreed": True,
                        "is_diaspora": True,
                        "first_name": "Eka",
                        "last_name": "Tsereteli",
                    },
                )
            )
            assert onboarded["user"]["role"] == "geder"

            pair = _data(
                http.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
            )
            secrets_seen += [pair["access_token"], pair["refresh_token"]]
            auth = {"Authorization": f"Bearer {pair['access_token']}"}
            sessions = _data(http.get("/api/v1/auth/sessions", headers=auth))
            assert len(sessions) == 1
            assert sessions[0]["current"] is True
            assert sessions[0]["device"]["device_model"] == "iPhone 15"

            me = _data(http.get("/api/v1/users/me", headers=auth))
            assert me["is_verified"] is True

            assert _data(http.post("/api/v1/auth/logout", headers=auth)) == {"logged_out": True}
            refused = http.get("/api/v1/users/me", headers=auth)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == 1003
            again = http.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert again.status_code == 401
    finally:
        assert run.stop(signal.SIGINT) == 0
    logs = run.output()
    assert '"event": "http.request"' in logs  # the log really was captured at INFO
    for secret in secrets_seen:
        assert secret not in logs, f"a secret leaked into the logs: {secret[:4]}…"
    # Nor the national digits of the phone in any other format.
    assert "555901234" not in logs
