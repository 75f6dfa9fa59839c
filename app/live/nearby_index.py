"""Nearby answers from memory (issue 15): every visible location's point, and its encoded
summary, kept live by the change feed and by events, exactly as the database would answer.

"What is near me" is the most frequent question. Asked of PostgreSQL it costs a KNN scan and
a summary built per row (a plpgsql call for opening hours, JSON decoded and encoded again) on
every request: 664 questions/s on this machine's two cores for PostgreSQL alone. Each API
process keeps instead:

- **Points**: public id, latitude and longitude of every visible location, in numpy arrays
  sorted by latitude band and longitude, so the locations around a point are a few contiguous
  slices (``_Layer.around``). Changes since the arrays were built go to a small second layer
  (``overlay``) and are folded in once it grows (``FOLD_AT``).
- **Bodies**: each location's summary encoded once (everything but ``distance_m``), compressed
  with a zstd dictionary learned from the data (1 KB of JSON → about 150 bytes; a 2 µs read),
  kept until a change says otherwise. Two things change a summary without a write: open_now
  (each body holds until ``wattlas_open_now_until``) and the network's silence (each body says
  whether it was built silent; the network's last contact, read every round, says whether it
  is silent now). A body that no longer holds is read again.

A question is answered by measuring the candidates on the sphere (a cut with a safe margin),
then exactly on the WGS 84 ellipsoid (GeographicLib, as PostGIS does), ordering by (distance,
id) as the SQL does, and joining the bodies.

Freshness: events (this process's own writes before they are acknowledged, other processes'
through Redis) forget bodies and move points at once; the change feed, read every
``TAIL_EVERY_S``, brings every committed change whatever wrote it or whether Redis was up. If
the feed could not be read for ``MAX_TAIL_AGE_S``, the database answers. Only the unfiltered JSON
question up to ``MAX_RADIUS_M`` is answered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
import zstandard
from pyproj import Geod

from app.api.summaries import summarise
from app.domain.filters import NO_FILTERS, Filters
from app.domain.staleness import silent_after
from app.live.events import AvailabilityEvent
from app.logs import get_logger
from app.store import Store, StoreError, serving
from app.store import changes as change_store

MAX_RADIUS_M = 10_000.0
MAX_LIMIT = 100
BAND_DEG = 0.05  # latitude bands of ~5.6 km: a 5 km question reads three
TAIL_EVERY_S = 0.5
MAX_TAIL_AGE_S = 5.0  # the feed unread for longer: the database answers
CHANGES_PER_READ = 5_000
FOLD_AT = 2_000  # overlay entries folded into the main arrays
WARM_BATCH = 2_000
MAX_BODY_BYTES = 64 * 2**20  # compressed bodies per process (300k locations: ~46 MB)
DICTIONARY_SAMPLES = 2_000
DICTIONARY_BYTES = 112_000
RECENT_CHANGES = 10_000  # changed ids remembered for reads that were under way when they came
# Haversine on the mean sphere vs the ellipsoid: at most 0.56 % apart (0.6 % with margin).
SPHERE_ERROR = 0.006
EARTH_RADIUS_M = 6371008.8
NEVER = math.inf

Floats = npt.NDArray[np.float64]
Positions = npt.NDArray[np.intp]
log = get_logger(__name__)


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``): reading
    300k summaries leaves tens of MB freed but kept by the allocator, counted in the process's
    RSS. No library does this; elsewhere than glibc it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# ---- points and bodies ---------------------------------------------------------------------
class _Layer:
    """Points sorted by (latitude band, longitude), each with its body slot. Ids are one numpy
    array (UTF-8, whose byte order is the ids' order), looked up by binary search: no Python
    object per location (see ``_Arena``)."""

    def __init__(self, ids: Sequence[str], lats: Floats, lons: Floats) -> None:
        keys = np.floor((lats + 90.0) / BAND_DEG) * 1000.0 + (lons + 180.0)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        encoded = (
            np.array([i.encode() for i in ids], dtype=np.bytes_) if ids else np.empty(0, dtype="S1")
        )
        self.ids = encoded[order]
        self.lats = lats[order]
        self.lons = lons[order]
        self.lat_rad = np.radians(self.lats)
        self.lon_rad = np.radians(self.lons)
        self.cos_lat = np.cos(self.lat_rad)
        self.live = np.ones(len(self.ids), dtype=bool)  # False: superseded or gone
        self._by_id = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._by_id]
        # The body of each point (in the index's arena): where, how long (0: none), its
        # network, whether it was built silent, until when it holds (epoch s).
        self.offset = np.zeros(len(self.ids), dtype=np.int64)
        self.length = np.zeros(len(self.ids), dtype=np.int32)
        self.network = np.zeros(len(self.ids), dtype=np.int64)
        self.silent = np.zeros(len(self.ids), dtype=bool)
        self.until = np.zeros(len(self.ids), dtype=np.float64)

    @classmethod
    def of(cls, points: Iterable[tuple[str, float, float]]) -> _Layer:
        rows = list(points)
        return cls(
            [r[0] for r in rows],
            np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
            np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows)),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, public_id: str) -> int | None:
        """The position of this id (live or not), None if the layer never had it."""
        if not len(self.ids):
            return None
        key = public_id.encode()
        at = int(np.searchsorted(self._sorted_ids, key))
        if at < len(self._sorted_ids) and self._sorted_ids[at] == key:
            return int(self._by_id[at])
        return None

    def find_all(self, keys: npt.NDArray[np.bytes_]) -> Positions:
        """The live position of each of these ids (UTF-8), -1 where the layer has none."""
        if not len(self.ids) or not len(keys):
            return np.full(len(keys), -1, dtype=np.intp)
        at = np.minimum(np.searchsorted(self._sorted_ids, keys), len(self.ids) - 1)
        positions = self._by_id[at]
        found = (self._sorted_ids[at] == keys) & self.live[positions]
        return np.where(found, positions, -1)

    def id_at(self, position: int) -> str:
        return bytes(self.ids[position]).decode()

    def copy_body(self, i: int, other: _Layer, j: int) -> None:
        """Slot ``i`` takes the body of ``other``'s slot ``j`` (the arena's bytes stay put)."""
        self.offset[i], self.length[i] = other.offset[j], other.length[j]
        self.network[i], self.silent[i], self.until[i] = (
            other.network[j], other.silent[j], other.until[j],
        )  # fmt: skip

    def around(self, lat: float, lon: float, radius_m: float) -> Positions:
        """Positions of every live point within ``radius_m`` of the point on the sphere, with
        the sphere's error as margin (a superset: the caller measures them)."""
        angle = radius_m * (1 + SPHERE_ERROR) / EARTH_RADIUS_M + 1e-9
        lo_lat = lat - math.degrees(angle)
        hi_lat = lat + math.degrees(angle)
        if lo_lat <= -90 or hi_lat >= 90:
            spans = [(-180.0, 180.0)]  # a pole within reach: every longitude
        else:
            # The widest longitude a circle of this angular radius reaches (on the sphere).
            dlon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
            west, east = lon - dlon, lon + dlon
            if dlon >= 180 or east - west >= 360:
                spans = [(-180.0, 180.0)]
            elif west < -180:
                spans = [(west + 360, 180.0), (-180.0, east)]
            elif east > 180:
                spans = [(west, 180.0), (-180.0, east - 360)]
            else:
                spans = [(west, east)]
        first = math.floor((max(lo_lat, -90.0) + 90.0) / BAND_DEG)
        last = math.floor((min(hi_lat, 90.0) + 90.0) / BAND_DEG)
        bounds = [
            (band * 1000.0 + west + 180.0, band * 1000.0 + east + 180.0)
            for band in range(first, last + 1)
            for west, east in spans
        ]
        lows = np.searchsorted(self.keys, [b[0] for b in bounds], side="left")
        highs = np.searchsorted(self.keys, [b[1] for b in bounds], side="right")
        found = [np.arange(lo, hi) for lo, hi in zip(lows, highs, strict=True) if hi > lo]
        if not found:
            return np.empty(0, dtype=np.intp)
        positions: Positions = np.concatenate(found)
        live: Positions = positions[self.live[positions]]
        return live


