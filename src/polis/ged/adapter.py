"""The GeD Database adapter: does the GeD Database confirm this GeD number for this person?

Two implementations behind one protocol (DESIGN.md §3.10):

- :class:`HttpGedDatabase` speaks to the real service over HTTPS (protocol in
  ``docs/adapters.md``): ``POST {ged_api_url}/v1/holdings/verify`` with a bearer key. Transport
  errors, timeouts and 5xx answers are retried with jittered exponential backoff (tenacity); a 4xx
  is never retried, because asking again cannot change the answer. A circuit breaker (purgatory)
  stops calling a service that keeps failing, so onboarding fails fast with 5003 instead of every
  request waiting through all its retries.
- :class:`LedgerGedDatabase` reads a JSON ledger file, for development and tests, and appends
  fines to a JSON-lines file (``<data_dir>/ged_fines.jsonl``).

Two questions go to the service: ``verify_holding`` (onboarding) and ``record_fine`` (a penalty
for a confirmed endorsement fraud, sent by the ``ged_fines`` outbox of the endorsements domain).

:func:`ged_database` picks one from the settings. Error messages and details never carry the
personal ID or the API key: they reach clients through the envelope and operators through logs.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from polis.config import Settings
from polis.kit.errors import ErrorCode, PolisError, ValidationFailed
from polis.kit.logging import get_logger

log = get_logger(__name__)

SERVICE = "ged_database"
VERIFY_PATH = "/v1/holdings/verify"
FINES_PATH = "/v1/fines"
DEMO_LEDGER_PATH = Path(__file__).with_name("demo_ledger.json")
# Where the local ledger appends fines, inside the settings' data_dir (never beside the shipped
# demo ledger, which lives in the installed package).
FINES_FILE_NAME = "ged_fines.jsonl"

T = TypeVar("T")

# ASCII digits only: ``\d`` would also accept other scripts' digits.
_GED_NUMBER = re.compile(r"GED[0-9]{6}")

# Circuit breaker defaults: after this many failed calls in a row (each one already retried)
# the circuit opens, and calls fail at once until the TTL has passed; then one trial call
# decides whether it closes again.
BREAKER_THRESHOLD = 5
BREAKER_TTL_SECONDS = 30.0
# The first retry waits up to this long, doubling each time (full jitter), capped below.
BACKOFF_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0

# purgatory rather than aiobreaker or pybreaker: it is asyncio-native (an async context
# manager, no thread or Tornado shims), typed (py.typed), still maintained (aiobreaker's last
# release is from 2021), and can move its state to Redis (AsyncRedisUnitOfWork) should one
# breaker ever need to be shared by every process. Its state here lives in this process: one
# breaker per service URL, shared by every HttpGedDatabase built by ged_database().
_BREAKERS = AsyncCircuitBreakerFactory(
    default_threshold=BREAKER_THRESHOLD, default_ttl=BREAKER_TTL_SECONDS
)


@dataclass(frozen=True)
class GedHolding:
    """A holding the GeD Database confirmed: the normalised number and its balance in GeD."""

    ged_number: str
    balance: int


class GedDatabase(Protocol):
    """What the rest of Polis needs from the GeD Database."""

    async def verify_holding(self, ged_number: str, personal_id: str) -> GedHolding | None:
        """The holding when the GeD Database confirms ``ged_number`` for ``personal_id``, else
        None. Raises 2002 for a malformed number and 5003 when the service cannot answer."""
        ...

    async def record_fine(self, ged_number: str, amount: int, reference: str) -> None:
        """Record a fine of ``amount`` GeD against ``ged_number``. ``reference`` names the fine
        once and for all: sending it again is harmless (the service keeps one). Returns when
        the service accepted it; raises 5003 when it did not."""
        ...


class GedDatabaseError(PolisError):
    """The GeD Database could not give an answer (5003, HTTP 502)."""

    error = ErrorCode.EXTERNAL_SERVICE


def normalize_ged_number(raw: str) -> str:
    """``raw`` stripped and upper-cased; a 2002 error unless it then reads ``GED`` + 6 digits."""
    number = raw.strip().upper()
    if not _GED_NUMBER.fullmatch(number):
        raise ValidationFailed(
            "ged_number must be GED followed by six digits, like GED000123",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "ged_number"},
        )
    return number


# --- the real service ---------------------------------------------------------------------


class _Unavailable(Exception):
    """The service did not answer usefully (transport error, timeout, 5xx): worth retrying."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Rejected(Exception):
    """The service answered, but not per the protocol (an unexpected 4xx, a malformed body).

    Never retried, and not counted by the circuit breaker: the service is up, and asking again
    would get the same answer.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse_answer(number: str, response: httpx.Response) -> GedHolding | None:
    try:
        body = response.json()
    except ValueError:
        raise _Rejected("malformed_answer") from None
    if not isinstance(body, dict) or not isinstance(body.get("confirmed"), bool):
        raise _Rejected("malformed_answer")
    if not body["confirmed"]:
        return None
    balance = body.get("balance")
    # bool is an int subclass; `"balance": true` is not a balance.
    if isinstance(balance, bool) or not isinstance(balance, int):
        raise _Rejected("malformed_answer")
    return GedHolding(ged_number=number, balance=balance)


class HttpGedDatabase:
    """The real GeD Database over HTTP, with retries, timeouts and a circuit breaker."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 5.0,
        retries: int = 3,
        backoff_seconds: float = BACKOFF_SECONDS,
        breaker_threshold: int = BREAKER_THRESHOLD,
        breaker_ttl_seconds: float = BREAKER_TTL_SECONDS,
        breakers: AsyncCircuitBreakerFactory | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries cannot be negative")
        base = base_url.rstrip("/")
        self._url = base + VERIFY_PATH
        self._fines_url = base + FINES_PATH
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_seconds)
        self._retries = retries
        self._backoff = backoff_seconds
        self._threshold = breaker_threshold
        self._ttl = breaker_ttl_seconds
        self._breakers = breakers if breakers is not None else _BREAKERS
        self._circuit = f"{SERVICE}:{base}"

    async def verify_holding(self, ged_number: str, personal_id: str) -> GedHolding | None:
        """Ask the service; see :class:`GedDatabase`."""
        number = normalize_ged_number(ged_number)

        async def attempt(client: httpx.AsyncClient) -> GedHolding | None:
            return await self._attempt(client, number, personal_id)

        return await self._guarded(attempt)

    async def record_fine(self, ged_number: str, amount: int, reference: str) -> None:
        """Send a fine; see :class:`GedDatabase`. 200/201 accept it; 409 says the reference is
        already recorded, which is also acceptance (a retried send)."""
        number = normalize_ged_number(ged_number)
        payload = {"ged_number": number, "amount": amount, "reference": reference}

        async def attempt(client: httpx.AsyncClient) -> None:
            status = await self._post(client, self._fines_url, payload)
            if status.status_code not in (200, 201, 409):
                raise _Rejected(f"status_{status.status_code}")

        await self._guarded(attempt)

    async def _guarded(self, attempt: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """Run ``attempt`` with retries inside the circuit breaker; map failures to 5003."""
        breaker = await self._breakers.get_breaker(
            self._circuit,
            self._threshold,
            self._ttl,
            # A protocol violation is not an outage, and a cancelled request (a client that
            # went away) says nothing about the service.
            exclude=[_Rejected, asyncio.CancelledError],
        )
        try:
            async with breaker:
                return await self._with_retries(attempt)
        except OpenedState:
            log.warning("ged.circuit_open", service=SERVICE)
            raise GedDatabaseError(
                "The GeD Database is unavailable; try again later.",
                details={"service": SERVICE, "reason": "circuit_open"},
            ) from None
        except _Unavailable as exc:
            log.warning("ged.unavailable", service=SERVICE, reason=exc.reason)
            raise GedDatabaseError(
                "The GeD Database did not answer.",
                details={"service": SERVICE, "reason": exc.reason},
            ) from None
        except _Rejected as exc:
            log.error("ged.rejected", service=SERVICE, reason=exc.reason)
            raise GedDatabaseError(
                "The GeD Database gave an unexpected answer.",
                details={"service": SERVICE, "reason": exc.reason},
            ) from None

    async def _with_retries(self, attempt: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=wait_random_exponential(
                multiplier=self._backoff, max=min(BACKOFF_MAX_SECONDS, self._backoff * 8)
            ),
            retry=retry_if_exception_type(_Unavailable),
            before_sleep=_log_retry,
            reraise=True,
        )
        # A client per call: the API and Celery tasks run different event loops, and a pooled
        # client belongs to the loop that opened its connections.
        headers = {"Authorization": f"Bearer {self._api_key}"}
        async with httpx.AsyncClient(timeout=self._timeout, headers=headers) as client:
            result: T = await retrying(attempt, client)
        return result

    async def _post(
        self, client: httpx.AsyncClient, url: str, payload: dict[str, object]
    ) -> httpx.Response:
        """POST ``payload``; transport failures and 5xx become :class:`_Unavailable`."""
        try:
            response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            raise _Unavailable("timeout") from None
        except httpx.TransportError:
            raise _Unavailable("connection") from None
        except httpx.HTTPError:
            raise _Rejected("protocol") from None
        if response.status_code >= 500:
            raise _Unavailable(f"status_{response.status_code}")
        return response

    async def _attempt(
        self, client: httpx.AsyncClient, number: str, personal_id: str
    ) -> GedHolding | None:
        response = await self._post(
            client, self._url, {"ged_number": number, "personal_id": personal_id}
        )
        status = response.status_code
        if status == 404:
            return None
        if status != 200:
            raise _Rejected(f"status_{status}")
        return _parse_answer(number, response)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    reason = getattr(error, "reason", type(error).__name__)
    log.info("ged.retry", service=SERVICE, attempt=state.attempt_number, reason=reason)


# --- the local ledger ---------------------------------------------------------------------


def _ledger_number(value: str | None) -> str | None:
    if value is None:
        return None
    number = value.strip().upper()
    if not _GED_NUMBER.fullmatch(number):
        raise ValueError(f"{value!r} is not a GeD number (GED + 6 digits)")
    return number


class LedgerEntry(BaseModel):
    """One line of the ledger: one number (``ged_number``) or a range (``from``…``to``,
    inclusive), for one person (``personal_id``) or, without it, for anyone."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    ged_number: str | None = None
    first: str | None = Field(default=None, alias="from")
    last: str | None = Field(default=None, alias="to")
    personal_id: str | None = None
    balance: int = Field(ge=0)
    note: str | None = None

    _numbers = field_validator("ged_number", "first", "last")(_ledger_number)

    @field_validator("personal_id")
    @classmethod
    def _strip_personal_id(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _one_number_or_one_range(self) -> LedgerEntry:
        is_range = self.first is not None or self.last is not None
        if (self.ged_number is None) == (not is_range):
            raise ValueError("an entry has either ged_number or both from and to")
        if is_range and (self.first is None or self.last is None or self.first > self.last):
            raise ValueError("a range needs from <= to")
        return self

    def covers(self, number: str) -> bool:
        if self.ged_number is not None:
            return self.ged_number == number
        assert self.first is not None
        assert self.last is not None
        # Same width and prefix, so the strings order like the numbers.
        return self.first <= number <= self.last


class LedgerFile(BaseModel):
    """The ledger file: ``{"description": "…", "holdings": [entry, …]}``."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    holdings: list[LedgerEntry]


class LedgerGedDatabase:
    """A local GeD Database read from a JSON ledger file (development and tests).

    The first entry that covers a number decides: when it names a personal ID, only that
    person is confirmed; without one, anyone is. List person-bound entries before ranges.
    """

    def __init__(self, path: Path, fines_path: Path | None = None) -> None:
        self.path = path
        # None: this ledger refuses fines (a read-only ledger, as in the demo seed).
        self.fines_path = fines_path
        # Read once, at construction: a malformed ledger fails loudly at start-up, not
        # in the middle of somebody's onboarding.
        self._ledger = LedgerFile.model_validate_json(path.read_bytes())

    async def verify_holding(self, ged_number: str, personal_id: str) -> GedHolding | None:
        """Look the number up in the ledger; see :class:`GedDatabase`."""
        number = normalize_ged_number(ged_number)
        person = personal_id.strip()
        for entry in self._ledger.holdings:
            if entry.covers(number):
                if entry.personal_id is not None and entry.personal_id != person:
                    return None
                return GedHolding(ged_number=number, balance=entry.balance)
        return None

    async def record_fine(self, ged_number: str, amount: int, reference: str) -> None:
        """Append ``{"ged_number", "amount", "reference"}`` as one JSON line to
        ``fines_path``, unless a line with that reference is already there (a retried send)."""
        number = normalize_ged_number(ged_number)
        if self.fines_path is None:
            raise GedDatabaseError(
                "This GeD ledger does not record fines.",
                details={"service": SERVICE, "reason": "protocol"},
            )
        await asyncio.to_thread(self._append_fine, number, amount, reference)

    def _append_fine(self, number: str, amount: int, reference: str) -> None:
        assert self.fines_path is not None
        self.fines_path.parent.mkdir(parents=True, exist_ok=True)
        # Opened for append and read in one go; O_APPEND keeps each line whole. Two workers
        # racing on one reference could both append: the sender locks the fine's row, so
        # they do not.
        with self.fines_path.open("a+", encoding="utf-8") as file:
            file.seek(0)
            for line in file:
                if line.strip() and json.loads(line).get("reference") == reference:
                    return
            record = {"ged_number": number, "amount": amount, "reference": reference}
            file.write(json.dumps(record) + "\n")

    def fines(self) -> list[dict[str, object]]:
        """Every fine the ledger recorded, oldest first (for development and tests)."""
        if self.fines_path is None or not self.fines_path.exists():
            return []
        lines = self.fines_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@lru_cache(maxsize=8)
def _ledger_at(path: Path, mtime_ns: int, fines_path: Path) -> LedgerGedDatabase:
    # Keyed on the modification time too, so an edited ledger is read again.
    return LedgerGedDatabase(path, fines_path)


def ged_database(settings: Settings) -> GedDatabase:
    """The real service when ``ged_api_url`` is set, else the ledger at ``ged_ledger_path``
    (default: the shipped demo ledger), recording fines in ``<data_dir>/ged_fines.jsonl``."""
    if settings.ged_api_url:
        if settings.ged_api_key is None:
            raise ValueError("POLIS_GED_API_KEY is required when POLIS_GED_API_URL is set")
        return HttpGedDatabase(
            settings.ged_api_url,
            settings.ged_api_key.get_secret_value(),
            timeout_seconds=settings.ged_timeout_seconds,
            retries=settings.ged_retries,
        )
    path = (settings.ged_ledger_path or DEMO_LEDGER_PATH).resolve()
    fines_path = (settings.data_dir / FINES_FILE_NAME).resolve()
    return _ledger_at(path, path.stat().st_mtime_ns, fines_path)
