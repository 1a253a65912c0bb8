"""One Redis subscription per API process, fanned out to the process's WebSocket connections.

The hub holds a single pub/sub connection (``PSUBSCRIBE polis:user:*`` plus
``SUBSCRIBE polis:broadcast``) and one reader task. Each message is handed to the local
connections of its member (or to all of them, for the broadcast channel) through a bounded
queue per connection: a slow client never holds up the others; its queue fills and it is
closed. A thousand connections therefore cost one Redis connection, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from polis.kit.logging import get_logger
from polis.realtime.schemas import BROADCAST_CHANNEL, USER_CHANNEL_PATTERN, user_of_channel

log = get_logger(__name__)

# Messages a connection may have waiting before it counts as too slow and is closed.
QUEUE_SIZE = 256
# Backoff between attempts to subscribe again after Redis went away.
RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
# How long start() waits for the first subscription before letting the app serve anyway.
START_WAIT_SECONDS = 5.0


@dataclass(eq=False)
class Subscriber:
    """One WebSocket connection, as the hub sees it: its member and its queue of frames."""

    user_id: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    # Set when the hub drops the connection (its queue overflowed).
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed.set()


class RealtimeHub:
    """The process's fan-out from Redis pub/sub to local subscribers."""

    def __init__(self, redis_url: str) -> None:
        # Its own client: a pub/sub connection blocks on reads, so no socket timeout.
        self._redis: Redis = Redis.from_url(
            redis_url, decode_responses=True, socket_connect_timeout=2, socket_keepalive=True
        )
        self._by_user: dict[str, set[Subscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.delivered = 0

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader task; returns once the subscription is active."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="polis-realtime-hub")
        # Bounded: with Redis down the app still starts, and the reader keeps retrying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), START_WAIT_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- subscribers ---------------------------------------------------------------------

    def add(self, user_id: str) -> Subscriber:
        subscriber = Subscriber(user_id=user_id)
        self._by_user[user_id].add(subscriber)
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        local = self._by_user.get(subscriber.user_id)
        if local is None:
            return
        local.discard(subscriber)
        if not local:
            del self._by_user[subscriber.user_id]

    @property
    def connection_count(self) -> int:
        return sum(len(local) for local in self._by_user.values())

    def dispatch(self, channel: str, frame: str) -> int:
        """Hand ``frame`` from ``channel`` to the local subscribers it is for."""
        if channel == BROADCAST_CHANNEL:
            targets = [s for local in self._by_user.values() for s in local]
        else:
            user_id = user_of_channel(channel)
            targets = list(self._by_user.get(user_id, ())) if user_id else []
        for subscriber in targets:
            subscriber.offer(frame)
        self.delivered += len(targets)
        return len(targets)

    # --- the reader ----------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(USER_CHANNEL_PATTERN)
                await pubsub.subscribe(BROADCAST_CHANNEL)
                self._subscribed.set()
                delay = RECONNECT_MIN_SECONDS
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind not in ("message", "pmessage"):
                        continue
                    channel, data = message.get("channel"), message.get("data")
                    if isinstance(channel, str) and isinstance(data, str):
                        self.dispatch(channel, data)
            except (RedisError, OSError) as exc:
                # Events published while we were away are lost (pub/sub keeps nothing); the
                # apps fetch /notifications on reconnect, the notification itself is in the DB.
                log.warning("realtime.redis_lost", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
