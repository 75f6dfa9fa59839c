"""Sync for offline copies (issue 14): a snapshot of every visible location and the change feed
that keeps a copy in step from the snapshot's cursor.

- ``GET /v1/export``: NDJSON (or an RFC 8142 GeoJSON text sequence), gzip when asked, every
  visible location in the detail's shape, from one database snapshot, streamed in batches
  (memory bounded by a batch whatever the number of locations); the feed cursor it is
  consistent with in the ``Wattlas-Cursor`` header and as its last line ``{"cursor": …}``.
- ``GET /v1/changes``: the committed changes after a cursor, in commit order, each with what
  it is now; ``wait_s`` long-polls.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Response, Stream

from app.api import params as p
from app.api.errors import ApiError, InvalidParameter
from app.api.geojson import feature
from app.api.locations import detail_body, tariff_info
from app.api.pricer import PricedTariff
from app.api.schemas import (
    AvailabilityState,
    Change,
    Changes,
    EvseState,
    FeedTariff,
    LocationDetail,
)
from app.domain.status import BucketCounts
from app.services import Services
from app.store import changes as change_store
from app.store.detail import Found
from app.store.prices import TariffRef

AnyRequest = Request[Any, Any, Any]
NDJSON = "application/x-ndjson"
GEOJSON_SEQ = "application/geo+json-seq"
CURSOR_HEADER = "Wattlas-Cursor"
MAX_CHANGES = 1000
DEFAULT_CHANGES = 100
MAX_WAIT_S = 30.0
EXPORT_BATCH = 500  # locations per statement group (and per gzip flush)
_CURSOR = re.compile(r"[0-9]{1,18}")
_COUNTRY = re.compile(r"[A-Z]{2,3}")
_encoder = msgspec.json.Encoder()


def parse_cursor(value: str) -> int:
    if not _CURSOR.fullmatch(value):
        raise InvalidParameter(
            "cursor",
            "must be a cursor this service gave (the Wattlas-Cursor of GET /v1/export, or a "
            f"next_cursor), got {value[:40]!r}",
        )
    return int(value)


async def _check_cursor(services: Services, after: int) -> None:
    horizon = await change_store.horizon(services.store)
    restart = "load GET /v1/export again and follow its Wattlas-Cursor"
    if after < horizon.pruned_through:
        raise ApiError(
            410,
            "cursor_expired",
            f"changes up to {horizon.pruned_through} are no longer kept (retention "
            f"{services.settings.changes_retention_s} s): {restart}",
            parameter="cursor",
        )
    if after > horizon.last:
        raise ApiError(
            410,
            "cursor_unknown",
            f"cursor {after} is after the newest change ({horizon.last}): {restart}",
            parameter="cursor",
        )


def _ref(tariff: dict[str, Any]) -> TariffRef:
    return TariffRef(tariff["row_id"], tariff["last_updated"])


async def _decoded(
    services: Services, tariffs: Iterable[dict[str, Any]]
) -> dict[TariffRef, PricedTariff]:
    """The pricer's reading of these tariff rows (cached per version)."""
    refs = {_ref(t) for t in tariffs}
    return await services.pricer.decoded(sorted(refs)) if refs else {}


def _tariffs_of(found: Iterable[Found]) -> Iterator[dict[str, Any]]:
    return (t for _, _, tariffs in found for t in tariffs)


def _body(found: Found, decoded: dict[TariffRef, PricedTariff]) -> LocationDetail:
    location, evses, tariffs = found
    by_id = {t["tariff_id"]: d for t in tariffs if (d := decoded.get(_ref(t))) is not None}
    return detail_body(location, evses, tariffs, by_id, None)


