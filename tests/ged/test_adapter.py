"""The GeD Database adapter: the HTTP client against a real local HTTP server, and the ledger.

The server below speaks the protocol of docs/adapters.md and can be told how to answer the
next requests (a status, a malformed body, or hanging until the test ends); it counts what it
received, so retries and the circuit breaker are observed where they happen: on the wire.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from purgatory import AsyncCircuitBreakerFactory
from pydantic import SecretStr, ValidationError

from polis.config import Settings
from polis.ged.adapter import (
    DEMO_LEDGER_PATH,
    VERIFY_PATH,
    GedDatabaseError,
    GedHolding,
    HttpGedDatabase,
    LedgerGedDatabase,
    ged_database,
    normalize_ged_number,
)
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import ErrorCode, PolisError, ValidationFailed
from tests.conftest import AppFactory

API_KEY = "ged-test-key-0123456789abcdef"
PERSON = "01001012345"
OTHER_PERSON = "59001098765"


@dataclass(frozen=True)
class Answer:
    """A scripted answer: this status with this JSON body."""

    status: int
    body: object


# What the server does with a request: an HTTP status (answered with an empty JSON object,
# except 200 which follows the protocol), an Answer, "hang" (no answer until the test ends) or
# "malformed" (200 with a body that is not JSON).
Reply = int | str | Answer


@dataclass
class GedServer:
    """A real HTTP server on 127.0.0.1 speaking the GeD Database protocol."""

    url: str
    holdings: dict[tuple[str, str], int] = field(default_factory=dict)
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def _handler(server: GedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with server.lock:
                server.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(raw),
                    }
                )
                reply: Reply = server.script.pop(0) if server.script else 200
            if reply == "hang":
                server.release.wait(timeout=60)
                return
            if reply == "malformed":
                self._send(200, b"<html>not json</html>")
                return
            if isinstance(reply, Answer):
                self._send(reply.status, json.dumps(reply.body).encode())
                return
            assert isinstance(reply, int)
            if reply != 200:
                self._send(reply, b"{}")
                return
            body = json.loads(raw)
            balance = server.holdings.get((body["ged_number"], body["personal_id"]))
            answer = (
                {"confirmed": False} if balance is None else {"confirmed": True, "balance": balance}
            )
            self._send(200, json.dumps(answer).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def ged_server() -> Iterator[GedServer]:
    state = GedServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _client(
    server: GedServer,
    *,
    retries: int = 2,
    timeout: float = 5.0,
    threshold: int = 50,
    ttl: float = 600.0,
) -> HttpGedDatabase:
    # Each test gets its own breaker registry: no state leaks between tests. No backoff: the
    # tests count attempts, they do not wait for them.
    return HttpGedDatabase(
        server.url,
        API_KEY,
        timeout_seconds=timeout,
        retries=retries,
        backoff_seconds=0,
        breaker_threshold=threshold,
        breaker_ttl_seconds=ttl,
        breakers=AsyncCircuitBreakerFactory(),
    )


def _assert_external_error(exc: PolisError, reason: str) -> None:
    """A 5003 whose words name the reason and never the personal ID or the API key."""
    assert isinstance(exc, GedDatabaseError)
    assert exc.error is ErrorCode.EXTERNAL_SERVICE
    assert exc.error.code == 5003
    assert exc.status_code == 502
    assert exc.details == {"service": "ged_database", "reason": reason}
    shown = f"{exc} {exc.message} {exc.details!r} {exc!r}"
    assert PERSON not in shown
    assert API_KEY not in shown


# --- the protocol ---------------------------------------------------------------------------


async def test_confirmed_holding_sends_the_protocol_request(ged_server: GedServer) -> None:
    ged_server.holdings[("GED000042", PERSON)] = 1234
    holding = await _client(ged_server).verify_holding(" ged000042 ", PERSON)
    assert holding == GedHolding(ged_number="GED000042", balance=1234)
    assert ged_server.requests == [
        {
            "path": VERIFY_PATH,
            "authorization": f"Bearer {API_KEY}",
            "content_type": "application/json",
            "body": {"ged_number": "GED000042", "personal_id": PERSON},
        }
    ]


async def test_not_confirmed_is_none_without_retry(ged_server: GedServer) -> None:
    ged_server.holdings[("GED000042", PERSON)] = 1234
    assert await _client(ged_server).verify_holding("GED000042", OTHER_PERSON) is None
    assert ged_server.count == 1


async def test_404_means_not_confirmed_without_retry(ged_server: GedServer) -> None:
    ged_server.answer_next(404)
    assert await _client(ged_server).verify_holding("GED000042", PERSON) is None
    assert ged_server.count == 1


async def test_bad_number_is_a_2002_before_any_request(ged_server: GedServer) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await _client(ged_server).verify_holding("GED42", PERSON)
    assert caught.value.error is ErrorCode.BAD_FORMAT
    assert ged_server.count == 0


# --- retries --------------------------------------------------------------------------------


async def test_5xx_is_retried_until_an_answer(ged_server: GedServer) -> None:
    ged_server.holdings[("GED000007", PERSON)] = 5
    ged_server.answer_next(500, 503)
    holding = await _client(ged_server, retries=2).verify_holding("GED000007", PERSON)
    assert holding == GedHolding("GED000007", 5)
    assert ged_server.count == 3
    # Every attempt is the same request.
    assert {json.dumps(r["body"], sort_keys=True) for r in ged_server.requests} == {
        json.dumps({"ged_number": "GED000007", "personal_id": PERSON}, sort_keys=True)
    }


async def test_exhausted_retries_raise_5003(ged_server: GedServer) -> None:
    ged_server.answer_next(503, 503, 503, 503)
    with pytest.raises(GedDatabaseError) as caught:
        await _client(ged_server, retries=2).verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, "status_503")
    assert ged_server.count == 3


@pytest.mark.parametrize("status", [400, 401, 403, 422, 429])
async def test_4xx_is_never_retried_and_raises_5003(ged_server: GedServer, status: int) -> None:
    ged_server.answer_next(status)
    with pytest.raises(GedDatabaseError) as caught:
        await _client(ged_server, retries=3).verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, f"status_{status}")
    assert ged_server.count == 1


async def test_timeouts_are_retried_then_raise_5003(ged_server: GedServer) -> None:
    ged_server.answer_next("hang", "hang")
    with pytest.raises(GedDatabaseError) as caught:
        await _client(ged_server, retries=1, timeout=0.3).verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, "timeout")
    assert ged_server.count == 2


async def test_a_timeout_then_an_answer_succeeds(ged_server: GedServer) -> None:
    ged_server.holdings[("GED000007", PERSON)] = 70
    ged_server.answer_next("hang")
    holding = await _client(ged_server, retries=1, timeout=0.3).verify_holding("GED000007", PERSON)
    assert holding == GedHolding("GED000007", 70)
    assert ged_server.count == 2


async def test_connection_refused_raises_5003() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: every attempt is refused.
    database = HttpGedDatabase(
        f"http://127.0.0.1:{port}",
        API_KEY,
        retries=2,
        backoff_seconds=0,
        breakers=AsyncCircuitBreakerFactory(),
    )
    with pytest.raises(GedDatabaseError) as caught:
        await database.verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, "connection")


@pytest.mark.parametrize(
    "body",
    [
        "malformed",
        {"confirmed": "yes"},
        {"balance": 5},
        {"confirmed": True},
        {"confirmed": True, "balance": "5"},
        {"confirmed": True, "balance": True},
        [1, 2],
    ],
)
async def test_a_malformed_answer_raises_5003_without_retry(
    ged_server: GedServer, body: object
) -> None:
    ged_server.answer_next(body if body == "malformed" else Answer(200, body))
    with pytest.raises(GedDatabaseError) as caught:
        await _client(ged_server, retries=3).verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, "malformed_answer")
    assert ged_server.count == 1


# --- circuit breaker ------------------------------------------------------------------------


async def test_circuit_opens_and_then_fails_fast_without_calling(ged_server: GedServer) -> None:
    database = _client(ged_server, retries=1, threshold=2)
    ged_server.answer_next(500, 500, 500, 500)
    for _ in range(2):
        with pytest.raises(GedDatabaseError) as caught:
            await database.verify_holding("GED000007", PERSON)
        _assert_external_error(caught.value, "status_500")
    assert ged_server.count == 4
    # The service is healthy again, but the circuit is open: no request leaves.
    ged_server.holdings[("GED000007", PERSON)] = 1
    for _ in range(3):
        with pytest.raises(GedDatabaseError) as caught:
            await database.verify_holding("GED000007", PERSON)
        _assert_external_error(caught.value, "circuit_open")
    assert ged_server.count == 4


async def test_circuit_is_shared_by_clients_of_one_registry(ged_server: GedServer) -> None:
    registry = AsyncCircuitBreakerFactory()

    def client() -> HttpGedDatabase:
        return HttpGedDatabase(
            ged_server.url,
            API_KEY,
            retries=0,
            backoff_seconds=0,
            breaker_threshold=1,
            breakers=registry,
        )

    ged_server.answer_next(502)
    with pytest.raises(GedDatabaseError):
        await client().verify_holding("GED000007", PERSON)
    with pytest.raises(GedDatabaseError) as caught:
        await client().verify_holding("GED000007", PERSON)
    _assert_external_error(caught.value, "circuit_open")
    assert ged_server.count == 1


async def test_4xx_and_not_confirmed_do_not_open_the_circuit(ged_server: GedServer) -> None:
    database = _client(ged_server, retries=0, threshold=2)
    ged_server.answer_next(401, 401, 401, 404)
    for _ in range(3):
        with pytest.raises(GedDatabaseError) as caught:
            await database.verify_holding("GED000007", PERSON)
        _assert_external_error(caught.value, "status_401")
    # A 404 and a 200 "not confirmed": answers, not failures.
    assert await database.verify_holding("GED000007", PERSON) is None
    assert await database.verify_holding("GED000007", PERSON) is None
    # Every call reached the server: the circuit never opened.
    assert ged_server.count == 5


async def test_a_success_resets_the_failure_count(ged_server: GedServer) -> None:
    database = _client(ged_server, retries=0, threshold=2)
    ged_server.answer_next(500, 200, 500)
    with pytest.raises(GedDatabaseError):
        await database.verify_holding("GED000007", PERSON)
    assert await database.verify_holding("GED000007", PERSON) is None
    with pytest.raises(GedDatabaseError) as caught:
        await database.verify_holding("GED000007", PERSON)
    # Two failures, but not in a row: the circuit is still closed and the call was made.
    _assert_external_error(caught.value, "status_500")
    assert ged_server.count == 3


async def test_after_its_ttl_the_circuit_lets_a_trial_call_through(ged_server: GedServer) -> None:
    # A TTL far below the time one HTTP round trip takes: the trial is due at the next call,
    # without the test waiting for anything.
    database = _client(ged_server, retries=0, threshold=1, ttl=1e-6)
    ged_server.answer_next(500)
    with pytest.raises(GedDatabaseError):
        await database.verify_holding("GED000007", PERSON)
    ged_server.holdings[("GED000007", PERSON)] = 3
    assert await database.verify_holding("GED000007", PERSON) == GedHolding("GED000007", 3)
    assert ged_server.count == 2


# --- through the API ------------------------------------------------------------------------


async def test_an_outage_reaches_clients_as_502_5003_without_secrets(
    ged_server: GedServer, make_client: AppFactory
) -> None:
    database = _client(ged_server, retries=1)
    router = APIRouter()

    @router.post("/ged-check")
    async def check() -> Envelope[bool]:
        return ok(await database.verify_holding("GED000007", PERSON) is not None)

    ged_server.answer_next(500, 500)
    async with make_client(router) as http:
        response = await http.post("/api/v1/ged-check")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == 5003
    assert error["name"] == "EXTERNAL_SERVICE"
    assert error["details"] == {"service": "ged_database", "reason": "status_500"}
    assert PERSON not in response.text
    assert API_KEY not in response.text


# --- the ledger -----------------------------------------------------------------------------


@pytest.fixture
def demo_ledger() -> LedgerGedDatabase:
    return LedgerGedDatabase(DEMO_LEDGER_PATH)


@pytest.mark.parametrize("number", ["GED000001", "GED000500", "ged000250"])
@pytest.mark.parametrize("person", [PERSON, OTHER_PERSON])
async def test_demo_ledger_confirms_its_range_for_anyone(
    demo_ledger: LedgerGedDatabase, number: str, person: str
) -> None:
    holding = await demo_ledger.verify_holding(number, person)
    assert holding == GedHolding(ged_number=number.upper(), balance=1000)


@pytest.mark.parametrize("number", ["GED000000", "GED000501", "GED999999"])
async def test_demo_ledger_refuses_numbers_outside_its_range(
    demo_ledger: LedgerGedDatabase, number: str
) -> None:
    assert await demo_ledger.verify_holding(number, PERSON) is None


async def test_ledger_refuses_a_malformed_number_with_2002(
    demo_ledger: LedgerGedDatabase,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await demo_ledger.verify_holding("XYZ000001", PERSON)
    assert caught.value.error is ErrorCode.BAD_FORMAT
    assert caught.value.details == {"field": "ged_number"}


def _write_ledger(path: Path, holdings: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"description": "test", "holdings": holdings}))
    return path


async def test_a_bound_entry_confirms_only_its_person(tmp_path: Path) -> None:
    ledger = LedgerGedDatabase(
        _write_ledger(
            tmp_path / "ledger.json",
            [{"ged_number": "GED000777", "personal_id": PERSON, "balance": 250}],
        )
    )
    assert await ledger.verify_holding("GED000777", PERSON) == GedHolding("GED000777", 250)
    assert await ledger.verify_holding("GED000777", f" {PERSON} ") == GedHolding("GED000777", 250)
    assert await ledger.verify_holding("GED000777", OTHER_PERSON) is None
    assert await ledger.verify_holding("GED000778", PERSON) is None


async def test_the_first_covering_entry_decides(tmp_path: Path) -> None:
    ledger = LedgerGedDatabase(
        _write_ledger(
            tmp_path / "ledger.json",
            [
                {"ged_number": "GED000010", "personal_id": PERSON, "balance": 7},
                {"from": "GED000001", "to": "GED000020", "balance": 1},
                {"ged_number": "GED000030", "balance": 9},
            ],
        )
    )
    # Bound before the range covers it: only its person.
    assert await ledger.verify_holding("GED000010", PERSON) == GedHolding("GED000010", 7)
    assert await ledger.verify_holding("GED000010", OTHER_PERSON) is None
    # The rest of the range: anyone.
    assert await ledger.verify_holding("GED000011", OTHER_PERSON) == GedHolding("GED000011", 1)
    # An unbound single number: anyone.
    assert await ledger.verify_holding("GED000030", OTHER_PERSON) == GedHolding("GED000030", 9)


@pytest.mark.parametrize(
    "holdings",
    [
        [{"balance": 1}],
        [{"ged_number": "GED000001", "from": "GED000001", "to": "GED000002", "balance": 1}],
        [{"from": "GED000001", "balance": 1}],
        [{"from": "GED000009", "to": "GED000001", "balance": 1}],
        [{"ged_number": "GED42", "balance": 1}],
        [{"ged_number": "GED000001", "balance": -1}],
        [{"ged_number": "GED000001"}],
        [{"ged_number": "GED000001", "balance": 1, "colour": "blue"}],
    ],
)
def test_a_malformed_ledger_is_refused_when_loaded(
    tmp_path: Path, holdings: list[dict[str, Any]]
) -> None:
    path = _write_ledger(tmp_path / "ledger.json", holdings)
    with pytest.raises(ValidationError):
        LedgerGedDatabase(path)


# --- the number format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" ged000042 ", "GED000042"), ("GED000001", "GED000001"), ("Ged999999\n", "GED999999")],
)
def test_normalize_ged_number_strips_and_upper_cases(raw: str, expected: str) -> None:
    assert normalize_ged_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "GED42",
        "XYZ000001",
        "",
        "GED0000001",
        "GED 000001",
        "GED00000A",
        "GED\u0660\u0660\u0660\u0660\u0660\u0661",
    ],
)
def test_normalize_ged_number_refuses_other_shapes_with_2002(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_ged_number(raw)
    assert caught.value.error.code == 2002
    assert caught.value.status_code == 422
    assert caught.value.details == {"field": "ged_number"}


# --- the factory ----------------------------------------------------------------------------


def test_factory_picks_http_when_a_url_is_set(settings: Settings) -> None:
    chosen = ged_database(
        settings.model_copy(
            update={"ged_api_url": "http://127.0.0.1:9", "ged_api_key": SecretStr(API_KEY)}
        )
    )
    assert isinstance(chosen, HttpGedDatabase)


def test_factory_refuses_a_url_without_a_key(settings: Settings) -> None:
    with pytest.raises(ValueError, match="POLIS_GED_API_KEY"):
        ged_database(settings.model_copy(update={"ged_api_url": "http://127.0.0.1:9"}))


async def test_factory_defaults_to_the_demo_ledger(settings: Settings) -> None:
    chosen = ged_database(settings.model_copy(update={"ged_api_url": None}))
    assert isinstance(chosen, LedgerGedDatabase)
    assert chosen.path == DEMO_LEDGER_PATH.resolve()
    assert await chosen.verify_holding("GED000001", PERSON) == GedHolding("GED000001", 1000)


async def test_factory_reads_the_configured_ledger_and_its_edits(
    settings: Settings, tmp_path: Path
) -> None:
    path = _write_ledger(tmp_path / "ledger.json", [{"ged_number": "GED000900", "balance": 1}])
    configured = settings.model_copy(update={"ged_ledger_path": path})
    assert await ged_database(configured).verify_holding("GED000900", PERSON) is not None
    assert await ged_database(configured).verify_holding("GED000001", PERSON) is None
    _write_ledger(path, [{"ged_number": "GED000001", "balance": 2}])
    # A distinct modification time, set rather than waited for.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    edited = ged_database(configured)
    assert await edited.verify_holding("GED000001", PERSON) == GedHolding("GED000001", 2)
    assert await edited.verify_holding("GED000900", PERSON) is None
