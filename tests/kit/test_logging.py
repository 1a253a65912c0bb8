"""Log lines are JSON and carry the request id; secrets never reach them."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter

from polis.kit.envelope import Envelope, ok
from polis.kit.logging import get_logger
from tests.conftest import AppFactory


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/noisy")
    async def noisy() -> Envelope[str]:
        get_logger("polis.test").info("noisy.handled", token="abc.def.ghi", otp="123456")
        return ok("done")

    return router


async def test_log_lines_are_json_with_the_request_id_and_no_secrets(
    make_client: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_client(_router(), log_level="INFO") as http:
        response = await http.get("/api/v1/noisy", headers={"X-Request-ID": "log-me-1"})
    assert response.status_code == 200
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    handled = [line for line in lines if line["event"] == "noisy.handled"]
    assert len(handled) == 1
    assert handled[0]["request_id"] == "log-me-1"
    assert handled[0]["token"] == "[redacted]"
    assert handled[0]["otp"] == "[redacted]"
    access = [line for line in lines if line["event"] == "http.request"]
    assert access[-1]["request_id"] == "log-me-1"
    assert access[-1]["route"] == "/api/v1/noisy"
    assert access[-1]["status"] == 200
    assert "abc.def.ghi" not in json.dumps(lines)
