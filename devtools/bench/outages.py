"""Outages under load (issue 9, "outages answer clearly"): the real service under granian, on
private PostgreSQL and Redis of its own (never the other parts' data), a few thousand generated
locations, and a steady paced load of nearby queries, location details and OCPI status PATCHes
with a registered token. Then, one after the other:

1. **PostgreSQL stopped** (``pg_ctl stop -m fast``) for a while, then started again: what each
   kind of request is answered while it is down (status, OCPI status, ``Retry-After``, latency,
   requests slower than ``HANG_S``), and how long after the restart each answers 200 again;
   while the pools refill, and whether anything acknowledged before the stop went missing;
2. **PostgreSQL frozen** (SIGSTOP, then SIGCONT): what a paused VM or a partition without
   resets looks like, connections open and nothing answering;
3. **Redis stopped**, then started again (empty, as it keeps nothing on disk): pushes still
   acknowledged and stored, discovery still answering; an open live stream (``/v1/stream``)
   told ``reset``; how long after the restart a stream opens and events flow again; and what a
   client that resumes with ``Last-Event-ID`` from before the outage is told;
4. **one granian worker SIGKILLed**: failed requests, and how long until a new worker process
   exists and until it answers a request (probes on fresh connections, mapped to the worker
   process holding the server side of each connection through ``/proc``); the live streams it
   served, resumed with ``Last-Event-ID`` on the other worker, checked for missed events.

Every push acknowledged with 1000 is checked against the database at the end (and the ones from
before the PostgreSQL outage right after its restart): none may be missing or older.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from app.domain.parties import Party
from app.settings import load_settings
from app.store import Store, networks
from app.store.locations import apply_locations
from devtools.bench.dataset import generate, page_path, read_manifest
from devtools.bench.harness import STATE, Environment, Server
from devtools.bench.report import machine
from devtools.bench.stats import percentile
from ingest import credentials
from ingest.ocpi.normalise import IngestContext, Normaliser, split_page
from ingest.receiver.auth import CACHE_TTL_S as TOKEN_TTL_S
from wattlas.local import LocalServices, ensure_system_packages
from wattlas.migrate import upgrade

OCPI_VERSION = "2.2.1"
NETWORK = "outages"
HANG_S = 2.0  # an answer slower than this counts as a hang (issue 9: "within a second")
CLIENT_TIMEOUT_S = 10.0  # the load's own timeout: a request without an answer by then
WORLD = "-180,-90,180,90"
PROBE_EVERY_S = 0.05
SERVED = ("nearby", "detail", "push")  # what drivers and networks ask
KINDS = (*SERVED, "health")  # and what a load balancer asks


@dataclass(frozen=True)
class Config:
    """What is measured; the defaults are the benchmark's (about 75 s in all)."""

    locations: int = 3_000
    evses: int = 10_000
    workers: int = 2
    # Requests per second of each kind, spread over that many concurrent clients.
    rates: dict[str, float] = field(
        default_factory=lambda: {"nearby": 100.0, "detail": 50.0, "push": 100.0, "health": 2.0}
    )
    clients: dict[str, int] = field(
        default_factory=lambda: {"nearby": 16, "detail": 8, "push": 16, "health": 1}
    )
    pushed_evses: int = 2_000
    warmup_s: float = 3.0
    pg_outage_s: float = 10.0
    pg_freeze_s: float = 6.0
    redis_outage_s: float = 6.0
    after_kill_s: float = 5.0
    settle_s: float = 2.0
    tail_s: float = 5.0  # watched after the recovery from the PostgreSQL outage
    recovery_limit_s: float = 60.0
    state_dir: Path = STATE / "outages"
    dataset_dir: Path | None = None  # default: in state_dir; kept and reused while it fits
    phases: tuple[str, ...] = ("postgres", "postgres_frozen", "redis", "worker")


# ---- one request, measured ----------------------------------------------------------------------
@dataclass(slots=True)
class Sample:
    kind: str
    start: float  # time.monotonic()
    end: float
    status: int  # HTTP status; 0: no answer (refused, reset, or the client's timeout)
    ocpi: int | None = None  # the OCPI envelope's status_code
    retry_after: str | None = None
    error: str | None = None  # why there was no answer

    @property
    def took(self) -> float:
        return self.end - self.start

    @property
    def answer(self) -> str:
        if self.status == 0:
            return f"no answer ({self.error})"
        return f"{self.status}" if self.ocpi is None else f"{self.status}/{self.ocpi}"


EvseKey = tuple[str, str, str, str]  # country, party, location id, EVSE uid


