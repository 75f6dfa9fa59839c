"""The map's server side: clusters (``/v1/clusters``) and the live stream (``/v1/stream``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from app.api import caching
from app.api import params as p
from app.api.errors import ApiError, InvalidParameter
from app.api.schemas import Timestamp
from app.domain.filters import Filters
from app.live.events import cell_hex
from app.live.hub import Area, StreamHub, Subscriber, is_before, is_stream_id
from app.logs import get_logger
from app.services import Services
from app.store import clusters as cluster_store

AnyRequest = Request[Any, Any, Any]
log = get_logger(__name__)
HEARTBEAT_S = 15.0
_encoder = msgspec.json.Encoder()


class Cluster(msgspec.Struct):
    cell: str
    lat: float
    lon: float
    locations: int
    locations_available: int
    evses: int
    available: int
    occupied: int
    out_of_service: int
    stale: int


class Clusters(msgspec.Struct):
    zoom: float
    resolution: int
    cells: list[Cluster]
    locations: int
    generated_at: Timestamp


@get(
    "/v1/clusters",
    summary="Locations clustered by H3 cell for a map view",
    operation_id="getClusters",
    tags=["map"],
    dependencies={"filters": Provide(p.provide_filters)},
    guards=[p.no_unknown_parameters],
)
async def get_clusters(
    request: AnyRequest,
    services: NamedDependency[Services],
    filters: NamedDependency[Filters],
    bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat")],
    zoom: Annotated[float, QueryParameter(description="Map zoom level (0–22).")],
) -> Response[Clusters]:
    """Per H3 cell (resolution chosen from the zoom): matching locations, their EVSEs, how many
    are available now, and the mean position of the cell's locations (where to draw it)."""
    box = p.parse_bbox(bbox)
    if not 0 <= zoom <= 22:
        raise InvalidParameter("zoom", f"must be between 0 and 22, got {zoom:g}")
    resolution, rows = await cluster_store.clusters(
        services.store,
        bbox=box,
        zoom=zoom,
        filters=filters,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
        refresh_s=services.settings.cluster_refresh_s,
    )
    cells = [
        Cluster(
            cell=cell_hex(int(r["cell"])),
            lat=round(float(r["lat"]), 6),
            lon=round(float(r["lon"]), 6),
            locations=r["locations"],
            locations_available=r["locations_available"],
            evses=int(r["evses"]),
            available=int(r["available"] or 0),
            occupied=int(r["occupied"] or 0),
            out_of_service=int(r["out_of_service"] or 0),
            stale=int(r["stale"] or 0),
        )
        for r in rows
    ]
    body = Clusters(zoom, resolution, cells, sum(c.locations for c in cells), datetime.now(UTC))
    return caching.answer(request, _encoder.encode(body), media_type="application/json")


def _area(bbox: str) -> Area:
    box = p.parse_bbox(bbox)
    return Area(box.min_lon, box.min_lat, box.max_lon, box.max_lat)


@get(
    "/v1/stream",
    summary="Live availability changes in an area (Server-Sent Events)",
    operation_id="streamAvailability",
    tags=["map"],
    guards=[p.no_unknown_parameters],
)
async def stream(
    request: AnyRequest,
    services: NamedDependency[Services],
    bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat")],
    last_event_id: Annotated[
        str | None,
        QueryParameter(
            description="Resume after this event id (the Last-Event-ID header works too)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        QueryParameter(
            description="The API key, for browsers' EventSource, which cannot send headers "
            "(elsewhere send it as Authorization: Bearer or X-Api-Key)."
        ),
    ] = None,
) -> Response[Any]:
    """``event: availability`` with a location's new counts and changed EVSEs, ``id`` = the
    event's position in the stream. Reconnecting with ``Last-Event-ID`` replays what was missed;
    ``event: reset`` means the client must reload the area (too far behind)."""
    area = _area(bbox)
    hub = services.hub
    if services.redis is None:
        raise ApiError(503, "unavailable", "live stream unavailable: no Redis configured")
    resume_from = request.headers.get("last-event-id") or last_event_id
    if resume_from is not None and not (len(resume_from) <= 41 and is_stream_id(resume_from)):
        raise InvalidParameter(
            "last_event_id",
            f"must be an event id this stream sent (ms-seq), got {resume_from!r:.60}",
        )
    # Subscribed before the position is known: nothing can fall between the two.
    subscriber = hub.subscribe(area)
    try:
        current = await hub.current_id()
    except Exception:  # noqa: BLE001 - Redis down: say so, the client retries
        hub.unsubscribe(subscriber)
        raise ApiError(
            503, "unavailable", "live stream unavailable: Redis does not answer",
            headers={"Retry-After": "5"},
        ) from None  # fmt: skip
    return ServerSentEvent(
        _events(hub, subscriber, area, resume_from, current),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    hub: StreamHub, subscriber: Subscriber, area: Area, resume_from: str | None, current: str
) -> AsyncIterator[ServerSentEventMessage]:
    delivered = current
    try:
        # Resuming, the hello keeps the client's position: a drop during the replay resumes
        # from the same place, not from after what was never received.
        yield ServerSentEventMessage(
            event="hello",
            id=resume_from or current,
            data=_encoder.encode({"stream_id": current}),
            retry=2000,
        )
        if resume_from:
            replayed = await hub.replay(resume_from, area)
            if replayed is None:
                yield ServerSentEventMessage(event="reset", data='{"reason": "too far behind"}')
                return
            for event_id, event in replayed:
                yield ServerSentEventMessage(
                    event="availability", id=event_id, data=_encoder.encode(event)
                )
                delivered = event_id
        while True:
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if subscriber.reset_reason is not None:
                yield ServerSentEventMessage(
                    event="reset", data=_encoder.encode({"reason": subscriber.reset_reason})
                )
                return
            if item is None:
                continue
            event_id, event = item
            if not is_before(delivered, event_id):
                continue  # already sent by the replay
            delivered = event_id
            yield ServerSentEventMessage(
                event="availability", id=event_id, data=_encoder.encode(event)
            )
    except Exception as exc:  # the answer has started: log it, tell the client
        log.error("stream.failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        yield ServerSentEventMessage(event="reset", data='{"reason": "stream failed"}')
    finally:
        hub.unsubscribe(subscriber)
