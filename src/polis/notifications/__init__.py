"""In-app notifications (DESIGN.md §3.8): written in the caller's transaction, sent after commit."""
