"""Nearby answers from memory, exactly as the database would give them, kept live by events.

"What is near me" is the most frequent question and the most repeated: drivers in the same
area ask it over and over. Each API process keeps two things (architecture.md: H3 cells as
cache keys, availability events for caches):

- **Candidates per H3 cell** (resolution 8, ~0.7 km²) and radius bucket: every visible location
  within the bucket's radius plus the cell's own reach of the cell centre. By the triangle
  inequality that includes every location within the radius of any point of the cell.
- **Each location's summary**, encoded once (everything but ``distance_m``).

A question is answered by measuring the candidates on the sphere (a cut with a safe margin),
then exactly on the WGS 84 ellipsoid (GeographicLib, the algorithm PostGIS uses), ordering by
(distance, id) as the SQL does, and joining the encoded summaries.

Freshness: a status event forgets that location's summary (the next answer re-reads it); a
``location`` event (new, hidden, shown, replaced) also forgets the candidates around it. Without
events (Redis down, or locations hidden or added by a pull), summaries live ``SUMMARY_TTL_S``
and candidates ``CELL_TTL_S``; a candidate found hidden or moved sends the question to the
database. Only the unfiltered JSON question up to ``MAX_RADIUS_M`` is answered here.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import h3
import msgspec
import numpy as np
import numpy.typing as npt
from psycopg_pool import AsyncConnectionPool
from pyproj import Geod

from app.api.summaries import summarise
from app.db import search
from app.live.events import AvailabilityEvent

MAX_RADIUS_M = 10_000.0
MAX_LIMIT = 100
RADIUS_BUCKETS_M = (1_000.0, 2_000.0, 5_000.0, MAX_RADIUS_M)
RESOLUTION = 8
SUMMARY_TTL_S = 10.0  # bounds how late open_now and network staleness can be
CELL_TTL_S = 30.0  # bounds how late a location added or hidden by a pull can be
MAX_SUMMARIES = 60_000
MAX_CELLS = 20_000
# Haversine on the mean sphere vs the ellipsoid: at most 0.56 % apart (0.6 % with margin).
SPHERE_ERROR = 0.006
EARTH_RADIUS_M = 6371008.8
# Rings of resolution-8 cells around a changed location whose candidates could hold it: the
# largest reach over the smallest spacing of cell centres (~0.5 km) anywhere on the globe.
_RINGS = math.ceil((MAX_RADIUS_M + 1_500) / 500)

Floats = npt.NDArray[np.float64]


@dataclass
class _Cell:
    expires: float
    centre_lat: float
    centre_lon: float
    reach_m: float
    ids: list[str]  # ordered by id: ties in distance keep the SQL's order
    lat_rad: Floats
    lon_rad: Floats
    cos_lat: Floats
    lats: Floats
    lons: Floats


@dataclass
class _Summary:
    expires: float
    lat: float
    lon: float
    body: bytes  # the encoded LocationSummary, without distance_m


class NearbyCache:
    def __init__(self, pool: AsyncConnectionPool, stale_after_s: int) -> None:
        self._pool = pool
        self._stale_after_s = stale_after_s
        self._cells: OrderedDict[tuple[int, float], _Cell] = OrderedDict()
        self._summaries: OrderedDict[str, _Summary] = OrderedDict()
        self._building: dict[tuple[int, float], asyncio.Future[_Cell]] = {}
        self._geod = Geod(ellps="WGS84")
        self._encoder = msgspec.json.Encoder()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def answers(filters: search.Filters, radius_m: float, limit: int) -> bool:
        return radius_m <= MAX_RADIUS_M and limit <= MAX_LIMIT and filters == search.Filters()

    async def nearby(self, lat: float, lon: float, radius_m: float, limit: int) -> bytes | None:
        """The JSON body of ``/v1/locations/nearby``; None when the database must answer."""
        bucket = next(b for b in RADIUS_BUCKETS_M if radius_m <= b)
        key = (h3.latlng_to_cell(lat, lon, RESOLUTION), bucket)
        cell = await self._cell(key)
        chosen = self._nearest(cell, lat, lon, radius_m, limit)
        missing = [pid for _, pid, _ in chosen if not self._fresh_summary(pid)]
        if missing:
            self.misses += 1
            await self._load_summaries(missing)
        else:
            self.hits += 1
        parts = []
        for distance_m, pid, index in chosen:
            summary = self._summaries.get(pid)
            if summary is None or (summary.lat, summary.lon) != (
                cell.lats[index],
                cell.lons[index],
            ):  # hidden or moved since the cell was read: the database knows better
                self._cells.pop(key, None)
                return None
            parts.append(
                b'{"distance_m":'
                + self._encoder.encode(round(distance_m, 1))
                + b","
                + summary.body[1:]
            )
        generated_at = self._encoder.encode(datetime.now(UTC))
        return (
            b'{"results":['
            + b",".join(parts)
            + b'],"count":'
            + str(len(parts)).encode()
            + b',"generated_at":'
            + generated_at
            + b"}"
        )

    def forget(self, event: AvailabilityEvent) -> None:
        """An availability event: the location's summary is outdated; for a ``location`` event
        so are the candidate lists that could hold it."""
        self._summaries.pop(event.location_id, None)
        if event.kind == "status" or not self._cells:
            return
        lat, lon = math.radians(event.lat), math.radians(event.lon)
        for h3_cell in h3.grid_disk(h3.latlng_to_cell(event.lat, event.lon, RESOLUTION), _RINGS):
            for bucket in RADIUS_BUCKETS_M:
                cell = self._cells.get((h3_cell, bucket))
                if cell is not None and _haversine_one(
                    lat, lon, cell.centre_lat, cell.centre_lon
                ) <= cell.reach_m * (1 + SPHERE_ERROR):
                    del self._cells[(h3_cell, bucket)]

    def clear(self) -> None:
        self._cells.clear()
        self._summaries.clear()

    # ---- candidates ----------------------------------------------------------------------------
    async def _cell(self, key: tuple[int, float]) -> _Cell:
        cell = self._cells.get(key)
        if cell is not None and cell.expires > time.monotonic():
            self._cells.move_to_end(key)
            return cell
        building = self._building.get(key)
        if building is not None:
            return await asyncio.shield(building)
        future: asyncio.Future[_Cell] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            cell = await self._read_cell(*key)
            future.set_result(cell)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody warns about it
            raise
        finally:
            del self._building[key]
        self._cells[key] = cell
        while len(self._cells) > MAX_CELLS:
            self._cells.popitem(last=False)
        return cell

    async def _read_cell(self, h3_cell: int, bucket: float) -> _Cell:
        centre_lat, centre_lon = h3.cell_to_latlng(h3_cell)
        # The cell's own reach: its farthest vertex, with margin for the sphere and its edges.
        vertex_m = max(
            _haversine_one(
                math.radians(centre_lat), math.radians(centre_lon),
                math.radians(v_lat), math.radians(v_lon),
            )
            for v_lat, v_lon in h3.cell_to_boundary(h3_cell)
        )  # fmt: skip
        reach_m = bucket + vertex_m * 1.05 + 1.0
        async with self._pool.connection() as conn:
            rows = await search.points_near(conn, lat=centre_lat, lon=centre_lon, reach_m=reach_m)
        lats = np.array([r[1] for r in rows], dtype=np.float64)
        lons = np.array([r[2] for r in rows], dtype=np.float64)
        lat_rad = np.radians(lats)
        return _Cell(
            expires=time.monotonic() + CELL_TTL_S,
            centre_lat=math.radians(centre_lat),
            centre_lon=math.radians(centre_lon),
            reach_m=reach_m,
            ids=[r[0] for r in rows],
            lat_rad=lat_rad,
            lon_rad=np.radians(lons),
            cos_lat=np.cos(lat_rad),
            lats=lats,
            lons=lons,
        )

    def _nearest(
        self, cell: _Cell, lat: float, lon: float, radius_m: float, limit: int
    ) -> list[tuple[float, str, int]]:
        """(exact distance, id, index) of the ``limit`` nearest within the radius, ordered."""
        if not cell.ids:
            return []
        phi = math.radians(lat)
        h = (
            np.sin((cell.lat_rad - phi) / 2) ** 2
            + math.cos(phi) * cell.cos_lat * np.sin((cell.lon_rad - math.radians(lon)) / 2) ** 2
        )
        sphere = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        inside = np.flatnonzero(sphere <= radius_m * (1 + SPHERE_ERROR))
        if len(inside) > limit:
            # The limit-th nearest on the sphere bounds the exact limit-th nearest: anything
            # farther than that bound (with the sphere's error both ways) cannot be among them.
            kth = np.partition(sphere[inside], limit - 1)[limit - 1]
            bound = kth * (1 + SPHERE_ERROR) / (1 - SPHERE_ERROR)
            inside = inside[sphere[inside] <= bound]
        if len(inside) == 0:
            return []
        _, _, exact = self._geod.inv(
            np.full(len(inside), lon), np.full(len(inside), lat),
            cell.lons[inside], cell.lats[inside], return_back_azimuth=False,
        )  # fmt: skip
        ranked = sorted(
            (float(d), cell.ids[i], int(i))
            for d, i in zip(exact, inside, strict=True)
            if d <= radius_m
        )
        return ranked[:limit]

    # ---- summaries -----------------------------------------------------------------------------
    def _fresh_summary(self, public_id: str) -> bool:
        summary = self._summaries.get(public_id)
        return summary is not None and summary.expires > time.monotonic()

    async def _load_summaries(self, public_ids: list[str]) -> None:
        now = datetime.now(UTC)
        async with self._pool.connection() as conn:
            rows = await search.summaries(
                conn, public_ids=public_ids, now=now, stale_after_s=self._stale_after_s
            )
        expires = time.monotonic() + SUMMARY_TTL_S
        for pid in public_ids:
            self._summaries.pop(pid, None)  # not visible any more: stays out
        for row in rows:
            self._summaries[row["public_id"]] = _Summary(
                expires,
                row["lat"],
                row["lon"],
                self._encoder.encode(summarise(row, search.Filters())),
            )
        while len(self._summaries) > MAX_SUMMARIES:
            self._summaries.popitem(last=False)


def _haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(h, 1.0)))
