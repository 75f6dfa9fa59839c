"""The map's server side: clusters (``/v1/clusters``) and the live stream (``/v1/stream``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from app.api import params as p
from app.api.errors import InvalidParameter
from app.api.nearby_cache import NearbyCache
from app.db import search
from app.db.clusters import clusters
from app.live.events import cell_hex
from app.live.hub import Area, StreamHub, _older
from app.runtime import Runtime

AnyRequest = Request[Any, Any, Any]
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
    generated_at: datetime


@get(
    "/v1/clusters",
    summary="Locations clustered by H3 cell for a map view",
    tags=["map"],
    dependencies={"filters": Provide(p.provide_filters)},
)
async def get_clusters(
    request: AnyRequest,
    filters: NamedDependency[search.Filters],
    bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat")],
    zoom: Annotated[float, QueryParameter(description="Map zoom level (0–22).")],
) -> Response[Clusters]:
    """Per H3 cell (resolution chosen from the zoom): matching locations, their EVSEs, how many
    are available now, and the mean position of the cell's locations (where to draw it)."""
    box = p.parse_bbox(bbox)
    if not 0 <= zoom <= 22:
        raise InvalidParameter("zoom", f"must be between 0 and 22, got {zoom:g}")
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.connection() as conn:
        resolution, rows = await clusters(
            conn,
            bbox=box,
            zoom=zoom,
            filters=filters,
            now=datetime.now(UTC),
            stale_after_s=runtime.settings.stale_after_s,
            refresh_s=runtime.settings.cluster_refresh_s,
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
    return Response(body, headers={"Cache-Control": "public, max-age=5"})


def _area(bbox: str) -> Area:
    box = p.parse_bbox(bbox)
    return Area(box.min_lon, box.min_lat, box.max_lon, box.max_lat)


@get(
    "/v1/stream", summary="Live availability changes in an area (Server-Sent Events)", tags=["map"]
)
async def stream(
    request: AnyRequest,
    bbox: Annotated[str, QueryParameter(description="minLon,minLat,maxLon,maxLat")],
    last_event_id: Annotated[
        str | None,
        QueryParameter(
            description="Resume after this event id (the Last-Event-ID header works too)."
        ),
    ] = None,
) -> Response[Any]:
    """``event: availability`` with a location's new counts and changed EVSEs, ``id`` = the
    event's position in the stream. Reconnecting with ``Last-Event-ID`` replays what was missed;
    ``event: reset`` means the client must reload the area (too far behind)."""
    area = _area(bbox)
    runtime: Runtime = request.app.state.runtime
    hub = runtime.extras.get("hub")
    if runtime.redis is None or not isinstance(hub, StreamHub):
        return Response(
            {"error": {"parameter": "stream", "message": "live stream unavailable"}},
            status_code=503,
        )
    resume_from = request.headers.get("last-event-id") or last_event_id
    try:
        current = await hub.current_id()
    except Exception:  # noqa: BLE001 - Redis down: say so, the client retries
        return Response(
            {"error": {"parameter": "stream", "message": "Redis unavailable"}},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return ServerSentEvent(
        _events(hub, area, resume_from, current),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    hub: StreamHub, area: Area, resume_from: str | None, current: str
) -> AsyncIterator[ServerSentEventMessage]:
    subscriber = hub.subscribe(area)  # before the replay: nothing falls between the two
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
                event_id, event = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if subscriber.overflowed:
                yield ServerSentEventMessage(event="reset", data='{"reason": "too many changes"}')
                return
            if not _older(delivered, event_id):
                continue  # already sent by the replay
            delivered = event_id
            yield ServerSentEventMessage(
                event="availability", id=event_id, data=_encoder.encode(event)
            )
    finally:
        hub.unsubscribe(subscriber)


@asynccontextmanager
async def live_lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    hub = StreamHub(runtime.redis)
    runtime.extras["hub"] = hub
    if runtime.settings.nearby_cache and runtime.redis is not None:
        # Only with the event stream: it is what keeps the cache's availability live.
        cache = NearbyCache(runtime.pool, runtime.settings.stale_after_s)
        runtime.extras["nearby_cache"] = cache
        hub.listen(cache.forget)
    try:
        yield
    finally:
        await hub.close()
