"""Elections: leader and list elections with secret ballots and verifiable receipts."""
