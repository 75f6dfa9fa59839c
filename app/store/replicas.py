"""Read replicas: where the store sends drivers' questions when PostgreSQL streams to replicas
(issue 15).

A ``Replicas`` keeps, per replica, a pool of discovery connections and its state: healthy or
not, and how far its replay is behind the primary. A watcher task measures that every
``CHECK_EVERY_S``:

- it samples the primary's WAL position (``pg_current_wal_lsn()``), keeping the recent samples
  with the time each was taken;
- it asks each replica how far it has replayed (``pg_last_wal_replay_lsn()``), on a connection
  of its own with a timeout, so a frozen or dead replica costs the watcher a timeout, never a
  hang;
- a replica's lag is how long ago the primary first held something the replica has not
  replayed: 0 when it has replayed the newest sample, else the age of the oldest sample beyond
  its replay position.

PostgreSQL's own ``now() - pg_last_xact_replay_timestamp()`` is not used: it grows without
bound while the primary is idle, when the replica is in fact up to date.

A replica is used while it answers and its lag is under ``max_lag_s``; one that fails a check,
a connection or a query is left out at once, and taken back at the first check that finds it
healthy again. Which replica a read goes to is round-robin among the healthy ones; with none,
reads go to the primary (``app.store.core``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.logs import get_logger
from app.store.errors import describe

log = get_logger(__name__)
T = TypeVar("T")

CHECK_EVERY_S = 0.25
CHECK_TIMEOUT_S = 0.5  # a replica that does not answer a check in this long is left out
HISTORY_S = 300.0  # primary WAL samples kept: lags up to this long are measured exactly


def replica_name(url: str) -> str:
    """host:port/db of a database URL, without credentials (what /health shows)."""
    return url.rsplit("@", 1)[-1].split("://", 1)[-1].split("?", 1)[0]


@dataclass
class Replica:
    name: str
    url: str
    pool: AsyncConnectionPool
    healthy: bool = False  # not used until a first check has measured it
    lag_s: float | None = None
    error: str | None = None
    checked: AsyncConnection | None = field(default=None, repr=False)  # the watcher's own
    # Connections reads are running on now (``app.store.core``): severed when the replica
    # stops answering, so that those reads fail at once and are asked again elsewhere.
    in_flight: set[AsyncConnection] = field(default_factory=set, repr=False)
    probe: asyncio.Future[tuple[bool, int | None]] | None = field(default=None, repr=False)

    # Left out for a failure (not for lag): its pool is renewed when it is taken back.
    failed: bool = False

    def leave_out(self, error: str, *, failed: bool = True) -> None:
        if self.healthy:
            log.warning("store.replica_left_out", replica=self.name, error=error)
        self.healthy, self.error = False, error
        self.failed = self.failed or failed

    def sever_reads(self) -> int:
        """End the connections of the reads in flight (a frozen server never answers them,
        and TCP on a live host never times out): each read fails as a lost connection."""
        return sum(sever(conn) for conn in list(self.in_flight))


def sever(conn: AsyncConnection | None) -> bool:
    """Shut down a connection's socket, so that whatever waits on it sees the connection end
    at once. ``shutdown`` on a duplicate of the descriptor: closing psycopg's own descriptor
    under it could let another socket take its number while the event loop still watches it;
    and cancelling the wait instead makes psycopg ask the (frozen) server to cancel, for up to
    10 s."""
    if conn is None:
        return False
    with contextlib.suppress(Exception):
        duplicate = socket.fromfd(conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()
        return True
    return False


@dataclass
class WalSamples:
    """The primary's WAL position over the last ``HISTORY_S`` (monotonic time, bytes)."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at: float, lsn: int) -> None:
        if not self.samples or lsn > self.samples[-1][1]:
            self.samples.append((at, lsn))
        while self.samples and self.samples[0][0] < at - HISTORY_S:
            self.samples.popleft()

    def lag_s(self, replayed: int, now: float) -> float | None:
        """Seconds since the primary first held WAL past ``replayed`` (0: caught up; None:
        no sample yet)."""
        if not self.samples:
            return None
        if replayed >= self.samples[-1][1]:
            return 0.0
        for at, lsn in self.samples:
            if lsn > replayed:
                return max(now - at, 0.0)
        return 0.0  # unreachable: the newest sample is past ``replayed``


PoolFactory = Callable[[str, str], AsyncConnectionPool]
Connect = Callable[[str], Awaitable[AsyncConnection]]


async def _connect(url: str) -> AsyncConnection:
    return await AsyncConnection.connect(
        url, autocommit=True, connect_timeout=2, application_name="wattlas-replica-check"
    )


