"""The server's cached proof tree answers exactly what the reference ``ledger.receipt`` does."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from polis.elections import base, ledger


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100])
def test_every_proof_of_every_tree_size_matches_the_reference(size: int) -> None:
    candidates = [uuid.uuid4() for _ in range(3)]
    ballots = [
        (hashlib.sha256(f"{size}-{n}".encode()).hexdigest(), candidates[n % 3]) for n in range(size)
    ]
    tree = base._build_tree(list(reversed(ballots)))
    assert tree.merkle_root == ledger.merkle_root(ballots)
    for vote_hash, _ in ballots:
        proof = tree.receipt(vote_hash)
        assert proof == ledger.receipt(ballots, vote_hash)
        assert proof is not None and ledger.verify_receipt(vote_hash, proof)
    assert tree.receipt("0" * 64) is None
