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
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime

import h3
import msgspec
import numpy as np
import numpy.typing as npt
from pyproj import Geod

from app.api.summaries import summarise
from app.domain.filters import NO_FILTERS, Filters
from app.live.events import AvailabilityEvent
from app.logs import get_logger
from app.store import Store, StoreError, discovery

MAX_RADIUS_M = 10_000.0
MAX_LIMIT = 100
RADIUS_BUCKETS_M = (1_000.0, 2_000.0, 5_000.0, MAX_RADIUS_M)
RESOLUTION = 8
SUMMARY_TTL_S = 10.0  # bounds how late open_now and network staleness can be
CELL_TTL_S = 30.0  # bounds how late a location added or hidden by a pull can be
MAX_SUMMARIES = 60_000
MAX_CELLS = 20_000
MAX_CANDIDATES = 500_000  # summed over the cached cells: bounds memory in dense cities
RECENT_EVENTS = 10_000  # events remembered for reads that were under way when they came
# Haversine on the mean sphere vs the ellipsoid: at most 0.56 % apart (0.6 % with margin).
SPHERE_ERROR = 0.006
EARTH_RADIUS_M = 6371008.8
# Rings of resolution-8 cells around a changed location whose candidates could hold it: the
# largest reach over the smallest spacing of cell centres (~0.5 km) anywhere on the globe.
_RINGS = math.ceil((MAX_RADIUS_M + 1_500) / 500)
_DISK_CELLS = 3 * _RINGS * (_RINGS + 1) + 1

