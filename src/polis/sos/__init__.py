"""SOS signals: raising, routing, verification, escalation and the deadline sweep."""
