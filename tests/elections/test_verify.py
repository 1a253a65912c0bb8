"""``polis verify-election``: recompute a publication's root and tally, and refuse any lie."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from polis.cli import app
from polis.elections import ledger
from polis.kit import merkle

ALICE, BOB, CAROL = (uuid.uuid4() for _ in range(3))


def _publish(counts: dict[uuid.UUID, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ballots and results documents as an honest server publishes them."""
    election_id = uuid.uuid4()
    pairs = sorted(
        (ledger.new_vote_hash(election_id, uuid.uuid4(), candidate), candidate)
        for candidate, count in counts.items()
        for _ in range(count)
    )
    root = ledger.merkle_root(pairs)
    total = len(pairs)
    most = max(counts.values())
    ballots = {
        "election_id": str(election_id),
        "ballots": [{"vote_hash": h, "candidate_id": str(c)} for h, c in pairs],
        "merkle_root": root,
        "tree_size": total,
    }
    results = {
        "election": {
            "id": str(election_id),
            "title": "Atistavi",
            "status": "completed",
            "total_votes": total,
            "eligible_voters": total + 3,
            "turnout": round(100 * total / (total + 3), 2),
        },
        "results": [
            {
                "candidate": {"id": str(c), "user_id": str(uuid.uuid4()), "name": f"Member {i}"},
                "vote_count": count,
                "percentage": round(100 * count / total, 2),
                "is_winner": count == most,
            }
            for i, (c, count) in enumerate(counts.items())
        ],
        "merkle_root": root,
    }
    return ballots, results


def _envelope(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "meta": {"request_id": "test"}}


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, ["verify-election", *args], env={"COLUMNS": "220"})


def _save(tmp_path: Path, ballots: Any, results: Any) -> str:
    path = tmp_path / "election.json"
    path.write_text(json.dumps({"ballots": ballots, "results": results}))
    return str(path)


def test_an_honest_publication_verifies_with_its_receipts(tmp_path: Path) -> None:
    ballots, results = _publish({ALICE: 7, BOB: 4, CAROL: 2})
    receipt = ballots["ballots"][5]["vote_hash"]
    # Saved straight from the API: envelopes included.
    source = _save(tmp_path, _envelope(ballots), _envelope(results))
    outcome = _run(source, "--receipt", receipt)
    assert outcome.exit_code == 0, outcome.output
    assert "MISMATCH" not in outcome.output
    assert "Verified: 13 ballots" in outcome.output
    assert "counted for" in outcome.output


def test_a_changed_choice_breaks_the_root(tmp_path: Path) -> None:
    ballots, results = _publish({ALICE: 7, BOB: 4})
    ballots["ballots"][0]["candidate_id"] = str(
        BOB if ballots["ballots"][0]["candidate_id"] == str(ALICE) else ALICE
    )
    outcome = _run(_save(tmp_path, ballots, results))
    assert outcome.exit_code == 1
    assert "Merkle root of the ballots" in outcome.output and "MISMATCH" in outcome.output


def test_a_tally_that_differs_from_the_ballots_is_refused(tmp_path: Path) -> None:
    ballots, results = _publish({ALICE: 7, BOB: 4})
    results["results"][0]["vote_count"] -= 1
    results["results"][1]["vote_count"] += 1
    outcome = _run(_save(tmp_path, ballots, results))
    assert outcome.exit_code == 1
    assert "tally per candidate" in outcome.output
    assert f"{ALICE}: published 6, ballots 7" in outcome.output


def test_a_dropped_ballot_is_found_even_with_a_recomputed_root(tmp_path: Path) -> None:
    ballots, results = _publish({ALICE: 3, BOB: 4})
    # A dishonest server drops one of Bob's ballots and republishes a consistent tree.
    dropped = next(b for b in ballots["ballots"] if b["candidate_id"] == str(BOB))
    ballots["ballots"].remove(dropped)
    pairs = [(b["vote_hash"], uuid.UUID(b["candidate_id"])) for b in ballots["ballots"]]
    ballots["merkle_root"] = results["merkle_root"] = ledger.merkle_root(pairs)
    ballots["tree_size"] = len(pairs)
    outcome = _run(_save(tmp_path, ballots, results), "--receipt", dropped["vote_hash"])
    assert outcome.exit_code == 1
    for failed in ("total votes", "tally per candidate", "is not among the published ballots"):
        assert failed in outcome.output