class Picked(NamedTuple):
    """The chosen of one layer, nearest first (by distance, then id): exact distances and
    positions."""

    layer: _Layer
    distances: Floats
    positions: Positions


class Chosen(NamedTuple):
    """One location of an answer whose body must be read."""

    public_id: str
    layer: _Layer
    position: int


class Answer(NamedTuple):
    """The chosen of one question: their distances in answer order, and per layer the
    positions and where in the answer each one goes."""

    distances: list[float]
    groups: list[tuple[_Layer, Positions, Positions]]  # layer, positions, answer slots


def nearest(
    layer: _Layer, positions: Positions, lat: float, lon: float, radius_m: float, limit: int,
    geod: Geod,
) -> Picked:  # fmt: skip
    """The ``limit`` nearest of these positions within the radius, by (exact distance, id)."""
    if len(positions) == 0:
        return Picked(layer, np.empty(0), positions)
    phi = math.radians(lat)
    lat_rad, lon_rad = layer.lat_rad[positions], layer.lon_rad[positions]
    h = (
        np.sin((lat_rad - phi) / 2) ** 2
        + math.cos(phi) * layer.cos_lat[positions] * np.sin((lon_rad - math.radians(lon)) / 2) ** 2
    )
    sphere = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    inside = np.flatnonzero(sphere <= radius_m * (1 + SPHERE_ERROR))
    if len(inside) > limit:
        # The limit-th nearest on the sphere bounds the exact limit-th nearest: anything
        # farther than that bound (with the sphere's error both ways) cannot be among them.
        kth = np.partition(sphere[inside], limit - 1)[limit - 1]
        inside = inside[sphere[inside] <= kth * (1 + SPHERE_ERROR) / (1 - SPHERE_ERROR)]
    picked = positions[inside]
    if len(picked) == 0:
        return Picked(layer, np.empty(0), picked)
    _, _, exact = geod.inv(
        np.full(len(picked), lon), np.full(len(picked), lat),
        layer.lons[picked], layer.lats[picked], return_back_azimuth=False,
    )  # fmt: skip
    exact = np.asarray(exact)
    within = exact <= radius_m
    picked, exact = picked[within], exact[within]
    order = np.lexsort((layer.ids[picked], exact))[:limit]  # by distance, then id
    return Picked(layer, exact[order], picked[order])