@dataclass
class Ack:
    at: float  # when the acknowledgement arrived
    last_updated: datetime
    status: str


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a load generator must be on a machine it
    shares with the server (httpx costs ~3 ms of CPU a request here: the client, not the server,
    would be measured). Like browsers and httpx, an idle connection the server has closed is
    replaced before it is used; a request in flight on a connection that dies fails."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.client_port: int | None = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, str | None, bytes]:
        """(status, Retry-After, body); raises OSError, EOFError or TimeoutError."""
        if self._reader is not None and (
            self._reader.at_eof() or self._reader.exception() is not None
        ):
            self.close()
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self.client_port = self._writer.get_extra_info("sockname")[1]
        reader, writer = self._reader, self._writer
        try:
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Length: {len(body)}\r\n{headers}\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            fields = _fields(head)
            if fields.get(b"transfer-encoding", "") == "chunked":
                content = await _chunked(reader)
            else:
                content = await reader.readexactly(int(fields.get(b"content-length", "0")))
            if fields.get(b"connection", "").lower() == "close":
                self.close()
        except (OSError, EOFError, ValueError):
            self.close()
            raise
        return status, fields.get(b"retry-after"), content


_WANTED = frozenset({b"content-length", b"retry-after", b"transfer-encoding", b"connection"})


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        out += await reader.readexactly(size + 2)
        if size == 0:
            return bytes(out)
        del out[-2:]


class Load:
    """Paced clients of each kind, every answer recorded; pushes remember what was acknowledged."""

    def __init__(
        self,
        base_url: str,
        token: str,
        points: list[tuple[float, float]],
        public_ids: list[str],
        evses: list[EvseKey],
        config: Config,
    ) -> None:
        self.base_url = base_url
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))
        self.points = points
        self.public_ids = public_ids
        self.evses = evses
        self.config = config
        self.samples: list[Sample] = []
        self.acks: dict[EvseKey, list[Ack]] = {}
        self._auth = f"Authorization: Token {_b64(token)}\r\nContent-Type: application/json\r\n"
        self._stop = asyncio.Event()
        # Every push is 1 ms newer than the one before: always newer than what is stored.
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        self._sent = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        cfg = self.config
        tasks = []
        for kind in KINDS:
            n = cfg.clients[kind]
            interval = n / cfg.rates[kind]
            for i in range(n):
                tasks.append(asyncio.create_task(self._client(kind, i, n, interval)))
        await asyncio.gather(*tasks)

    async def _client(self, kind: str, index: int, of: int, interval: float) -> None:
        rng = random.Random(index * 7919 + len(kind))
        connection = Connection(*self.address)
        mine = self.evses[index::of]
        statuses: dict[EvseKey, int] = {}
        turn = 0
        next_at = time.monotonic() + rng.random() * interval
        try:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self._stop.is_set():
                        return
                next_at = max(next_at + interval, time.monotonic())  # never a burst to catch up
                if kind == "nearby":
                    lat, lon = rng.choice(self.points)
                    path = f"/v1/locations/nearby?lat={lat}&lon={lon}&radius_m=5000&limit=50"
                    await self._call(connection, kind, "GET", path)
                elif kind == "detail":
                    path = f"/v1/locations/{rng.choice(self.public_ids)}"
                    await self._call(connection, kind, "GET", path)
                elif kind == "health":
                    await self._call(connection, kind, "GET", "/health")
                else:
                    key = mine[turn % len(mine)]
                    turn += 1
                    statuses[key] = statuses.get(key, 0) + 1
                    status = "CHARGING" if statuses[key] % 2 else "AVAILABLE"
                    await self._push(connection, key, status)
        finally:
            connection.close()

    async def _push(self, connection: Connection, key: EvseKey, status: str) -> None:
        self._sent += 1
        stamp = self._clock + timedelta(milliseconds=self._sent)
        cc, pid, loc, uid = key
        body = msgspec.json.encode(
            {"status": status, "last_updated": stamp.isoformat().replace("+00:00", "Z")}
        )
        path = f"/ocpi/{OCPI_VERSION}/locations/{cc}/{pid}/{loc}/{uid}"
        sample = await self._call(connection, "push", "PATCH", path, body, self._auth)
        if sample.status == 200 and sample.ocpi == 1000:
            self.acks.setdefault(key, []).append(Ack(sample.end, stamp, status))

    async def _call(
        self, connection: Connection, kind: str, method: str, path: str, body: bytes = b"",
        headers: str = "",
    ) -> Sample:  # fmt: skip
        start = time.monotonic()
        try:
            async with asyncio.timeout(CLIENT_TIMEOUT_S):
                status, retry_after, content = await connection.request(method, path, body, headers)
        except TimeoutError:
            connection.close()
            sample = Sample(kind, start, time.monotonic(), 0, error="client timeout")
        except (OSError, EOFError, ValueError) as exc:
            sample = Sample(kind, start, time.monotonic(), 0, error=type(exc).__name__)
        else:
            sample = Sample(kind, start, time.monotonic(), status, retry_after=retry_after)
            if path.startswith("/ocpi"):
                with contextlib.suppress(msgspec.DecodeError, KeyError, TypeError, ValueError):
                    sample.ocpi = int(msgspec.json.decode(content)["status_code"])
        self.samples.append(sample)
        return sample

    def window(self, kind: str, t0: float, t1: float) -> list[Sample]:
        """The samples of a kind sent in [t0, t1)."""
        return [s for s in self.samples if s.kind == kind and t0 <= s.start < t1]

    def acked_until(self, t: float) -> dict[EvseKey, Ack]:
        """Per EVSE, the newest push acknowledged before ``t``."""
        out = {}
        for key, acks in self.acks.items():
            before = [a for a in acks if a.at < t]
            if before:
                out[key] = max(before, key=lambda a: a.last_updated)
        return out