class Replicas:
    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        max_lag_s: float,
        pool: PoolFactory,
        primary_lsn: Callable[[], Awaitable[int]],
    ) -> None:
        self.max_lag_s = max_lag_s
        names = [replica_name(url) for url in urls]
        self.members = [Replica(n, url, pool(url, n)) for n, url in zip(names, urls, strict=True)]
        self._new_pool = pool
        self._closing: set[asyncio.Task[None]] = set()  # old pools being closed
        self._primary_lsn = primary_lsn
        self._wal = WalSamples()
        self._turn = count()
        self._watcher: asyncio.Task[None] | None = None
        self._measured = asyncio.Event()
        self._lsn_probe: asyncio.Future[int] | None = None

    # ---- routing --------------------------------------------------------------------------------
    def pick(self) -> Replica | None:
        """A healthy replica, round-robin; None when there is none."""
        healthy = [r for r in self.members if r.healthy]
        if not healthy:
            return None
        return healthy[next(self._turn) % len(healthy)]

    # ---- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the pools and start the watcher; wait (briefly) for a first measurement, so the
        first reads already go to replicas that are healthy."""
        if self._watcher is not None:
            return
        for replica in self.members:
            await replica.pool.open(wait=False)
        self._watcher = asyncio.create_task(self._watch(), name="replica-watcher")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CHECK_TIMEOUT_S * 2):
                await self._measured.wait()

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        probes = [self._lsn_probe, *(r.probe for r in self.members)]
        for probe in probes:
            if probe is not None and not probe.done():
                probe.cancel()
        for replica in self.members:
            await _close_quietly(replica.checked)
            replica.checked = None
            await replica.pool.close()
        await asyncio.gather(*self._closing, return_exceptions=True)

    # ---- the watcher ----------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            await self.check()
            self._measured.set()
            await asyncio.sleep(CHECK_EVERY_S)

    async def check(self, connect: Connect = _connect) -> None:
        """One round: the primary's position, then every replica's, at once."""
        if self._lsn_probe is None or self._lsn_probe.done():
            self._lsn_probe = probing(self._primary_lsn())
        done, _ = await asyncio.wait({self._lsn_probe}, timeout=CHECK_TIMEOUT_S)
        if done and self._lsn_probe.exception() is None:
            self._wal.add(time.monotonic(), self._lsn_probe.result())
        # Else the primary is down or frozen: nothing new can be written, so the samples kept
        # still measure what the replicas have not replayed, and the replicas keep serving.
        await asyncio.gather(*(self._check(r, connect) for r in self.members))

    async def _check(self, replica: Replica, connect: Connect) -> None:
        if replica.probe is None or replica.probe.done():
            replica.probe = probing(self._probe(replica, connect))
        # Waited for, not cancelled on timeout (see ``sever``): a probe that does not answer
        # in time is a failed check now, and its connection is severed so it ends by itself.
        done, _ = await asyncio.wait({replica.probe}, timeout=CHECK_TIMEOUT_S)
        if not done:
            sever(replica.checked)
            self._fail(replica, f"no answer to a check within {CHECK_TIMEOUT_S:g} s")
            return
        try:
            row = replica.probe.result()
        except Exception as exc:  # noqa: BLE001 - every failure is a reason to leave it out
            broken, replica.checked = replica.checked, None
            await _close_quietly(broken)
            self._fail(replica, f"check failed: {describe(exc)}")
            return
        in_recovery, replayed = row
        if not in_recovery or replayed is None:
            replica.lag_s = None
            replica.leave_out("not a streaming replica (pg_is_in_recovery() is false)")
            return
        lag = self._wal.lag_s(int(replayed), time.monotonic())
        replica.lag_s = None if lag is None else round(lag, 3)
        if lag is None:
            replica.leave_out("the primary's position is not known yet", failed=False)
        elif lag > self.max_lag_s:
            replica.leave_out(f"replay lag {lag:.1f} s is over {self.max_lag_s:g} s", failed=False)
        else:
            if not replica.healthy:
                log.info("store.replica_in_use", replica=replica.name, lag_s=replica.lag_s)
                if replica.failed:
                    await self._renew_pool(replica)
            replica.healthy, replica.error, replica.failed = True, None, False

    @staticmethod
    async def _probe(replica: Replica, connect: Connect) -> tuple[bool, int | None]:
        if replica.checked is None or replica.checked.closed:
            replica.checked = await connect(replica.url)
        cur = await replica.checked.execute(
            "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
        )
        row: Any = await cur.fetchone()
        return bool(row[0]), row[1]

    @staticmethod
    def _fail(replica: Replica, error: str) -> None:
        replica.lag_s = None
        replica.leave_out(error)
        if severed := replica.sever_reads():
            log.warning("store.replica_reads_severed", replica=replica.name, reads=severed)

    async def _renew_pool(self, replica: Replica) -> None:
        """A fresh pool for a replica taken back after a failure: the old one may hold
        connections to the server that went away, or wait out psycopg_pool's reconnection
        back-off (seconds). Reads on the old pool's connections give them back to it."""
        old, replica.pool = replica.pool, self._new_pool(replica.url, replica.name)
        await replica.pool.open(wait=False)
        closing = asyncio.get_running_loop().create_task(old.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


def probing(probe: Awaitable[T]) -> asyncio.Future[T]:
    """A probe running on its own; its failure is read by whoever waits for it, or dropped."""
    future = asyncio.ensure_future(probe)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future


async def _close_quietly(conn: AsyncConnection | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await conn.close()