def answer_of(picks: Sequence[Picked], limit: int) -> Answer:
    """The ``limit`` nearest of several layers' picks, by (distance, id) over all of them."""
    picks = [pick for pick in picks if len(pick.positions)]
    if len(picks) == 1:  # the usual case: no point of the overlay within reach
        pick = picks[0]
        slots = np.arange(len(pick.positions))
        return Answer(pick.distances.tolist(), [(pick.layer, pick.positions, slots)])
    if not picks:
        return Answer([], [])
    distances = np.concatenate([pick.distances for pick in picks])
    ids = np.concatenate([pick.layer.ids[pick.positions] for pick in picks])
    order = np.lexsort((ids, distances))[:limit]
    groups, start = [], 0
    for pick in picks:
        end = start + len(pick.positions)
        slots = np.flatnonzero((order >= start) & (order < end))
        if len(slots):
            groups.append((pick.layer, pick.positions[order[slots] - start], slots))
        start = end
    return Answer(distances[order].tolist(), groups)


class _Codec:
    """zstd with a dictionary learned from the summaries themselves (plain zstd when there are
    too few to learn from)."""

    def __init__(self, samples: list[bytes | bytearray | memoryview]) -> None:
        dictionary = None
        if len(samples) >= 100:
            with contextlib.suppress(zstandard.ZstdError):
                dictionary = zstandard.train_dictionary(DICTIONARY_BYTES, samples)
        self._compressor = zstandard.ZstdCompressor(
            level=3, dict_data=dictionary, write_checksum=False, write_dict_id=False
        )
        self._decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)

    def pack(self, body: bytes) -> bytes:
        return self._compressor.compress(body)

    def unpack(self, blob: bytes | memoryview) -> bytes:
        return self._decompressor.decompress(blob)

    def unpack_all(
        self, buffer: bytearray, offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int32]
    ) -> list[bytes]:
        """The bodies at these (offset, length) of ``buffer``, in one call."""
        view = memoryview(buffer)
        try:
            return [
                self._decompressor.decompress(view[offset : offset + length])
                for offset, length in zip(offsets.tolist(), lengths.tolist(), strict=True)
            ]
        finally:
            view.release()


