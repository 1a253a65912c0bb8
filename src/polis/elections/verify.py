"""Check a completed election from what it published, as any outsider can (docs/verification.md).

``polis verify-election`` reads the published ballot list and results (from the API or from a
saved file), recomputes the Merkle root and the tally from the ballots alone, and compares them
with what the server claims. Nothing here touches the database: it trusts only the published
documents and ``polis.elections.ledger``'s formats.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from polis.elections import ledger

# Percentages are published rounded; a published one may differ from the exact share by half a
# unit in its last place (one decimal at worst).
PERCENTAGE_TOLERANCE = 0.051
HTTP_TIMEOUT_SECONDS = 60.0


class PublicationError(Exception):
    """The source cannot be read as an election's publication (not a verification failure)."""


class _Ballot(BaseModel):
    vote_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    candidate_id: uuid.UUID


class _Ballots(BaseModel):
    election_id: uuid.UUID
    ballots: list[_Ballot]
    merkle_root: str
    tree_size: int


class _Candidate(BaseModel):
    id: uuid.UUID
    name: str | None = None


class _Result(BaseModel):
    candidate: _Candidate
    vote_count: int
    percentage: float
    is_winner: bool


class _Election(BaseModel):
    id: uuid.UUID
    status: str
    total_votes: int


class _Results(BaseModel):
    election: _Election
    results: list[_Result]
    merkle_root: str | None = None


class _Receipt(BaseModel):
    candidate_id: uuid.UUID
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    merkle_root: str


@dataclass(frozen=True)
class Publication:
    """An election's published ballots and results, as read from ``source``."""

    source: str
    ballots: _Ballots
    results: _Results

    @property
    def pairs(self) -> list[ledger.Ballot]:
        return [(ballot.vote_hash, ballot.candidate_id) for ballot in self.ballots.ballots]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _unwrap(document: Any, what: str) -> Any:
    """The ``data`` of an API envelope (or the document itself when it is not one)."""
    if isinstance(document, dict) and "success" in document:
        if not document.get("success"):
            error = document.get("error") or {}
            raise PublicationError(
                f"the server refused the {what}: {error.get('code')} {error.get('message')}"
            )
        return document.get("data")
    return document