def test_an_unsorted_list_a_wrong_winner_or_a_foreign_root_is_refused(tmp_path: Path) -> None:
    ballots, results = _publish({ALICE: 5, BOB: 2})
    ballots["ballots"].reverse()
    for row in results["results"]:
        row["is_winner"] = not row["is_winner"]
    results["merkle_root"] = "00" * 32
    outcome = _run(_save(tmp_path, ballots, results))
    assert outcome.exit_code == 1
    for failed in (
        "ballots sorted by receipt",
        "winner has the most votes",
        "results carry the same root",
    ):
        line = next(line for line in outcome.output.splitlines() if failed in line)
        assert "MISMATCH" in line


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"ballots": {}, "results": {}}),
        json.dumps(
            {
                "ballots": {"success": False, "error": {"code": 3003, "message": "Not yet."}},
                "results": {},
            }
        ),
    ],
)
def test_an_unreadable_publication_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    outcome = _run(str(path))
    assert outcome.exit_code == 2
    assert _run(str(tmp_path / "missing.json")).exit_code == 2


class _Publisher(BaseHTTPRequestHandler):
    """A real HTTP server publishing one election the way the API does (envelopes)."""

    documents: dict[str, Any] = {}

    def do_GET(self) -> None:
        document = self.documents.get(self.path)
        body = json.dumps(document if document is not None else {"success": False}).encode()
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def publisher() -> Iterator[tuple[str, type[_Publisher]]]:
    handler = type("Publisher", (_Publisher,), {"documents": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_verifies_from_the_api_and_checks_the_servers_own_proofs(
    publisher: tuple[str, type[_Publisher]],
) -> None:
    base, handler = publisher
    ballots, results = _publish({ALICE: 6, BOB: 5})
    prefix = f"/api/v1/elections/{results['election']['id']}"
    handler.documents[f"{prefix}/ballots"] = _envelope(ballots)
    handler.documents[f"{prefix}/results"] = _envelope(results)
    pairs = [(b["vote_hash"], uuid.UUID(b["candidate_id"])) for b in ballots["ballots"]]
    mine, other = pairs[3][0], pairs[8][0]
    honest = ledger.receipt(pairs, mine)
    assert honest is not None
    handler.documents[f"{prefix}/receipts/{mine}"] = _envelope(
        {**honest.__dict__, "candidate_id": str(honest.candidate_id)}
    )
    # A proof for another receipt that leads nowhere.
    forged = ledger.receipt(pairs, other)
    assert forged is not None
    handler.documents[f"{prefix}/receipts/{other}"] = _envelope(
        {**forged.__dict__, "candidate_id": str(forged.candidate_id), "audit_path": []}
    )

    outcome = _run(f"{base}{prefix}/results", "--receipt", mine)
    assert outcome.exit_code == 0, outcome.output
    outcome = _run(f"{base}{prefix}", "--receipt", mine, "--receipt", other)
    assert outcome.exit_code == 1
    line = next(line for line in outcome.output.splitlines() if other[:12] in line)
    assert "the proof does not verify" in line


def test_a_voter_checks_a_receipt_proof_with_the_documented_formats() -> None:
    election_id, ballot_id = uuid.uuid4(), uuid.uuid4()
    vote_hash = ledger.new_vote_hash(election_id, ballot_id, ALICE)
    assert len(vote_hash) == 64 and vote_hash == vote_hash.lower()
    # Fresh randomness: the same ballot and choice never give the same receipt twice.
    assert vote_hash != ledger.new_vote_hash(election_id, ballot_id, ALICE)
    pairs = [
        (vote_hash, ALICE),
        *((ledger.new_vote_hash(election_id, uuid.uuid4(), BOB), BOB) for _ in range(4)),
    ]
    proof = ledger.receipt(pairs, vote_hash)
    assert proof is not None and proof.candidate_id == ALICE and proof.tree_size == 5
    entries = [f"{h}:{c}".encode() for h, c in sorted(pairs)]
    assert proof.merkle_root == merkle.root(entries).hex()
    assert ledger.verify_receipt(vote_hash, proof)
    assert not ledger.verify_receipt(
        vote_hash, ledger.Receipt(**{**proof.__dict__, "candidate_id": BOB})
    )
    assert not ledger.verify_receipt(
        vote_hash, ledger.Receipt(**{**proof.__dict__, "audit_path": ["zz"]})
    )
    assert ledger.receipt(pairs, "0" * 64) is None