def _b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def summary(samples: list[Sample]) -> dict[str, Any]:
    """How a set of requests was answered: answers, Retry-After, latency, hangs."""
    took_ms = [s.took * 1000 for s in samples]
    refused = [s for s in samples if s.status != 200]
    return {
        "requests": len(samples),
        "answers": dict(Counter(s.answer for s in samples).most_common()),
        "retry_after": dict(Counter(s.retry_after or "absent" for s in refused).most_common()),
        "p50_ms": round(percentile(took_ms, 50), 1),
        "p99_ms": round(percentile(took_ms, 99), 1),
        "max_ms": round(max(took_ms, default=0.0), 1),
        f"over_{HANG_S:g}_s": sum(1 for t in took_ms if t > HANG_S * 1000),
    }


def _first_200_after(load: Load, kind: str, t: float) -> float | None:
    ends = [s.end for s in load.samples if s.kind == kind and s.status == 200 and s.end >= t]
    return round(min(ends) - t, 2) if ends else None


async def _until(predicate: Any, limit_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(every_s)
    return bool(predicate())


# ---- setup --------------------------------------------------------------------------------------
def _dataset(path: Path, locations: int, evses: int) -> Path:
    manifest = path / "manifest.json"
    if manifest.exists():
        info = read_manifest(path)
        if (info.locations, info.evses) == (locations, evses):
            return path
    generate(path, locations=locations, evses=evses, seed=7, page_size=1000)
    return path


async def _load_dataset(database_url: str, dataset: Path, token: str) -> None:
    """A static network owning the dataset's parties (its token is the load's), and the
    dataset's locations stored as that network's, through normalise → apply."""
    info = read_manifest(dataset)
    parties = [Party.parse(p) for p in sorted(info.parties)]
    async with Store(database_url, max_size=2, name="bench-outages") as store:
        await credentials.add_static(store, NETWORK, token, parties, version=OCPI_VERSION)
        network_id = await networks.network_id_by_name(store, NETWORK)
        received_at = datetime.now(UTC)
        # The generated points are real station coordinates: no country shapes to load.
        ctx = IngestContext(
            network_id=network_id, source="push", received_at=received_at, check_geography=False
        )
        normaliser = Normaliser(ctx)
        for page in range(info.pages):
            accepted, _ = normaliser.locations(split_page(page_path(dataset, page).read_bytes()))
            async with store.transaction() as tx:
                await apply_locations(
                    tx, accepted, network_id=network_id, ocpi_version=OCPI_VERSION,
                    received_at=received_at,
                )  # fmt: skip


def _targets(
    database_url: str, pushed: int
) -> tuple[list[tuple[float, float]], list[str], list[EvseKey]]:
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT setseed(0.5)")
        rows = conn.execute(
            "SELECT lat, lon, public_id FROM locations WHERE visible ORDER BY random() LIMIT 500"
        ).fetchall()
        evses = conn.execute(
            """
            SELECT l.country_code, l.party_id, l.ocpi_id, e.uid
            FROM evses e JOIN locations l ON l.id = e.location_id
            WHERE l.visible AND e.visible ORDER BY random() LIMIT %s
            """,
            (pushed,),
        ).fetchall()
    points = [(float(r[0]), float(r[1])) for r in rows]
    return points, [str(r[2]) for r in rows], [tuple(str(v) for v in r) for r in evses]  # type: ignore[misc]


def _stored(database_url: str, keys: list[EvseKey]) -> dict[EvseKey, tuple[datetime, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT l.country_code, l.party_id, l.ocpi_id, e.uid, e.last_updated, e.status
            FROM evses e JOIN locations l ON l.id = e.location_id
            JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS k(cc, pid, loc, uid)
              ON (l.country_code, l.party_id, l.ocpi_id, e.uid) = (k.cc, k.pid, k.loc, k.uid)
            """,
            [list(col) for col in zip(*keys, strict=True)] if keys else [[], [], [], []],
        ).fetchall()
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in rows}


def _lost(database_url: str, acked: dict[EvseKey, Ack]) -> dict[str, int]:
    """Acknowledged pushes that the database does not hold (nor anything newer)."""
    stored = _stored(database_url, list(acked))
    lost = 0
    for key, ack in acked.items():
        have = stored.get(key)
        # Lost: nothing as new is stored, or something else with the same time.
        if have is None or have[0] < ack.last_updated:
            lost += 1
            continue
        if have[0] == ack.last_updated and have[1] != ack.status:
            lost += 1
    return {"evses_checked": len(acked), "lost": lost}


# ---- PostgreSQL ---------------------------------------------------------------------------------
def _app_connections(database_url: str) -> int | None:
    """How many connections the service's pools hold (None: PostgreSQL does not answer)."""
    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'wattlas%'"
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


async def _postgres_outage(
    services: LocalServices, load: Load, database_url: str, cfg: Config
) -> dict[str, Any]:
    connections_before = await asyncio.to_thread(_app_connections, database_url)
    issued = time.monotonic()
    await asyncio.to_thread(services.stop_postgres)
    stopped = time.monotonic()
    acked_before = load.acked_until(issued)
    await asyncio.sleep(max(1.0, cfg.pg_outage_s - (stopped - issued)))  # down a while, at least
    start_issued = time.monotonic()
    await asyncio.to_thread(services.start_postgres)
    up = time.monotonic()
    # Checked at once, before the service can write again: nothing acknowledged went missing.
    durable = await asyncio.to_thread(_lost, database_url, acked_before)
    # The pools refill one connection at a time, each on its own reconnection schedule.
    pool: list[tuple[float, int | None]] = []

    async def watch() -> None:
        while True:
            count = await asyncio.to_thread(_app_connections, database_url)
            pool.append((time.monotonic() - up, count))
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    await _until(
        lambda: all(_first_200_after(load, k, up) is not None for k in KINDS),
        cfg.recovery_limit_s,
    )
    recovered = time.monotonic()
    await asyncio.sleep(cfg.tail_s)
    tail_end = time.monotonic()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    out: dict[str, Any] = {
        "outage_s": round(start_issued - issued, 1),
        "stop_took_s": round(stopped - issued, 2),
        "start_took_s": round(up - start_issued, 2),
        "pool_connections": {
            "before": connections_before,
            "first_after_restart_s": next((round(t, 2) for t, n in pool if n), None),
            "back_to_before_after_restart_s": next(
                (round(t, 2) for t, n in pool if n and n >= (connections_before or 0)), None
            ),
            "at_end_of_tail": pool[-1][1] if pool else None,
            "tail_ends_after_restart_s": round(tail_end - up, 1),
        },
    }
    for kind in KINDS:
        mine = [s for s in load.samples if s.kind == kind]
        back = _first_200_after(load, kind, up)
        back_at = up + back if back is not None else recovered
        out[kind] = {
            # Sent while PostgreSQL was shutting down (it ends the sessions, then checkpoints).
            "while_stopping": summary([s for s in mine if issued <= s.start < stopped]),
            # Sent after PostgreSQL had stopped, answered before it was back.
            "while_down": summary([s for s in mine if s.start >= stopped and s.end < up]),
            # Answered after PostgreSQL was back, before this kind's first 200.
            "after_restart": summary([s for s in mine if up <= s.end < back_at]),
            "first_200_after_restart_s": back,
            # From the first 200 on, while the pools refill.
            "after_recovery": summary([s for s in mine if back_at <= s.start < tail_end]),
            # Hangs anywhere from the stop to the recovery.
            f"over_{HANG_S:g}_s_from_stop_to_recovery": sum(
                1 for s in mine if s.end >= issued and s.start < back_at and s.took > HANG_S
            ),
        }
    # The receiver remembers a token for TOKEN_TTL_S: until then a push reaches the writer (and
    # waits for a connection there), after it the token lookup is what fails.
    pushes = [s for s in load.samples if s.kind == "push" and s.start >= stopped and s.end < up]
    out["push"]["while_down_token_remembered"] = summary(
        [s for s in pushes if s.start < issued + TOKEN_TTL_S]
    )
    out["push"]["while_down_token_looked_up"] = summary(
        [s for s in pushes if s.start >= issued + TOKEN_TTL_S]
    )
    out["pushes_acknowledged_before_stop"] = {
        "pushes": sum(1 for acks in load.acks.values() for a in acks if a.at < issued),
        **durable,
    }
    return out


async def _postgres_frozen(services: LocalServices, load: Load, cfg: Config) -> dict[str, Any]:
    """PostgreSQL's processes stopped with SIGSTOP, then continued: what a paused VM or a
    network partition without resets looks like to the service (connections stay open, nothing
    answers; statement timeouts are enforced by the server, which is not running)."""
    postmaster = int((services.pg_data / "postmaster.pid").read_text().split()[0])
    processes = [postmaster, *_children(postmaster)]
    issued = time.monotonic()
    try:
        for pid in processes:
            os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(cfg.pg_freeze_s)
    finally:
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    await _until(
        lambda: all(_first_200_after(load, k, resumed) is not None for k in KINDS),
        cfg.recovery_limit_s,
    )
    out: dict[str, Any] = {"frozen_s": round(resumed - issued, 1)}
    for kind in KINDS:
        frozen = [s for s in load.samples if s.kind == kind and issued <= s.start < resumed]
        out[kind] = {
            "while_frozen": summary(frozen),
            # Answered only once PostgreSQL ran again: they hung for the rest of the freeze.
            "answered_after_resume": sum(1 for s in frozen if s.end >= resumed),
            "first_200_after_resume_s": _first_200_after(load, kind, resumed),
        }
    return out


# ---- the live stream ----------------------------------------------------------------------------
class Stream:
    """One SSE client of ``/v1/stream`` (the whole world): when it opened, what it received and
    when, and the local port of its connection (to find the worker serving it)."""

    def __init__(self, address: tuple[str, int], last_event_id: str | None = None) -> None:
        self._address = address
        self._headers = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.status: int | None = None
        self.retry_after: str | None = None
        self.took: float | None = None  # until the answer's head
        self.opened: float | None = None
        self.ended: float | None = None
        self.error: str | None = None
        self.client_port: int | None = None
        self.events: list[tuple[float, str, str | None]] = []  # (time, event, id)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def first(self, event: str, after: float = 0.0) -> float | None:
        return next((t for t, e, _ in self.events if e == event and t >= after), None)

    def ids(self) -> list[str]:
        return [i for _, e, i in self.events if e == "availability" and i is not None]

    @property
    def last_id(self) -> str | None:
        ids = self.ids()
        if ids:
            return ids[-1]
        return next((i for _, e, i in self.events if e == "hello"), None)

    async def _run(self) -> None:
        start = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self._address), 2)
            self.client_port = writer.get_extra_info("sockname")[1]
            writer.write(
                f"GET /v1/stream?bbox={WORLD} HTTP/1.1\r\nHost: {self._address[0]}\r\n"
                f"Accept: text/event-stream\r\n{self._headers}\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLIENT_TIMEOUT_S)
            self.status = int(head[9:12])
            self.took = time.monotonic() - start
            fields = _fields(head)
            self.retry_after = fields.get(b"retry-after")
            chunked = fields.get(b"transfer-encoding", "") == "chunked"
            if self.status != 200:
                return
            self.opened = time.monotonic()
            buffer = b""
            event, event_id = "message", None
            while True:
                piece = await _next_piece(reader, chunked)
                if not piece:
                    return
                buffer += piece
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    line = raw.rstrip(b"\r").decode()
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("id:"):
                        event_id = line.split(":", 1)[1].strip()
                    elif line == "":
                        if event != "message" or event_id is not None:
                            self.events.append((time.monotonic(), event, event_id))
                        event, event_id = "message", None
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            self.error = type(exc).__name__
        finally:
            self.ended = time.monotonic()
            if writer is not None:
                writer.close()


def _fields(head: bytes) -> dict[bytes, str]:
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() in _WANTED:
            out[name.lower()] = value.strip().decode()
    return out


async def _next_piece(reader: asyncio.StreamReader, chunked: bool) -> bytes:
    if not chunked:
        return await reader.read(65536)
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


async def _open(address: tuple[str, int], limit_s: float) -> Stream | None:
    """A stream that has opened and received an event, or None within ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        stream = Stream(address).start()
        await _until(lambda s=stream: s.ended is not None or bool(s.ids()), 5)
        if stream.ids():
            return stream
        await stream.close()
        await asyncio.sleep(0.25)
    return None


# ---- Redis --------------------------------------------------------------------------------------
async def _redis_outage(services: LocalServices, load: Load, cfg: Config) -> dict[str, Any]:
    address = load.address
    out: dict[str, Any] = {}
    # A client that hears some events, then goes away (a phone losing signal) and comes back
    # after the outage, resuming with Last-Event-ID as EventSource does.
    early = await _open(address, 10)
    resume_from = early.last_id if early else None
    if early:
        await early.close()
    live = await _open(address, 10)
    out["events_flowing_before"] = live is not None
    assert live is not None, "no live events before the Redis outage"
    issued = time.monotonic()
    await asyncio.to_thread(services.stop_redis)
    stopped = time.monotonic()
    await _until(lambda: live.ended is not None, 10)
    reset_at = live.first("reset", issued)
    out["open_stream"] = {
        "reset_after_s": round(reset_at - issued, 2) if reset_at else None,
        "events_after_stop": dict(Counter(e for t, e, _ in live.events if t >= issued)),
        "closed_after_s": round(live.ended - issued, 2) if live.ended else None,
    }
    await live.close()
    await asyncio.sleep(1.0)
    refused = Stream(address).start()
    await _until(lambda: refused.ended is not None, CLIENT_TIMEOUT_S)
    out["new_stream_while_down"] = {
        "status": refused.status,
        "retry_after": refused.retry_after,
        "took_ms": round((refused.took or 0) * 1000, 1),
    }
    await refused.close()
    await asyncio.sleep(max(0.0, cfg.redis_outage_s - (time.monotonic() - issued)))
    start_issued = time.monotonic()
    await asyncio.to_thread(services.start_redis)
    up = time.monotonic()
    # A client reloading after the reset: opens a stream until one opens, then waits for events
    # (the pushes go on, each one an event).
    opened = events = None
    attempts = 0
    while time.monotonic() < up + cfg.recovery_limit_s and events is None:
        attempts += 1
        again = Stream(address).start()
        await _until(lambda s=again: s.ended is not None or bool(s.ids()), 5)
        opened = opened or again.opened
        events = again.first("availability")
        await again.close()
        if events is None:
            await asyncio.sleep(0.25)
    out["after_restart"] = {
        "stream_opens_after_s": round(opened - up, 2) if opened else None,
        "events_flow_after_s": round(events - up, 2) if events else None,
        "attempts": attempts,
    }
    if resume_from is not None:
        resumed = Stream(address, resume_from).start()
        await _until(
            lambda: (
                resumed.ended is not None
                or any(e in ("availability", "reset") for _, e, _ in resumed.events)
            ),
            5,
        )
        told = next((e for _, e, _ in resumed.events if e in ("availability", "reset")), None)
        out["resume_with_last_event_id_from_before"] = {
            "status": resumed.status,
            "first_event": told,
            "gap_reported": told == "reset",
        }
        await resumed.close()
    for kind in KINDS:
        out[kind] = summary(load.window(kind, stopped, start_issued))
    out["push"]["acknowledged"] = sum(
        1 for acks in load.acks.values() for a in acks if stopped <= a.at < up
    )
    out["outage_s"] = round(start_issued - issued, 1)
    return out


# ---- a worker killed ----------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.add(int(stat.parent.name))
    return out


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = str(fd.readlink())
                if target.startswith("socket:["):
                    out.add(int(target[8:-1]))
    return out


def _server_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's side of the connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1], parts[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return int(parts[9])
    return None


def _serving(server_port: int, client_port: int | None, workers: set[int]) -> int | None:
    """The worker holding the server's side of a connection."""
    if client_port is None:
        return None
    inode = _server_inode(server_port, client_port)
    return next((pid for pid in workers if inode in _socket_inodes(pid)), None)


async def _probe(port: int, workers: set[int]) -> tuple[int, int | None]:
    """GET /v1/ping on a fresh connection: (status, the pid of the worker that answered)."""
    connection = Connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(2):
            status, _, _ = await connection.request("GET", "/v1/ping")
        assert connection.client_port is not None
        return status, _serving(port, connection.client_port, workers)  # still open
    finally:
        connection.close()


async def _worker_killed(server: Server, load: Load, cfg: Config) -> dict[str, Any]:
    port = load.address[1]
    before = _children(server.process.pid)
    answered_by: Counter[int] = Counter()
    for _ in range(40):  # both workers answer before one is killed
        with contextlib.suppress(OSError, TimeoutError, EOFError):
            _, pid = await _probe(port, before)
            if pid is not None:
                answered_by[pid] += 1
        await asyncio.sleep(0.01)
    # Live streams on both workers; the one holding more of them is killed.
    streams = [s for s in [await _open(load.address, 10) for _ in range(6)] if s is not None]
    held = {id(s): _serving(port, s.client_port, before) for s in streams}
    victim = max(before, key=lambda pid: (sum(1 for p in held.values() if p == pid), pid))
    cut = [s for s in streams if held[id(s)] == victim]
    kept = [s for s in streams if held[id(s)] != victim]

    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    spawned: int | None = None
    spawned_at = new_answer_at = new_cpu_s = None
    probes: list[tuple[float, int]] = []
    resumed: list[Stream] = []
    deadline = killed + max(cfg.after_kill_s, cfg.recovery_limit_s)
    while time.monotonic() < deadline:
        now_children = _children(server.process.pid)
        if spawned is None and (fresh := now_children - before):
            spawned, spawned_at = max(fresh), time.monotonic()
        try:
            status, pid = await _probe(port, now_children)
        except (OSError, TimeoutError, EOFError):
            probes.append((time.monotonic(), 0))
        else:
            probes.append((time.monotonic(), status))
            if pid is not None and pid == spawned and status == 200 and new_answer_at is None:
                new_answer_at = time.monotonic()
                new_cpu_s = _cpu_s(pid)
        if len(resumed) < len(cut):  # reconnect as EventSource does, with the last id
            for stream in cut[len(resumed) :]:
                if stream.ended is None:
                    break
                resumed.append(Stream(load.address, stream.last_id).start())
        if new_answer_at is not None and time.monotonic() - killed >= cfg.after_kill_s:
            break
        await asyncio.sleep(PROBE_EVERY_S)
    end = time.monotonic()
    await asyncio.sleep(1.0)  # the resumed streams catch up
    gaps = _gaps(cut, resumed, kept)
    for stream in [*streams, *resumed]:
        await stream.close()
    out: dict[str, Any] = {
        "workers_before": len(before),
        "probes_answered_by_each_worker_before": sorted(answered_by.values()),
        "new_worker_process_after_s": round(spawned_at - killed, 2) if spawned_at else None,
        "new_worker_answers_after_s": round(new_answer_at - killed, 2) if new_answer_at else None,
        "new_worker_cpu_s_until_it_answered": round(new_cpu_s, 2) if new_cpu_s else None,
        "workers_after": len(_children(server.process.pid)),
        "probes": {"sent": len(probes), "failed": sum(1 for _, s in probes if s != 200)},
        "streams": gaps,
    }
    for kind in KINDS:
        # Everything in flight at the kill or sent after it, until the new worker answered.
        samples = [s for s in load.samples if s.kind == kind and s.end >= killed and s.start < end]
        out[kind] = summary(samples)
        out[kind]["failed"] = sum(1 for s in samples if s.status == 0 or s.status >= 500)
    return out


def _gaps(cut: list[Stream], resumed: list[Stream], kept: list[Stream]) -> dict[str, Any]:
    """Did the streams cut by the kill, resumed with Last-Event-ID, miss anything that a stream
    on the surviving worker received over the same span?"""
    reference = max(kept, key=lambda s: len(s.ids()), default=None)
    missed = duplicated = 0
    for before, after in zip(cut, resumed, strict=False):
        got = before.ids() + after.ids()
        duplicated += len(got) - len(set(got))
        if reference is None or not before.ids() or not after.ids():
            continue
        lo, hi = _stream_id(before.ids()[0]), _stream_id(after.ids()[-1])
        seen = set(got)
        missed += sum(1 for i in reference.ids() if lo <= _stream_id(i) <= hi and i not in seen)
    return {
        "open": len(cut) + len(kept),
        "on_the_killed_worker": len(cut),
        "resumed": sum(1 for r in resumed if r.status == 200),
        "resumed_told_reset": sum(1 for r in resumed if r.first("reset") is not None),
        "events_replayed_or_received_after_resume": sum(len(r.ids()) for r in resumed),
        "events_missed": missed if reference is not None and resumed else None,
        "events_duplicated": duplicated,
    }


# ---- the server's own account -------------------------------------------------------------------
_ADDRESS = re.compile(r"0x[0-9a-f]+|port \d+")


def _log_events(log: Path) -> dict[str, Any]:
    """What the service logged (warnings and worse), by event, and any traceback."""
    events: Counter[str] = Counter()
    other: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(msgspec.DecodeError):
                record = msgspec.json.decode(line)
                event = _ADDRESS.sub("…", str(record.get("event")).splitlines()[0])[:120]
                events[f"{record.get('level')} {event}"] += 1
                continue
        if line.strip():
            other.append(line.strip())
    return {
        "events": dict(events.most_common()),
        "other_lines": len(other),
        "other_first": other[:5],
    }


# ---- the part -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _services(state_dir: Path) -> Iterator[LocalServices]:
    ensure_system_packages()
    state_dir.mkdir(parents=True, exist_ok=True)
    services = LocalServices(state_dir / "services", pg_settings={"max_connections": "100"})
    services.start()
    try:
        yield services
    finally:
        services.stop()


def run(config: Config | None = None) -> dict[str, Any]:
    """The three outages, one after the other, under one steady load; figures as a dict."""
    cfg = config or Config()
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    STATE.mkdir(exist_ok=True)  # the servers' logs
    setup: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.monotonic()
        setup[name] = round(now - since, 1)
        return now

    with _services(cfg.state_dir) as services:
        t = lap("services_s", started)
        url = services.create_database("wattlas_outages")
        upgrade(url)
        t = lap("schema_s", t)
        dataset = _dataset(cfg.dataset_dir or cfg.state_dir / "dataset", cfg.locations, cfg.evses)
        settings = load_settings(
            {}, database_url=url, redis_url=services.redis_url, log_level="WARNING",
            run_scheduler=False,
        )  # fmt: skip
        token = "bench-outages-" + os.urandom(12).hex()
        asyncio.run(_load_dataset(url, dataset, token))
        t = lap("dataset_s", t)
        env = Environment(services, settings)
        server = env.start("api-outages", "wattlas.asgi:app", workers=cfg.workers)
        t = lap("server_start_s", t)
        try:
            results = asyncio.run(_measure(services, server, url, token, cfg))
        finally:
            server.stop()
        lap("measure_s", t)
        results["server_log"] = _log_events(server.log)
    results["setup"] = setup
    results["machine"] = machine()  # a partial run's figures say where they were measured
    results["started_at"] = started_at
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


async def _measure(
    services: LocalServices, server: Server, url: str, token: str, cfg: Config
) -> dict[str, Any]:
    points, public_ids, evses = _targets(url, cfg.pushed_evses)
    load = Load(server.url, token, points, public_ids, evses, cfg)
    running = asyncio.create_task(load.run())
    results: dict[str, Any] = {
        "locations": cfg.locations,
        "evses": cfg.evses,
        "api_workers": cfg.workers,
        "load_per_s": dict(cfg.rates),
        "clients": dict(cfg.clients),
        "hang_threshold_s": HANG_S,
        "client_timeout_s": CLIENT_TIMEOUT_S,
    }
    try:
        t0 = time.monotonic()
        await asyncio.sleep(cfg.warmup_s)
        results["baseline"] = {k: summary(load.window(k, t0, time.monotonic())) for k in KINDS}
        if "postgres" in cfg.phases:
            results["postgres_stopped"] = await _postgres_outage(services, load, url, cfg)
            await asyncio.sleep(cfg.settle_s)
        if "postgres_frozen" in cfg.phases:
            results["postgres_frozen"] = await _postgres_frozen(services, load, cfg)
            await asyncio.sleep(cfg.settle_s)
        if "redis" in cfg.phases:
            results["redis_stopped"] = await _redis_outage(services, load, cfg)
            await asyncio.sleep(cfg.settle_s)
        if "worker" in cfg.phases:
            results["worker_killed"] = await _worker_killed(server, load, cfg)
    finally:
        load.stop()
        await running
    acked = load.acked_until(time.monotonic() + 1)
    results["pushes"] = {
        "sent": sum(1 for s in load.samples if s.kind == "push"),
        "acknowledged": sum(len(a) for a in load.acks.values()),
        **await asyncio.to_thread(_lost, url, acked),
    }
    return results


# ---- the figures as Markdown --------------------------------------------------------------------
def _answers(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k} ×{v:,}" for k, v in figures["answers"].items()) or "none sent"


def _retry(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k} ×{v:,}" for k, v in figures["retry_after"].items()) or "—"


def _latency(figures: dict[str, Any]) -> str:
    return f"{figures['p50_ms']:g} / {figures['p99_ms']:g} / {figures['max_ms']:g} ms"


def table(results: dict[str, Any]) -> str:
    """The outage figures (``results['outages']``) as Markdown; empty if the part was not run."""
    o = results.get("outages")
    phases = ("postgres_stopped", "postgres_frozen", "redis_stopped", "worker_killed")
    if not o or any(k not in o for k in phases):
        return ""
    pg, fz, rd, wk = (o[k] for k in phases)
    hang = f"over_{HANG_S:g}_s"
    load = ", ".join(f"{k} {v:g}/s" for k, v in o["load_per_s"].items())
    lines = [
        f"Outages under load ({o['api_workers']} workers, {o['locations']:,} locations; {load}):",
        "",
        "| outage | request | answers (HTTP/OCPI × n) | Retry-After | p50 / p99 / max "
        f"| > {HANG_S:g} s | first 200 after it ends |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        down = pg[kind]["while_down"]
        lines.append(
            f"| PostgreSQL stopped {pg['outage_s']:g} s | {kind} | {_answers(down)} | "
            f"{_retry(down)} | {_latency(down)} | "
            f"{pg[kind][f'{hang}_from_stop_to_recovery']} | "
            f"{pg[kind]['first_200_after_restart_s']} s |"
        )
    for kind in KINDS:
        frozen = fz[kind]["while_frozen"]
        lines.append(
            f"| PostgreSQL frozen (SIGSTOP) {fz['frozen_s']:g} s | {kind} | {_answers(frozen)} | "
            f"{_retry(frozen)} | {_latency(frozen)} | {frozen[hang]} | "
            f"{fz[kind]['first_200_after_resume_s']} s |"
        )
    for kind in KINDS:
        down = rd[kind]
        flow = rd["after_restart"]["events_flow_after_s"]
        back = f"events flow {flow} s" if kind == "push" else ""
        lines.append(
            f"| Redis stopped {rd['outage_s']:g} s | {kind} | {_answers(down)} | "
            f"{_retry(down)} | {_latency(down)} | {down[hang]} | {back} |"
        )
    for kind in KINDS:
        after = wk[kind]
        back = f"new worker {wk['new_worker_answers_after_s']} s" if kind == "nearby" else ""
        lines.append(
            f"| one worker SIGKILLed | {kind} | {_answers(after)} | {_retry(after)} | "
            f"{_latency(after)} | {after[hang]} | {back} |"
        )
    streams, resume = wk["streams"], rd.get("resume_with_last_event_id_from_before", {})
    before = pg["pushes_acknowledged_before_stop"]
    lines += [
        "",
        f"- Redis stopped: an open stream is told `reset` after "
        f"{rd['open_stream']['reset_after_s']} s; a new one is answered "
        f"{rd['new_stream_while_down']['status']} (Retry-After "
        f"{rd['new_stream_while_down']['retry_after']}); after the restart a stream opens after "
        f"{rd['after_restart']['stream_opens_after_s']} s. A client resuming with a "
        f"Last-Event-ID from before the outage is told `{resume.get('first_event')}`"
        + ("" if resume.get("gap_reported") else " **(the gap is not reported)**")
        + ".",
        f"- One worker SIGKILLed: {streams['on_the_killed_worker']} of {streams['open']} live "
        f"streams cut, {streams['resumed']} resumed with Last-Event-ID, "
        f"{streams['events_missed']} events missed; a new worker process after "
        f"{wk['new_worker_process_after_s']} s, answering after "
        f"{wk['new_worker_answers_after_s']} s ({wk['new_worker_cpu_s_until_it_answered']} s of "
        "CPU).",
        f"- OCPI pushes: {o['pushes']['acknowledged']:,} acknowledged, {o['pushes']['lost']} "
        f"lost; of the {before['pushes']:,} acknowledged before PostgreSQL stopped, "
        f"{before['lost']} lost.",
    ]
    return "\n".join(lines)
