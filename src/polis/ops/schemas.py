from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    version: str


class CheckResult(BaseModel):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    status: str
    checks: dict[str, CheckResult]
