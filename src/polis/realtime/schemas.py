"""The real-time protocol: channels, event names and the close codes of ``/ws``."""

from __future__ import annotations

import uuid

# Redis channels. A member's own events go to their channel; the broadcast channel reaches
# every connected client of every API process.
USER_CHANNEL_PREFIX = "polis:user:"
USER_CHANNEL_PATTERN = USER_CHANNEL_PREFIX + "*"
BROADCAST_CHANNEL = "polis:broadcast"

# The events the product publishes (DESIGN.md §3.8). The hub forwards whatever is published
# on a channel; these names are the contract with the apps.
NOTIFICATION_NEW = "notification.new"
ELECTION_STARTED = "election.started"
SOS_NEW_SIGNAL = "sos.new_signal"
INITIATIVE_SUPPORT_THRESHOLD_REACHED = "initiative.support_threshold_reached"
PING = "ping"
READY = "ready"
EVENTS = (
    NOTIFICATION_NEW,
    ELECTION_STARTED,
    SOS_NEW_SIGNAL,
    INITIATIVE_SUPPORT_THRESHOLD_REACHED,
)

# Close codes (RFC 6455 leaves 4000-4999 to applications).
CLOSE_UNAUTHORIZED = 4401  # missing, bad, expired or revoked token
CLOSE_GOING_AWAY = 1001  # server shutting down
CLOSE_TOO_SLOW = 1008  # the client did not keep up with its events (policy violation)
CLOSE_TRY_AGAIN = 1013  # the server cannot follow Redis right now


def user_channel(user_id: uuid.UUID | str) -> str:
    """The Redis channel of a member's real-time events (the one definition of its name)."""
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def user_of_channel(channel: str) -> str | None:
    """The user id in a member channel's name, or None for any other channel."""
    if channel.startswith(USER_CHANNEL_PREFIX):
        return channel[len(USER_CHANNEL_PREFIX) :] or None
    return None