class _Arena:
    """The compressed bodies back to back in one buffer, found by (offset, length). Kept as
    one small ``bytes`` object each, 300k bodies among the garbage of the reads that made them
    pinned the heap: 565 MB of RSS for 46 MB of bodies, measured on the benchmark's data."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.live_bytes = 0

    def put(self, blob: bytes) -> int:
        offset = len(self.buffer)
        self.buffer += blob
        self.live_bytes += len(blob)
        return offset

    def view(self, offset: int, length: int) -> memoryview:
        return memoryview(self.buffer)[offset : offset + length]

    def compact(self, layers: Sequence[_Layer]) -> None:
        """Copy the live bodies into a new buffer, leaving what was replaced behind."""
        buffer = bytearray()
        old = memoryview(self.buffer)
        for layer in layers:
            for i in np.flatnonzero(layer.length):
                start, length = int(layer.offset[i]), int(layer.length[i])
                layer.offset[i] = len(buffer)
                buffer += old[start : start + length]
        old.release()
        self.buffer = buffer
        self.live_bytes = len(buffer)


@dataclass
class IndexStats:
    ready: bool = False
    locations: int = 0
    bodies: int = 0
    body_bytes: int = 0
    feed_cursor: int = 0
    hits: int = 0
    misses: int = 0
    folds: int = 0
    warmed: bool = False


# ---- the index -----------------------------------------------------------------------------
@dataclass
class NearbyIndex:
    store: Store
    stale_after_s: int
    stats: IndexStats = field(default_factory=IndexStats)

    def __post_init__(self) -> None:
        self._base: _Layer | None = None
        self._overlay = _Layer.of([])
        self._moved: dict[str, tuple[float, float] | None] = {}  # since the base was built
        self._silent_from: dict[int, float] = {}  # per network, epoch s (see _read_networks)
        self._codec: _Codec | None = None
        self._arena = _Arena()
        self._seq = 0  # changes seen; a read remembers where it started
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT_CHANGES)
        self._tail_ok_at = 0.0
        self._sweep = 0  # the next body slot evicted when the bodies outgrow MAX_BODY_BYTES
        self._geod = Geod(ellps="WGS84")
        self._encoder = msgspec.json.Encoder()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._grown = False  # folded since the last warm-up: warm again

    @property
    def hits(self) -> int:
        return self.stats.hits

    @property
    def misses(self) -> int:
        return self.stats.misses

    @staticmethod
    def answers(filters: Filters, radius_m: float, limit: int) -> bool:
        return radius_m <= MAX_RADIUS_M and limit <= MAX_LIMIT and filters == NO_FILTERS

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="nearby-index"))

    async def close(self) -> None:
        # The flag as well as the cancel: a cancel that lands inside a database call can come
        # back as that call's error, which the loops below survive by design.
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        self._tasks.clear()

    async def _run(self) -> None:
        """Build the points, then keep them and the bodies live; warm the bodies meanwhile."""
        delay_s = 0.5
        while self._base is None and not self._closing:
            try:
                await self.build()
            except StoreError as exc:  # the database answers until the index is built
                log.warning("nearby_index.build_failed", error=str(exc))
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 10.0)
        if self._closing:
            return
        warming = asyncio.create_task(self._warm(), name="nearby-index-warm")
        self._tasks.append(warming)
        while not self._closing:
            await asyncio.sleep(TAIL_EVERY_S)
            try:
                await self.follow()
            except StoreError as exc:  # answers stop after MAX_TAIL_AGE_S without the feed
                log.warning("nearby_index.feed_failed", error=str(exc))
            if self._grown and warming.done() and not self._closing:
                # Many locations came since the last warm-up (a first pull after an empty
                # start): their bodies too, before questions ask for them one by one.
                self._grown = False
                self._tasks.remove(warming)
                warming = asyncio.create_task(self._warm(), name="nearby-index-warm")
                self._tasks.append(warming)

    async def build(self) -> None:
        """Learn the compression, read every point and the feed position it is consistent
        with, then the networks' last contact."""
        if self._codec is None:
            rows = await serving.sample_summaries(
                self.store, count=DICTIONARY_SAMPLES, now=datetime.now(UTC),
                stale_after_s=self.stale_after_s,
            )  # fmt: skip
            self._codec = _Codec([self._encode(row) for row in rows])
        cursor, points = await serving.points(self.store)
        self._read_networks(await serving.networks(self.store))
        self._base = _Layer.of(points)
        del points
        self._overlay = _Layer.of([])
        self._moved.clear()
        self._arena = _Arena()
        self.stats.feed_cursor = cursor
        self.stats.body_bytes = self.stats.bodies = 0
        self._tail_ok_at = time.monotonic()
        self.stats.ready = True
        self.stats.locations = len(self._base)
        release_free_memory()
        log.info("nearby_index.built", locations=len(self._base), feed_cursor=cursor)

    async def _warm(self) -> None:
        """Every body, read in batches, while they fit (questions read what they miss anyway).
        The next batch is read while this one is encoded: PostgreSQL and Python each on a core."""

        def read(after_pk: int) -> tuple[int, asyncio.Task[list[dict[str, Any]]]]:
            task = asyncio.create_task(serving.summaries_after(
                self.store, after_pk=after_pk, limit=WARM_BATCH, now=datetime.now(UTC),
                stale_after_s=self.stale_after_s,
            ))  # fmt: skip
            return self._seq, task

        after_pk = 0
        started, reading = read(after_pk)
        try:
            while self._arena.live_bytes < MAX_BODY_BYTES * 0.9 and not self._closing:
                try:
                    rows = await reading
                except StoreError as exc:
                    log.warning("nearby_index.warm_failed", error=str(exc))
                    await asyncio.sleep(1.0)
                    started, reading = read(after_pk)
                    continue
                if not rows:
                    break
                after_pk = rows[-1]["pk"]
                batch_started, (started, reading) = started, read(after_pk)
                self._keep(rows, batch_started, only_missing=True)
                await asyncio.sleep(0)  # questions go first between batches
        finally:
            reading.cancel()
        self.stats.warmed = True
        release_free_memory()
        log.info("nearby_index.warmed", bodies=self.stats.bodies, body_bytes=self.stats.body_bytes)

    # ---- questions -------------------------------------------------------------------------
    async def nearby(self, lat: float, lon: float, radius_m: float, limit: int) -> bytes | None:
        """The JSON body of ``/v1/locations/nearby``; None when the database must answer."""
        base = self._base
        if base is None or time.monotonic() - self._tail_ok_at > MAX_TAIL_AGE_S:
            return None
        picks = [nearest(base, base.around(lat, lon, radius_m), lat, lon, radius_m, limit,
                         self._geod)]  # fmt: skip
        if len(self._overlay):
            overlay = self._overlay
            picks.append(nearest(overlay, overlay.around(lat, lon, radius_m), lat, lon,
                                 radius_m, limit, self._geod))  # fmt: skip
        answer = answer_of(picks, limit)
        bodies = await self._bodies(answer)
        if bodies is None:
            return None
        # %.1f: the decimal msgspec writes for round(distance, 1), as the SQL path does.
        parts = [
            b'{"distance_m":%.1f,' % distance_m + body[1:]
            for distance_m, body in zip(answer.distances, bodies, strict=True)
        ]
        return (
            b'{"results":['
            + b",".join(parts)
            + b'],"count":'
            + str(len(parts)).encode()
            + b',"generated_at":'
            + self._encoder.encode(datetime.now(UTC))
            + b"}"
        )

    async def bodies(self, public_ids: Sequence[str]) -> list[bytes] | None:
        """The encoded summaries of these locations, in this order (as ``/v1/locations``
        gives them); None when the database must answer (one of them not visible here, or
        the index not ready or behind)."""
        base = self._base
        if base is None or time.monotonic() - self._tail_ok_at > MAX_TAIL_AGE_S:
            return None
        keys = np.array([i.encode() for i in public_ids], dtype=np.bytes_)
        groups = []
        in_overlay = self._overlay.find_all(keys)
        in_base = np.where(in_overlay < 0, base.find_all(keys), -1)
        if ((in_overlay < 0) & (in_base < 0)).any():
            return None  # not visible as far as the index knows: the database knows better
        for layer, positions in ((self._overlay, in_overlay), (base, in_base)):
            slots = np.flatnonzero(positions >= 0)
            if len(slots):
                groups.append((layer, positions[slots], slots))
        return await self._bodies(Answer([0.0] * len(public_ids), groups))

    async def _bodies(self, answer: Answer) -> list[bytes] | None:
        """The chosen's bodies in answer order, read where they do not hold."""
        missing = self._not_holding(answer, time.time())
        if missing:
            self.stats.misses += 1
            if not await self._load(missing):
                return None
        else:
            self.stats.hits += 1
        offsets, lengths = self._spans(answer)
        if (lengths == 0).any():  # gone between the read and now: the database knows better
            return None
        assert self._codec is not None  # built with the base
        return self._codec.unpack_all(self._arena.buffer, offsets, lengths)

    @staticmethod
    def _spans(answer: Answer) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Where each chosen body is in the arena, in answer order (length 0: none)."""
        offsets = np.zeros(len(answer.distances), dtype=np.int64)
        lengths = np.zeros(len(answer.distances), dtype=np.int32)
        for layer, positions, slots in answer.groups:
            offsets[slots] = layer.offset[positions]
            lengths[slots] = layer.length[positions]
        return offsets, lengths

    def _not_holding(self, answer: Answer, now_s: float) -> list[Chosen]:
        """Those whose body is not what the database would say now: none, past the hours'
        next change, or built silent (or not) when the network is not (or is) now."""
        out: list[Chosen] = []
        for layer, positions, _ in answer.groups:
            holds = (layer.length[positions] > 0) & (layer.until[positions] > now_s)
            networks = layer.network[positions]
            for network_pk in set(networks.tolist()):
                silent = now_s > self._silent_from.get(network_pk, -NEVER)
                holds &= (networks != network_pk) | (layer.silent[positions] == silent)
            if not holds.all():
                out.extend(
                    Chosen(layer.id_at(int(i)), layer, int(i)) for i in positions[~holds].tolist()
                )
        return out

    def _read_networks(self, networks: dict[int, serving.Network]) -> None:
        """From when (epoch s) each network is silent, by its last contact: its bodies built
        not silent no longer hold then (and those built silent no longer hold before)."""
        self._silent_from = {
            pk: silent_from.timestamp() if silent_from is not None else -NEVER
            for pk, network in networks.items()
            for silent_from in [
                silent_after(network.last_contact_at, self.stale_after_s, network.stale_after_s)
            ]
        }

    async def _load(self, missing: list[Chosen]) -> bool:
        """Read these bodies; False when that failed (the database answers instead)."""
        started = self._seq
        try:
            rows = await serving.summaries(
                self.store, public_ids=[c.public_id for c in missing], now=datetime.now(UTC),
                stale_after_s=self.stale_after_s,
            )  # fmt: skip
        except StoreError as exc:  # the database path will say what is wrong
            log.warning("nearby_index.read_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        found = {row["public_id"] for row in rows}
        if any(c.public_id not in found for c in missing):
            return False  # hidden since the points were read: the database knows better
        self._keep(rows, started, only_missing=False, for_now=missing)
        return True

    # ---- bodies ----------------------------------------------------------------------------
    def _encode(self, row: dict[str, Any]) -> bytes:
        return self._encoder.encode(summarise(row, NO_FILTERS))

    def _keep(
        self, rows: list[dict[str, Any]], started: int, *, only_missing: bool,
        for_now: Sequence[Chosen] = (),
    ) -> None:  # fmt: skip
        """Store these rows' bodies. Those of locations changed while they were read serve
        ``for_now`` (the question that read them) and are then read again."""
        assert self._codec is not None
        changed = self._changed_since(started)
        asked = {c.public_id: c for c in for_now}
        for row in rows:
            public_id = row["public_id"]
            slot = self._slot(public_id)
            chosen = asked.get(public_id)
            if slot is None and chosen is not None:
                slot = (chosen.layer, chosen.position)
            if slot is None:
                continue
            layer, i = slot
            if only_missing and layer.length[i]:
                continue
            open_until = row["open_until"]
            until = open_until.timestamp() if open_until is not None else NEVER
            if changed is None or public_id in changed:
                until = 0.0  # serves this answer only: read again next time
            self._set(
                layer, i, self._codec.pack(self._encode(row)), row["network_id"],
                bool(row["network_silent"]), until,
            )  # fmt: skip
        self._bound()

    def _set(
        self, layer: _Layer, i: int, blob: bytes | None, network_pk: int = 0,
        silent: bool = False, until: float = 0.0,
    ) -> None:  # fmt: skip
        self._drop(layer, i)
        if blob:
            layer.offset[i] = self._arena.put(blob)
            layer.length[i] = len(blob)
            self.stats.bodies += 1
        layer.network[i], layer.silent[i], layer.until[i] = network_pk, silent, until

    def _drop(self, layer: _Layer, i: int) -> None:
        if layer.length[i]:
            self._arena.live_bytes -= int(layer.length[i])
            self.stats.bodies -= 1
            layer.length[i] = 0

    def _bound(self) -> None:
        """Bodies over ``MAX_BODY_BYTES`` are dropped (a sweep through the slots); the arena is
        compacted once what was replaced outweighs what is live."""
        base = self._base
        if base is not None and len(base):
            while self._arena.live_bytes > MAX_BODY_BYTES:
                self._sweep = (self._sweep + 1) % len(base)
                self._drop(base, self._sweep)
        garbage = len(self._arena.buffer) - self._arena.live_bytes
        if garbage > max(self._arena.live_bytes, 4 * 2**20):
            self._arena.compact([layer for layer in (base, self._overlay) if layer is not None])
        self.stats.body_bytes = self._arena.live_bytes

    def _slot(self, public_id: str) -> tuple[_Layer, int] | None:
        """Where this location's current point and body are (None: not visible)."""
        i = self._overlay.find(public_id)
        if i is not None and self._overlay.live[i]:
            return self._overlay, i
        base = self._base
        if base is None:
            return None
        i = base.find(public_id)
        if i is not None and base.live[i]:
            return base, i
        return None

    # ---- changes ---------------------------------------------------------------------------
    def forget(self, event: AvailabilityEvent) -> None:
        """An availability event: the location's body is outdated; for a ``location`` event it
        may also have moved, appeared or gone (the event says where it is now)."""
        where = (event.lat, event.lon) if event.visible else None
        self._changed([event.location_id], {event.location_id: where} if event.kind != "status"
                      else {})  # fmt: skip

    def _changed(
        self, public_ids: Iterable[str], points: dict[str, tuple[float, float] | None]
    ) -> None:
        """These locations changed (reads under way remember it); those in ``points`` are
        now there (None: not visible)."""
        for public_id in public_ids:
            self._seq += 1
            self._recent.append((self._seq, public_id))
            slot = self._slot(public_id)
            if slot is not None:
                self._drop(*slot)
        if points:
            self._move(points)
        self._bound()

    def _changed_since(self, seq: int) -> set[str] | None:
        """The ids changed after ``seq``; None when they are no longer all remembered."""
        if self._seq == seq:
            return set()
        if not self._recent or self._recent[0][0] > seq + 1:
            return None
        out = set()
        for change_seq, public_id in reversed(self._recent):
            if change_seq <= seq:
                break
            out.add(public_id)
        return out

    def _move(self, points: dict[str, tuple[float, float] | None]) -> None:
        base = self._base
        if base is None:
            return
        for public_id, where in points.items():
            i = base.find(public_id)
            if i is not None and base.live[i]:
                if where is not None and (base.lats[i], base.lons[i]) == where:
                    continue  # has not moved: the base still says it right
                base.live[i] = False
                self._drop(base, i)
            self._moved[public_id] = where
        old = self._overlay
        overlay = _Layer.of(
            (public_id, where[0], where[1])
            for public_id, where in self._moved.items()
            if where is not None
        )
        for i in range(len(overlay)):  # bodies of the overlay's points that did not move now
            public_id = overlay.id_at(i)
            j = old.find(public_id)
            if j is not None and public_id not in points:
                overlay.copy_body(i, old, j)
                old.length[j] = 0  # moved over, not dropped
        for k in np.flatnonzero(old.length):  # moved again or gone
            self._drop(old, int(k))
        self._overlay = overlay
        if len(self._moved) > FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        """The overlay into the main arrays (bodies carried over), in one step of the loop."""
        base, overlay = self._base, self._overlay
        assert base is not None
        keep = np.flatnonzero(base.live)
        layer = _Layer(
            [base.id_at(int(i)) for i in keep] + [overlay.id_at(i) for i in range(len(overlay))],
            np.concatenate([base.lats[keep], overlay.lats]),
            np.concatenate([base.lons[keep], overlay.lons]),
        )
        for source, positions in ((base, keep), (overlay, np.arange(len(overlay)))):
            for i in positions[source.length[positions] > 0]:
                j = layer.find(source.id_at(int(i)))
                assert j is not None
                layer.copy_body(j, source, int(i))
        self._base, self._overlay = layer, _Layer.of([])
        self._moved.clear()
        self._sweep = 0
        self.stats.locations = len(layer)
        self.stats.folds += 1
        self._grown = True

    async def follow(self) -> None:
        """One round of the change feed: number what is committed, apply every change after
        the cursor (bodies forgotten, points read again), and read the networks' contact."""
        await change_store.sequence(self.store)
        horizon = await change_store.horizon(self.store)
        if self.stats.feed_cursor < horizon.pruned_through:
            log.warning("nearby_index.feed_pruned", cursor=self.stats.feed_cursor)
            self._base = None
            await self.build()
            return
        while True:
            batch = await change_store.read_changes(
                self.store, self.stats.feed_cursor, CHANGES_PER_READ
            )
            if batch:
                await self._apply(batch)
                self.stats.feed_cursor = batch[-1].seq
            if len(batch) < CHANGES_PER_READ:
                break
        self._read_networks(await serving.networks(self.store))
        self._tail_ok_at = time.monotonic()

    async def _apply(self, batch: Sequence[change_store.Change]) -> None:
        ids = {c.public_id for c in batch if c.kind != "tariff" and c.public_id is not None}
        placed = {c.public_id for c in batch if c.kind in ("location", "removed") and c.public_id}
        self._changed(ids, {})
        if not placed:
            return
        if len(placed) > FOLD_AT:
            self._grown = True  # their bodies, once this round has forgotten the old ones
        started = self._seq
        now_at = await serving.points_of(self.store, sorted(placed))
        changed = self._changed_since(started)  # events during the read know better
        self._move({
            public_id: now_at.get(public_id)
            for public_id in placed
            if changed is None or public_id not in changed
        })  # fmt: skip
