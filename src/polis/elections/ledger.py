"""The published ballot list of an election: receipts, entries and the Merkle tree over them.

The one place that knows the formats a third party needs to check a tally (docs/verification.md):

- a receipt (``vote_hash``) is the lowercase hex SHA-256 of the election id, the ballot id and the
  candidate id (16 bytes each, big-endian UUID bytes) followed by 32 fresh random bytes; the
  random bytes are never stored, so nobody can recompute a receipt from the ballot row;
- an entry is the UTF-8 bytes of ``"{vote_hash}:{candidate_id}"`` (``candidate_id`` as a lowercase
  hyphenated UUID);
- the tree is RFC 6962's Merkle Tree Hash (``polis.kit.merkle``) over the entries sorted by
  ``vote_hash``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from polis.kit import merkle

NONCE_BYTES = 32

Ballot = tuple[str, uuid.UUID]
"""One published ballot: ``(vote_hash, candidate_id)``."""


def new_vote_hash(election_id: uuid.UUID, ballot_id: uuid.UUID, candidate_id: uuid.UUID) -> str:
    """A fresh receipt for a ballot: unpredictable, and bound to the election, the ballot and
    the choice."""
    material = election_id.bytes + ballot_id.bytes + candidate_id.bytes
    return hashlib.sha256(material + secrets.token_bytes(NONCE_BYTES)).hexdigest()


def entry(vote_hash: str, candidate_id: uuid.UUID) -> bytes:
    """The leaf data of one ballot."""
    return f"{vote_hash}:{candidate_id}".encode()


def _sorted(ballots: Iterable[Ballot]) -> list[Ballot]:
    return sorted(ballots, key=lambda ballot: ballot[0])


def merkle_root(ballots: Iterable[Ballot]) -> str:
    """The hex Merkle root over ``ballots`` (any order: they are sorted by receipt here)."""
    return merkle.root([entry(*ballot) for ballot in _sorted(ballots)]).hex()


@dataclass(frozen=True)
class Receipt:
    """What a voter needs to check that their ballot is counted: the choice recorded, the
    ballot's place in the published list and the audit path to the published root."""

    candidate_id: uuid.UUID
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    merkle_root: str


def receipt(ballots: Iterable[Ballot], vote_hash: str) -> Receipt | None:
    """The inclusion proof of ``vote_hash`` among ``ballots``, or None if it is not there."""
    ordered = _sorted(ballots)
    index = next((i for i, (hash_, _) in enumerate(ordered) if hash_ == vote_hash), None)
    if index is None:
        return None
    entries = [entry(*ballot) for ballot in ordered]
    return Receipt(
        candidate_id=ordered[index][1],
        leaf_index=index,
        tree_size=len(entries),
        audit_path=[node.hex() for node in merkle.audit_path(entries, index)],
        merkle_root=merkle.root(entries).hex(),
    )


def verify_receipt(vote_hash: str, proof: Receipt) -> bool:
    """Whether ``proof`` shows the ballot ``(vote_hash, proof.candidate_id)`` under
    ``proof.merkle_root``. Malformed hex counts as a failed proof."""
    try:
        path = [bytes.fromhex(node) for node in proof.audit_path]
        expected = bytes.fromhex(proof.merkle_root)
    except ValueError:
        return False
    return merkle.verify_inclusion(
        entry(vote_hash, proof.candidate_id), proof.leaf_index, proof.tree_size, path, expected
    )