Floats = npt.NDArray[np.float64]
log = get_logger(__name__)


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
    def __init__(self, store: Store, stale_after_s: int) -> None:
        self._store = store
        self._stale_after_s = stale_after_s
        self._cells: OrderedDict[tuple[int, float], _Cell] = OrderedDict()
        self._summaries: OrderedDict[str, _Summary] = OrderedDict()
        self._building: dict[tuple[int, float], tuple[int, asyncio.Future[_Cell]]] = {}
        self._candidates = 0
        self._seq = 0  # events seen; a read remembers where it started
        self._recent: deque[tuple[int, AvailabilityEvent]] = deque(maxlen=RECENT_EVENTS)
        self._geod = Geod(ellps="WGS84")
        self._encoder = msgspec.json.Encoder()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def answers(filters: Filters, radius_m: float, limit: int) -> bool:
        return radius_m <= MAX_RADIUS_M and limit <= MAX_LIMIT and filters == NO_FILTERS

    async def nearby(self, lat: float, lon: float, radius_m: float, limit: int) -> bytes | None:
        """The JSON body of ``/v1/locations/nearby``; None when the database must answer."""
        bucket = next(b for b in RADIUS_BUCKETS_M if radius_m <= b)
        key = (h3.latlng_to_cell(lat, lon, RESOLUTION), bucket)
        cell = await self._cell(key)
        if cell is None:
            return None
        chosen = self._nearest(cell, lat, lon, radius_m, limit)
        missing = [pid for _, pid, _ in chosen if not self._fresh_summary(pid)]
        if missing:
            self.misses += 1
            if not await self._load_summaries(missing):
                return None
        else:
            self.hits += 1
        parts = []
        for distance_m, pid, index in chosen:
            summary = self._summaries.get(pid)
            if summary is None or (summary.lat, summary.lon) != (
                cell.lats[index],
                cell.lons[index],
            ):  # hidden or moved since the cell was read: the database knows better
                self._drop(key)
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
        so are the candidate lists that could hold it. Reads under way remember it too."""
        self._seq += 1
        self._recent.append((self._seq, event))
        self._summaries.pop(event.location_id, None)
        if event.kind == "status" or not self._cells:
            return
        if len(self._cells) < _DISK_CELLS * len(RADIUS_BUCKETS_M):
            keys = [key for key, cell in self._cells.items() if _holds(cell, event)]
        else:
            centre = h3.latlng_to_cell(event.lat, event.lon, RESOLUTION)
            near = ((h3_cell, bucket) for h3_cell in h3.grid_disk(centre, _RINGS)
                    for bucket in RADIUS_BUCKETS_M)  # fmt: skip
            keys = [key for key in near if key in self._cells and _holds(self._cells[key], event)]
        for key in keys:
            self._drop(key)

    def _since(self, seq: int) -> list[AvailabilityEvent] | None:
        """The events after ``seq``; None when they are no longer all remembered."""
        if self._seq == seq:
            return []
        if not self._recent or self._recent[0][0] > seq + 1:
            return None
        out = []
        for event_seq, event in reversed(self._recent):
            if event_seq <= seq:
                break
            out.append(event)
        return out

    def _moved_since(self, seq: int, cell: _Cell) -> bool:
        """Could a location change since ``seq`` be among this cell's candidates?"""
        events = self._since(seq)
        return events is None or any(
            event.kind != "status" and _holds(cell, event) for event in events
        )

    def _drop(self, key: tuple[int, float]) -> None:
        cell = self._cells.pop(key, None)
        if cell is not None:
            self._candidates -= len(cell.ids)

    def clear(self) -> None:
        self._cells.clear()
        self._candidates = 0
        self._summaries.clear()

    # ---- candidates ----------------------------------------------------------------------------
    async def _cell(self, key: tuple[int, float]) -> _Cell | None:
        """The key's candidates: cached, or read once for everyone asking at the same time.
        None (ask the database) when the shared read failed or was cancelled."""
        cell = self._cells.get(key)
        if cell is not None and cell.expires > time.monotonic():
            self._cells.move_to_end(key)
            return cell
        building = self._building.get(key)
        if building is not None:
            started, shared = building
            try:
                cell = await asyncio.shield(shared)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this request itself is being cancelled
                return None  # the request that was reading it went away
            except Exception:  # noqa: BLE001 - the reader logged it; the database answers
                return None
            # Joined after a change that the read may predate: not good enough for this request.
            return None if self._moved_since(started, cell) else cell
        started = self._seq
        future: asyncio.Future[_Cell] = asyncio.get_running_loop().create_future()
        self._building[key] = (started, future)
        try:
            cell = await self._read_cell(*key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - logged; the database answers instead
            log.warning("nearby_cache.read_failed", error=f"{type(exc).__name__}: {exc}")
            future.set_exception(exc)
            future.exception()  # retrieved: waiters see it, nobody warns about it
            return None
        finally:
            del self._building[key]
        future.set_result(cell)
        # Kept only if no location near it changed while it was read: the change's event has
        # already been handled and would not clear it later.
        if not self._moved_since(started, cell):
            self._drop(key)
            self._cells[key] = cell
            self._candidates += len(cell.ids)
            while self._cells and (
                len(self._cells) > MAX_CELLS or self._candidates > MAX_CANDIDATES
            ):
                self._drop(next(iter(self._cells)))
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
        rows = await discovery.points_near(
            self._store, lat=centre_lat, lon=centre_lon, reach_m=reach_m
        )
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

    async def _load_summaries(self, public_ids: list[str]) -> bool:
        """Read these summaries; False when that failed (the database answers instead)."""
        now = datetime.now(UTC)
        started = self._seq
        try:
            rows = await discovery.summaries(
                self._store, public_ids=public_ids, now=now, stale_after_s=self._stale_after_s
            )
        except StoreError as exc:  # the database path will say what is wrong
            log.warning("nearby_cache.read_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        events = self._since(started)
        # Summaries of locations changed while they were read are used for this answer only.
        changed = None if events is None else {event.location_id for event in events}
        expires = time.monotonic() + SUMMARY_TTL_S
        for pid in public_ids:
            self._summaries.pop(pid, None)  # not visible any more: stays out
        for row in rows:
            keep = changed is not None and row["public_id"] not in changed
            self._summaries[row["public_id"]] = _Summary(
                expires if keep else 0.0,
                row["lat"],
                row["lon"],
                self._encoder.encode(summarise(row, NO_FILTERS)),
            )
        while len(self._summaries) > MAX_SUMMARIES:
            self._summaries.popitem(last=False)
        return True


def _holds(cell: _Cell, event: AvailabilityEvent) -> bool:
    """Is the event's location within the cell's reach (so possibly among its candidates)?"""
    distance_m = _haversine_one(
        math.radians(event.lat), math.radians(event.lon), cell.centre_lat, cell.centre_lon
    )
    return distance_m <= cell.reach_m * (1 + SPHERE_ERROR)


def _haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(h, 1.0)))