def _parse(ballots: Any, results: Any, source: str) -> Publication:
    try:
        return Publication(
            source=source,
            ballots=_Ballots.model_validate(_unwrap(ballots, "ballots")),
            results=_Results.model_validate(_unwrap(results, "results")),
        )
    except ValidationError as error:
        raise PublicationError(f"not an election publication: {error}") from error


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def election_url(source: str) -> str:
    """``…/elections/{id}`` from any of the election's URLs (the election, its ballots, its
    results)."""
    url = source.rstrip("/")
    for suffix in ("/ballots", "/results"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def _get(client: httpx.Client, url: str) -> Any:
    try:
        response = client.get(url)
        return response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise PublicationError(f"could not read {url}: {error}") from error


def load(source: str) -> Publication:
    """Read a publication from an election URL (``…/api/v1/elections/{id}``) or from a JSON
    file holding ``{"ballots": …, "results": …}`` (each as the API answers it, envelope or
    not)."""
    if _is_url(source):
        base = election_url(source)
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            return _parse(_get(client, f"{base}/ballots"), _get(client, f"{base}/results"), base)
    try:
        bundle = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PublicationError(f"could not read {source}: {error}") from error
    if not isinstance(bundle, dict) or not {"ballots", "results"} <= bundle.keys():
        raise PublicationError(f"{source} must hold an object with 'ballots' and 'results'")
    return _parse(bundle["ballots"], bundle["results"], source)


def _order_check(publication: Publication) -> Check:
    hashes = [ballot.vote_hash for ballot in publication.ballots.ballots]
    ordered = all(left < right for left, right in itertools.pairwise(hashes))
    return Check(
        "ballots sorted by receipt, none twice",
        ordered,
        f"{len(hashes)} ballots" if ordered else "out of order or repeated receipts",
    )


def _tally_check(publication: Publication, tally: Counter[uuid.UUID]) -> Check:
    published = {row.candidate.id: row.vote_count for row in publication.results.results}
    wrong = [
        f"{candidate}: published {published.get(candidate, 0)}, ballots {tally.get(candidate, 0)}"
        for candidate in sorted(set(published) | set(tally), key=str)
        if published.get(candidate, 0) != tally.get(candidate, 0)
    ]
    detail = "; ".join(wrong) if wrong else f"{len(published)} candidates"
    return Check("tally per candidate", not wrong, detail)


def _winner_check(publication: Publication, tally: Counter[uuid.UUID]) -> Check:
    rows = publication.results.results
    if not rows or not tally:
        return Check("winner", not any(row.is_winner for row in rows), "no votes, no winner")
    most = max(tally.values())
    leaders = {candidate for candidate, count in tally.items() if count == most}
    winners = {row.candidate.id for row in rows if row.is_winner}
    # A tie is settled by a runoff (or, in a runoff, by seniority): any of the tied may win.
    ok = winners <= leaders and (len(leaders) > 1 or winners == leaders)
    return Check(
        "winner has the most votes", ok, f"{most} votes; winners {sorted(map(str, winners))}"
    )


def _percentage_check(publication: Publication, tally: Counter[uuid.UUID]) -> Check:
    total = sum(tally.values())
    wrong = [
        str(row.candidate.id)
        for row in publication.results.results
        if total
        and abs(row.percentage - 100 * tally.get(row.candidate.id, 0) / total)
        > PERCENTAGE_TOLERANCE
    ]
    return Check("percentages", not wrong, ", ".join(wrong) or "match the ballots")


def check(publication: Publication) -> list[Check]:
    """Every check of the publication; all must pass for the election to verify."""
    published = publication.ballots
    results = publication.results
    recomputed = ledger.merkle_root(publication.pairs)
    tally = Counter(candidate for _, candidate in publication.pairs)
    return [
        Check(
            "same election",
            published.election_id == results.election.id,
            str(results.election.id),
        ),
        Check(
            "election completed", results.election.status == "completed", results.election.status
        ),
        _order_check(publication),
        Check("tree size", published.tree_size == len(published.ballots), str(published.tree_size)),
        Check("Merkle root of the ballots", recomputed == published.merkle_root, recomputed),
        Check(
            "results carry the same root",
            results.merkle_root == published.merkle_root,
            str(results.merkle_root),
        ),
        Check(
            "total votes",
            results.election.total_votes == len(published.ballots),
            f"published {results.election.total_votes}, ballots {len(published.ballots)}",
        ),
        _tally_check(publication, tally),
        _winner_check(publication, tally),
        _percentage_check(publication, tally),
    ]


def receipt_proof(publication: Publication, vote_hash: str) -> ledger.Receipt:
    """The inclusion proof of ``vote_hash``: asked of the server for a URL source (so the
    server's proof is what gets checked), computed from the published list for a file."""
    if _is_url(publication.source):
        url = f"{publication.source}/receipts/{vote_hash}"
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            document = _unwrap(_get(client, url), "receipt")
        try:
            proof = _Receipt.model_validate(document)
        except ValidationError as error:
            raise PublicationError(f"not a receipt proof: {error}") from error
        return ledger.Receipt(**proof.model_dump())
    found = ledger.receipt(publication.pairs, vote_hash)
    if found is None:
        raise PublicationError(f"receipt {vote_hash} is not among the published ballots")
    return found


def check_receipt(publication: Publication, vote_hash: str) -> Check:
    """Whether the ballot of ``vote_hash`` is provably in the published tree."""
    try:
        proof = receipt_proof(publication, vote_hash)
    except PublicationError as error:
        return Check(f"receipt {vote_hash[:12]}…", False, str(error))
    ok = proof.merkle_root == publication.ballots.merkle_root and ledger.verify_receipt(
        vote_hash, proof
    )
    detail = f"counted for {proof.candidate_id} (leaf {proof.leaf_index} of {proof.tree_size})"
    return Check(f"receipt {vote_hash[:12]}…", ok, detail if ok else "the proof does not verify")
