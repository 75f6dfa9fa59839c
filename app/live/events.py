"""Availability events in Redis (architecture.md: every applied status change → event).

Each event goes to one stream (``wattlas:events``, capped; its ids are what SSE clients resume
from with ``Last-Event-ID``) and to pub/sub channels keyed by location and by H3 cell, for caches
and any other listener. Redis is derived state: when it is down, publishing logs and gives up;
PostgreSQL still has the truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import h3.api.basic_int as h3
import msgspec
import redis.asyncio as aioredis

from app.domain.status import BucketCounts
from app.logs import get_logger
from app.store.locations import ApplyResult, LocationState

log = get_logger(__name__)

STREAM_KEY = "wattlas:events"
STREAM_MAXLEN = 200_000
LOCATION_CHANNEL = "wattlas:loc:{}"
CELL_CHANNEL = "wattlas:h3r5:{}"


class EvseStatus(msgspec.Struct):
    uid: str
    status: str


class AvailabilityEvent(msgspec.Struct, kw_only=True):
    """One location's availability after a write."""

    type: str = "availability"
    location_id: str
    lat: float
    lon: float
    h3_r5: str
    visible: bool
    availability: BucketCounts
    evses: list[EvseStatus]
    at: datetime
    # "status": only EVSE statuses changed; "location": the location itself changed too (new,
    # hidden or shown, replaced): caches of what is where must forget it.
    kind: str = "status"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AvailabilityEvent)


def decode_event(payload: bytes) -> AvailabilityEvent:
    return _decoder.decode(payload)


def cell_hex(cell: int) -> str:
    return h3.int_to_str(cell) if hasattr(h3, "int_to_str") else format(cell, "x")


async def publish(client: aioredis.Redis | None, events: Sequence[AvailabilityEvent]) -> bool:
    """Append to the stream and publish on the channels; False (logged) when Redis failed."""
    if client is None or not events:
        return client is not None
    try:
        async with client.pipeline(transaction=False) as pipe:
            for event in events:
                payload = _encoder.encode(event)
                pipe.xadd(STREAM_KEY, {"e": payload}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.publish(LOCATION_CHANNEL.format(event.location_id), payload)
                pipe.publish(CELL_CHANNEL.format(event.h3_r5), payload)
            await pipe.execute()
    except Exception as exc:  # noqa: BLE001 - Redis is derived state; never fail a write on it
        log.warning(
            "events.publish_failed", events=len(events), error=f"{type(exc).__name__}: {exc}"
        )
        return False
    return True


def now() -> datetime:
    return datetime.now(UTC)


# A stream entry that is no event: the position handed out on an empty stream (app.live.hub).
MARKER_FIELD = "m"


def is_marker(fields: dict[Any, Any]) -> bool:
    return MARKER_FIELD in fields or MARKER_FIELD.encode() in fields


def event_fields(fields: dict[Any, Any]) -> bytes:
    value = fields.get(b"e") or fields.get("e")
    if not isinstance(value, bytes | str):
        raise ValueError("stream entry has no 'e' field")
    return value.encode() if isinstance(value, str) else value


def availability_events(
    result: ApplyResult, at: datetime, *, location_writes: bool = False
) -> list[AvailabilityEvent]:
    """One event per location whose EVSE statuses changed. With ``location_writes`` (pushes, one
    location at a time) also one per location written without a status change (new, moved,
    hidden or shown, renamed), so that caches of what is where forget it. A pull's pages write
    hundreds of locations that mostly did not change: they send status changes only."""
    changed: dict[int, list[EvseStatus]] = defaultdict(list)
    for change in result.status_changes:
        changed[change.location_pk].append(EvseStatus(change.evse_uid, change.new_status))
    events = []
    for state in _unique_states(result.states):
        if state.location_pk not in changed and (state.status_only or not location_writes):
            continue
        events.append(
            AvailabilityEvent(
                location_id=state.public_id,
                lat=state.lat,
                lon=state.lon,
                h3_r5=cell_hex(state.h3_r5),
                visible=state.visible,
                availability=state.counts,
                evses=changed.get(state.location_pk, []),
                at=at,
                kind="status" if state.status_only else "location",
            )
        )
    return events


def _unique_states(states: Sequence[LocationState]) -> list[LocationState]:
    """The last state of each location; "status only" if every write of it was."""
    latest: dict[int, LocationState] = {}
    for state in states:
        before = latest.get(state.location_pk)
        if before is not None and not before.status_only:
            state = state._replace(status_only=False)
        latest[state.location_pk] = state
    return list(latest.values())