@get(
    "/v1/changes",
    summary="What changed since a cursor",
    operation_id="listChanges",
    tags=["sync"],
    guards=[p.no_unknown_parameters],
)
async def list_changes(
    services: NamedDependency[Services],
    cursor: Annotated[
        str,
        QueryParameter(
            description="Where to read from: the `Wattlas-Cursor` of `GET /v1/export`, or the "
            "`next_cursor` of the previous answer."
        ),
    ],
    limit: Annotated[
        int, QueryParameter(description=f"At most this many changes (1 to {MAX_CHANGES}).")
    ] = DEFAULT_CHANGES,
    wait_s: Annotated[
        float,
        QueryParameter(
            description="With nothing new, wait up to this long for a change"
            f" (0 to {MAX_WAIT_S:g} s)."
        ),
    ] = 0.0,
) -> Response[Changes]:
    """Every committed change after ``cursor`` exactly once, in commit order: ``location``
    (created, changed, shown again: the location in the snapshot's shape), ``removed`` (drop
    it), ``availability`` (counts and each EVSE's status), ``tariff``. A cursor older than the
    retention (``WATTLAS_CHANGES_RETENTION_S``, 7 days) answers 410: start again from the
    snapshot."""
    after = parse_cursor(cursor)
    p.check_limit(limit, "limit", MAX_CHANGES)
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise InvalidParameter("wait_s", f"must be between 0 and {MAX_WAIT_S:g}, got {wait_s:g}")
    await change_store.sequence(services.store)
    await _check_cursor(services, after)
    rows = await change_store.read_changes(services.store, after, limit + 1)
    if not rows and wait_s > 0 and await services.feed_watch.wait_past(after, wait_s):
        rows = await change_store.read_changes(services.store, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    answer = Changes(
        changes=await _changes(services, rows),
        next_cursor=str(rows[-1].seq) if rows else cursor,
        more=more,
    )
    body: Any = _encoder.encode(answer)  # encoded once, here
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


async def _changes(services: Services, rows: Sequence[change_store.Change]) -> list[Change]:
    now = datetime.now(UTC)

    def locations(kind: str) -> list[int]:
        return [r.location_pk for r in rows if r.kind == kind and r.location_pk is not None]

    found = await change_store.details(
        services.store, locations("location"), now, services.settings.stale_after_s
    )
    decoded = await _decoded(services, _tariffs_of(found.values()))
    states = await change_store.availability(services.store, locations("availability"))
    tariffs = await change_store.tariffs(
        services.store, [r.tariff_pk for r in rows if r.tariff_pk is not None], now
    )
    tariff_decoded = await _decoded(services, tariffs.values())
    bodies: dict[int, LocationDetail] = {}  # a location changed several times: built once
    changes = []
    for row in rows:
        change = Change(
            cursor=str(row.seq),
            kind="removed" if row.kind != "tariff" else "tariff",
            location_id=row.public_id if row.kind != "tariff" else None,
            committed_at=row.committed_at,
        )
        if row.kind == "location" and (f := found.get(row.location_pk or 0)) is not None:
            change.kind = "location"
            pk = f[0]["pk"]
            if pk not in bodies:
                bodies[pk] = _body(f, decoded)
            change.location = bodies[pk]
        elif row.kind == "availability" and (s := states.get(row.location_pk or 0)) is not None:
            change.kind = "availability"
            change.availability = _availability(s)
        elif row.kind == "tariff":
            change.tariff_key = row.public_id
            if (t := tariffs.get(row.tariff_pk or 0)) is not None:
                info = tariff_info(t, tariff_decoded.get(_ref(t)))
                change.tariff = FeedTariff(
                    **msgspec.structs.asdict(info),
                    country_code=t["country_code"],
                    party_id=t["party_id"],
                )
        changes.append(change)
    return changes


def _availability(row: dict[str, Any]) -> AvailabilityState:
    # The projection's counts as stored (app.api.summaries builds the same, staleness applied,
    # on the nearby hot path: kept apart there so it allocates nothing more).
    return AvailabilityState(
        counts=BucketCounts(
            row["evse_count"],
            row["available_count"],
            row["occupied_count"],
            row["out_of_service_count"],
            row["unknown_count"],
            row["planned_count"],
        ),
        status_updated_at=row["status_updated_at"],
        last_updated=row["last_updated"],
        evses=[msgspec.convert(e, EvseState) for e in row["evses"]],
    )


def _snapshot_filters(
    bbox: str | None, country: str | None, network: str | None, updated_since: str | None
) -> change_store.SnapshotFilters:
    box = None
    if bbox is not None:
        parsed = p.parse_bbox(bbox)
        box = (parsed.min_lon, parsed.min_lat, parsed.max_lon, parsed.max_lat)
    countries = tuple(c.upper() for c in p.list_param(country, "country"))
    for code in countries:
        if not _COUNTRY.fullmatch(code):
            raise InvalidParameter("country", f"must be ISO 3166-1 country codes, got {code!r}")
    return change_store.SnapshotFilters(
        bbox=box,
        countries=countries,
        networks=tuple(p.list_param(network, "network")),
        updated_since=p.parse_instant("updated_since", updated_since) if updated_since else None,
    )


@get(
    "/v1/export",
    summary="Every visible location, for an offline copy",
    operation_id="exportLocations",
    tags=["sync"],
    guards=[p.no_unknown_parameters],
)
async def export(
    request: AnyRequest,
    services: NamedDependency[Services],
    bbox: Annotated[
        str | None, QueryParameter(description="minLon,minLat,maxLon,maxLat (WGS 84).")
    ] = None,
    country: Annotated[
        str | None,
        QueryParameter(description="Comma list of countries (ISO 3166-1 alpha-3 or alpha-2)."),
    ] = None,
    network: Annotated[
        str | None, QueryParameter(description="Comma list of network names.")
    ] = None,
    updated_since: Annotated[
        str | None,
        QueryParameter(description="Only locations changed after this instant (RFC 3339)."),
    ] = None,
) -> Stream:
    """One line per visible location in the detail's shape (without ``price``: price with
    ``POST /v1/price`` or the tariffs each line carries), from one consistent database
    snapshot, then a last line ``{"cursor": …}``: the ``GET /v1/changes`` cursor to follow
    from (also in the ``Wattlas-Cursor`` header). NDJSON, or a GeoJSON text sequence (RFC
    8142) with ``Accept: application/geo+json-seq``; gzip with ``Accept-Encoding: gzip``."""
    filters = _snapshot_filters(bbox, country, network, updated_since)
    geojson = GEOJSON_SEQ in (request.headers.get("accept") or "")
    gzip = "gzip" in (request.headers.get("accept-encoding") or "").lower()
    if services.exports.locked():
        raise ApiError(
            503,
            "busy",
            "this node is streaming as many snapshots as it serves at once; retry shortly",
            headers={"Retry-After": "5"},
        )
    stack = AsyncExitStack()
    await stack.enter_async_context(services.exports)
    try:
        snapshot = await stack.enter_async_context(change_store.snapshot(services.store))
    except BaseException:
        await stack.aclose()
        raise
    cursor = str(snapshot.position.last)
    headers = {CURSOR_HEADER: cursor, "Cache-Control": "no-store"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Vary"] = "Accept, Accept-Encoding"
    return Stream(
        _lines(services, snapshot, filters, stack, cursor=cursor, geojson=geojson, gzip=gzip),
        media_type=GEOJSON_SEQ if geojson else NDJSON,
        headers=headers,
    )


async def _lines(
    services: Services,
    snapshot: change_store.Snapshot,
    filters: change_store.SnapshotFilters,
    stack: AsyncExitStack,
    *,
    cursor: str,
    geojson: bool,
    gzip: bool,
) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None
    prefix = b"\x1e" if geojson else b""
    try:
        async for batch in snapshot.batches(
            filters,
            batch=EXPORT_BATCH,
            now=datetime.now(UTC),
            stale_after_s=services.settings.stale_after_s,
        ):
            decoded = await _decoded(services, _tariffs_of(batch))
            chunk = bytearray()
            for found in batch:
                body = _body(found, decoded)
                chunk += prefix
                chunk += _encoder.encode(feature(body) if geojson else body)
                chunk += b"\n"
            yield compressor.compress(chunk) if compressor else bytes(chunk)
        last = prefix + _encoder.encode({"cursor": cursor}) + b"\n"
        yield compressor.compress(last) + compressor.flush() if compressor else last
    finally:
        await stack.aclose()
