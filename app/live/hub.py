"""Fan-out of availability events to the live streams of this process.

One task per process reads the Redis stream (``XREAD BLOCK``) that every ingest process appends
to, so every API process sees every change; each SSE client gets the events inside its bbox.
A client that reconnects with ``Last-Event-ID`` is replayed what it missed from the stream
(``XRANGE``), or told to reload when that part of the stream has been trimmed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis import exceptions as redis_exceptions

from app.live.events import (
    MARKER_FIELD,
    STREAM_KEY,
    STREAM_MAXLEN,
    AvailabilityEvent,
    decode_event,
    event_fields,
    is_marker,
)
from app.live.tasks import cancel_and_wait
from app.logs import get_logger

log = get_logger(__name__)

QUEUE_SIZE = 1000
# The position clients of older versions were given on an empty stream (now a marker entry).
NO_EVENTS_YET = "0-0"
POSITION_TIMEOUT_S = 2.0
# How long one XREAD waits for news: below the Redis client's socket timeout (1 s), so that a
# quiet second is an empty answer, not a timeout that costs a retry pause.
BLOCK_MS = 700


@dataclass(frozen=True)
class Area:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, lat: float, lon: float) -> bool:
        if not self.min_lat <= lat <= self.max_lat:
            return False
        if self.min_lon <= self.max_lon:
            return self.min_lon <= lon <= self.max_lon
        return lon >= self.min_lon or lon <= self.max_lon  # across the antimeridian


@dataclass(eq=False)
class Subscriber:
    area: Area
    # An event, or None: look at ``reset_reason`` (the hub wakes the reader that way).
    queue: asyncio.Queue[tuple[str, AvailabilityEvent] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    # Set when this stream may have a gap (too many changes for the client, or the events
    # could not be read or published): the client must reload, it is told ``reset``.
    reset_reason: str | None = None

    def reset(self, reason: str) -> None:
        if self.reset_reason is None:
            self.reset_reason = reason
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class StreamHub:
    def __init__(self, client: aioredis.Redis | None) -> None:
        self._client = client
        self._subscribers: set[Subscriber] = set()
        self._listeners: list[Callable[[AvailabilityEvent], None]] = []
        self._gap_listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # The id of the last event read, once the loop knows where the stream stands: the
        # position a new client starts from (one Redis read for all of them, not one each).
        self._position: asyncio.Future[str] | None = None

    def subscribe(self, area: Area) -> Subscriber:
        subscriber = Subscriber(area)
        self._subscribers.add(subscriber)
        self._start()
        return subscriber

    def listen(
        self,
        listener: Callable[[AvailabilityEvent], None],
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        """Every event, for as long as the process runs (caches that must forget); ``on_gap``
        when events may have been missed (Redis unreachable: forget everything)."""
        self._listeners.append(listener)
        if on_gap is not None:
            self._gap_listeners.append(on_gap)
        self._start()

    def gap(self, reason: str) -> None:
        """Events may have been lost (not read, or not published by this process): every
        open stream is told to reload, every cache forgets."""
        log.warning("stream.gap", reason=reason, streams=len(self._subscribers))
        for subscriber in list(self._subscribers):
            subscriber.reset(reason)
        for on_gap in self._gap_listeners:
            try:
                on_gap()
            except Exception as exc:  # noqa: BLE001 - one broken listener never stops the rest
                log.error("stream.gap_listener_failed", error=f"{type(exc).__name__}: {exc}")

    def _start(self) -> None:
        if self._closed or self._client is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(), name="stream-hub")

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def close(self) -> None:
        # The flag as well as the cancel: redis-py can swallow a cancel that lands while it
        # connects, and the loop must still end at its next turn.
        self._closed = True
        if self._task is not None:
            await cancel_and_wait([self._task])

    async def replay(self, after_id: str, area: Area) -> list[tuple[str, AvailabilityEvent]] | None:
        """Events after ``after_id`` inside the area; None if the client may have missed some
        that cannot be replayed (the client must reload instead): they were trimmed from the
        stream already, or ``after_id`` is not in this stream at all (Redis restarted empty,
        and what changed while it was down was never published)."""
        assert self._client is not None
        known_position = after_id != NO_EVENTS_YET
        try:
            info: Any = await self._client.xinfo_stream(STREAM_KEY)
        except redis_exceptions.ResponseError:  # no stream: only a client that saw none is whole
            return None if known_position else []
        first = info.get("first-entry")
        # Entries are trimmed oldest first: a client from before the first one left has missed
        # some, if any were trimmed at all (a young stream has lost nothing).
        lost = int(info.get("entries-added") or 0) > int(info.get("length") or 0)
        if lost and first and is_before(after_id, _text(first[0])):
            return None
        # Every id we hand out is an entry of the stream (older versions gave "0-0" for an empty
        # one, which is taken at its word): one that
        # is not there and was not trimmed comes from a stream that is gone.
        if known_position and not await self._client.xrange(
            STREAM_KEY, min=after_id, max=after_id, count=1
        ):
            return None
        entries: Any = await self._client.xrange(STREAM_KEY, min=f"({after_id}")
        out = []
        for entry_id, fields in entries:
            if is_marker(fields):
                continue
            try:
                event = decode_event(event_fields(fields))
            except (ValueError, msgspec.DecodeError):
                continue  # named when the live loop met it
            if area.contains(event.lat, event.lon):
                out.append((_text(entry_id), event))
        return out

    async def current_id(self) -> str:
        """Where the stream stands, for a client subscribed just before: the last event the
        hub has read. Waits for the hub's first read of the stream (shared by every client);
        raises when Redis cannot be reached."""
        if self._client is None:
            raise RuntimeError("no Redis")
        self._start()
        if self._position is None:
            self._position = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(asyncio.shield(self._position), timeout=POSITION_TIMEOUT_S)

    async def _stream_end(self) -> str:
        """The stream's last entry. An empty stream gets a marker entry first: a client's
        position is then always an entry of this very stream, so a client that started on an
        empty stream is told ``reset`` too when Redis restarts empty (a position "0-0" would
        fit the new stream as well, and hide what was never published meanwhile)."""
        assert self._client is not None
        last: Any = await self._client.xrevrange(STREAM_KEY, count=1)
        if not last:
            return _text(
                await self._client.xadd(
                    STREAM_KEY, {MARKER_FIELD: b"1"}, maxlen=STREAM_MAXLEN, approximate=True
                )
            )
        return _text(last[0][0])

    async def _read(self) -> None:
        assert self._client is not None
        last_id: str | None = None
        failing = False
        while not self._closed and (self._subscribers or self._listeners):
            try:
                if last_id is None:
                    last_id = await self._stream_end()
                    # Known now: clients waiting for it need not wait for the first XREAD (up
                    # to BLOCK_MS on a quiet stream); what comes after it is read from here.
                    self._set_position(last_id)
                answer: Any = await self._client.xread(
                    {STREAM_KEY: last_id}, block=BLOCK_MS, count=500
                )
            except asyncio.CancelledError:
                raise
            except (TimeoutError, redis_exceptions.TimeoutError):
                continue  # a slow answer: nothing new yet, ask again at once
            except Exception as exc:  # noqa: BLE001 - Redis down: retry, clients are told
                log.warning("stream.read_failed", error=f"{type(exc).__name__}: {exc}")
                if not failing:
                    failing = True
                    self.gap("live stream interrupted (Redis unreachable)")
                # Where the stream stands is not known while it cannot be read: new clients are
                # refused (503) instead of being given a stale position.
                if self._position is None or self._position.done():
                    self._position = asyncio.get_running_loop().create_future()
                self._position.set_exception(ConnectionError(str(exc)))
                self._position.exception()  # retrieved: waiters see it, nobody warns
                await asyncio.sleep(1)
                continue
            failing = False
            self._set_position(last_id)
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    last_id = _text(entry_id)
                    if is_marker(fields):
                        continue
                    try:
                        event = decode_event(event_fields(fields))
                    except (ValueError, msgspec.DecodeError) as exc:
                        # One unreadable entry is skipped, named, and never stops the stream.
                        log.error("stream.bad_entry", id=last_id, error=str(exc))
                        continue
                    self._dispatch(last_id, event)
            self._set_position(last_id)
        self._task = None
        self._position = None  # not read any more: the next reader asks Redis again

    def _set_position(self, last_id: str) -> None:
        if self._position is None or self._position.done():
            self._position = asyncio.get_running_loop().create_future()
        self._position.set_result(last_id)

    def tell_listeners(self, events: Iterable[AvailabilityEvent]) -> None:
        """Events committed by this very process, before they are acknowledged: its own caches
        never answer with what it has just changed (the stream brings the same events again)."""
        for event in events:
            self._tell(event)

    def _tell(self, event: AvailabilityEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - one broken listener never stops the stream
                log.error("stream.listener_failed", error=f"{type(exc).__name__}: {exc}")

    def _dispatch(self, event_id: str, event: AvailabilityEvent) -> None:
        self._tell(event)
        for subscriber in list(self._subscribers):
            if subscriber.area.contains(event.lat, event.lon):
                try:
                    subscriber.queue.put_nowait((event_id, event))
                except asyncio.QueueFull:
                    subscriber.reset("too many changes")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def is_stream_id(value: str) -> bool:
    """A Redis stream id as we hand them out (``ms-seq``)."""
    ms, dash, seq = value.partition("-")
    return bool(dash) and ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()


def is_before(a: str, b: str) -> bool:
    """Redis stream ids ``ms-seq``: is a strictly before b?"""
    am, _, aseq = a.partition("-")
    bm, _, bseq = b.partition("-")
    try:
        return (int(am), int(aseq or 0)) < (int(bm), int(bseq or 0))
    except ValueError:
        return True
