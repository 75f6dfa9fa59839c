"""The one owner of database connections (style.md: the stac-fastapi-pgstac and tipg anchors).

A ``Store`` holds the process's pools and hands out connections only to the store's own
modules; everything outside the store calls their typed functions, passing the ``Store`` (one
call, one connection for the time of the call) or a ``Tx`` (several calls in one transaction).
Every acquisition and statement runs inside ``errors.translate``: a failure leaves the store as
one of its own errors, never as a psycopg exception.

Two pools, so that each kind of work has its own limits:

- **discovery** (drivers' questions: nearby, viewport, along-route, search, detail, clusters): a
  short statement timeout, because a driver is answered in seconds or refused;
- **primary** (writes, the receiver's own reads, management, read-your-writes): the long one.

With read replicas (``WATTLAS_DATABASE_REPLICA_URLS``, issue 15) a driver's question goes to a
healthy replica whose replay lag is under ``WATTLAS_REPLICA_MAX_LAG_S`` (``app.store.replicas``
watches them), and to the primary's discovery pool when none is. A replica that fails under a
read is left out and the read is asked again elsewhere (``discovery_read``), so its failure
never reaches a client; what it costs is one more round trip for the reads it was answering.
Each request notes the lag of the replicas it read from (``read_lag_s``): answers say how old
their data may be.

While the database is known to be down, a connection is waited for at most
``DOWN_ACQUIRE_TIMEOUT_S``: callers hear "unavailable" within a second instead of queueing for
the pool's whole timeout (issue 9, "outages answer clearly"). A caller already waiting when the
database goes down looks again every ``WAIT_SLICE_S``, so it hears it too. (A push makes two
acquisitions, the token's and the writer's: two short waits stay under a second.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.logs import get_logger
from app.settings import Settings
from app.store.errors import Conflict, StoreUnavailable, translate
from app.store.replicas import Replica, Replicas, probing, sever

log = get_logger(__name__)

# json/jsonb values are decoded by msgspec instead of the standard library's json: the same
# Python values, at a third of the cost (measured on the snapshot's batches, where decoding
# the EVSE trees took three quarters of the time of reading them).
set_json_loads(msgspec.json.decode)

# How long a caller may wait for a pooled connection: under load a short queue is normal, but a
# driver is answered in seconds or told to retry.
ACQUIRE_TIMEOUT_S = 5.0
DOWN_ACQUIRE_TIMEOUT_S = 0.3
WAIT_SLICE_S = 0.5  # a waiting caller looks at the database's state this often
# psycopg_pool doubles the delay between reconnection attempts without a cap (1, 2, 4 … 32 s):
# after a 40 s outage the next attempt could come 30 s after the database was back. A chain of
# attempts gives up after this long instead, and the next caller that waits starts a new chain
# from a 1 s delay, so the pool is back within a few seconds of the database.
RECONNECT_GIVE_UP_S = 8.0
WRITE_STATEMENT_TIMEOUT_S = 30.0
DISCOVERY_STATEMENT_TIMEOUT_S = 5.0
# A replica's pool that has no connection to give in this long is passed over for the primary.
REPLICA_ACQUIRE_TIMEOUT_S = 0.3
# The primary's watch (API processes): a probe every WATCH_EVERY_S; one unanswered for
# FROZEN_AFTER_S means the server is frozen (a paused VM, a partition, SIGSTOP).
WATCH_EVERY_S = 0.5
FROZEN_AFTER_S = 1.0


class DatabaseNotConfigured(StoreUnavailable):
    pass


class ReplicaLost(StoreUnavailable):
    """A replica failed under a read (connection lost, or a query cancelled by its replay):
    ``discovery_read`` asks the read again, elsewhere."""


class ReadLag:
    """The largest replay lag of the replicas one request read from (None: only the primary)."""

    __slots__ = ("lag_s",)

    def __init__(self) -> None:
        self.lag_s: float | None = None


_read_lag: ContextVar[ReadLag | None] = ContextVar("wattlas_read_lag", default=None)


def track_read_lag() -> ReadLag:
    """Start noting this request's replica lag (the app calls it as a request begins: tasks the
    request starts share the holder)."""
    lag = ReadLag()
    _read_lag.set(lag)
    return lag


def read_lag_s() -> float | None:
    """How far behind the primary this request's data may be: the largest lag of the replicas
    it read from, or None when it read from the primary only."""
    lag = _read_lag.get()
    return None if lag is None else lag.lag_s


def _note_lag(replica: Replica) -> None:
    lag = _read_lag.get()
    if lag is not None:
        lag.lag_s = max(lag.lag_s or 0.0, replica.lag_s or 0.0)


P = ParamSpec("P")
T = TypeVar("T")


def discovery_read(
    read: Callable[Concatenate[Store, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Store, P], Coroutine[Any, Any, T]]:
    """A read of the discovery pool that may be asked again: when the replica under it fails,
    it runs again on another replica or on the primary (the failed one is left out by then)."""

    @functools.wraps(read)
    async def again_elsewhere(store: Store, /, *args: P.args, **kwargs: P.kwargs) -> T:
        for _ in range(store.replica_count):
            try:
                return await read(store, *args, **kwargs)
            except ReplicaLost as exc:
                log.warning("store.read_asked_again", read=read.__name__, error=str(exc))
        return await read(store, *args, **kwargs)

    return again_elsewhere


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise DatabaseNotConfigured(
            "no database: set WATTLAS_DATABASE_URL, or start the local one with "
            "`wattlas services start` (`make run` does everything)"
        )
    return settings.database_url


# What a change of kind ``kind`` becomes when the same subject changed before in the same
# transaction: the feed then carries one change per subject and transaction, and a location
# created or shown, then patched, is still a ``location`` change (the copy needs all of it).
def _stronger(before: str | None, kind: str) -> str:
    return before if before == "location" and kind == "availability" else kind


class Tx:
    """One open transaction. Store functions that take a ``Tx`` run their statements in it,
    and note on it the locations and tariffs they changed (``record``): the transaction's last
    statement writes them to the change feed's queue (migrations 0009, 0011)."""

    __slots__ = ("changes", "conn", "held")

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn  # for the store's own modules only
        self.held: set[int] = set()  # advisory locks taken (``locks.lock_objects``)
        # (subject kind "l" | "t", primary key) → change kind, in the order first changed
        self.changes: dict[tuple[str, int], str] = {}

    def record(self, kind: str, location_pks: Iterable[int]) -> None:
        """These locations changed: ``location``, ``removed`` or ``availability``."""
        for pk in location_pks:
            key = ("l", pk)
            self.changes[key] = _stronger(self.changes.get(key), kind)

    def record_tariffs(self, tariff_pks: Iterable[int]) -> None:
        for pk in tariff_pks:
            self.changes[("t", pk)] = "tariff"

    async def write_changes(self) -> None:
        """Append the changes to the feed's queue (``wattlas_record_changes``); they are numbered
        once committed (``app.store.changes.sequence``)."""
        if not self.changes:
            return
        kinds, locations, tariffs = [], [], []
        for (subject, pk), kind in self.changes.items():
            kinds.append(kind)
            locations.append(pk if subject == "l" else None)
            tariffs.append(pk if subject == "t" else None)
        await self.conn.execute(
            "SELECT wattlas_record_changes(%s::text[], %s::bigint[], %s::bigint[])",
            (kinds, locations, tariffs),
        )
        self.changes = {}

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: a failure inside rolls back only what was done inside (raised
        as a StoreError), and the outer transaction goes on. Advisory locks taken inside are
        released by PostgreSQL when it rolls back, so they are forgotten here too, and so are
        the changes recorded inside."""
        held = set(self.held)
        changes = dict(self.changes)
        try:
            with translate():
                async with self.conn.transaction():
                    yield
        except BaseException:
            self.held = held
            self.changes = changes
            raise


Configure = Callable[[AsyncConnection], Awaitable[None]]


def _configure(statement_timeout_s: float, extra: Configure | None) -> Configure:
    async def configure(conn: AsyncConnection) -> None:
        await conn.execute(f"SET statement_timeout = '{int(statement_timeout_s * 1000)}ms'")
        if extra is not None:
            await extra(conn)
        await conn.commit()

    return configure


def _reconnect_gave_up(pool: AsyncConnectionPool) -> None:
    # Not the end: the next caller that finds the pool short starts a new chain of attempts.
    log.warning("store.reconnect_retrying", pool=pool.name, after_s=RECONNECT_GIVE_UP_S)


class Store:
    def __init__(
        self,
        url: str,
        *,
        max_size: int = 8,
        min_size: int = 1,
        name: str = "wattlas",
        discovery_timeout_s: float = DISCOVERY_STATEMENT_TIMEOUT_S,
        write_timeout_s: float = WRITE_STATEMENT_TIMEOUT_S,
        configure: Configure | None = None,
        replica_urls: tuple[str, ...] = (),
        replica_max_lag_s: float = 2.0,
    ) -> None:
        """``configure`` runs on every new connection (the benchmarks load auto_explain)."""
        self.url = url
        self.name = name
        self._primary = self._pool(url, min_size, max_size, name, write_timeout_s, configure)
        # Opened on first use: a command-line process never asks a driver's question.
        self._discovery = self._pool(
            url, 0, max_size, f"{name}-discovery", discovery_timeout_s, configure
        )
        self._discovery_opened = False
        self._down_since: float | None = None
        # Connections handed out now, to be severed if the server freezes under them.
        self._in_flight: set[AsyncConnection] = set()
        self._watch: asyncio.Task[None] | None = None
        self.frozen = False  # the watch's last probe went unanswered
        self.replicas: Replicas | None = None
        if replica_urls:
            self.replicas = Replicas(
                replica_urls,
                max_lag_s=replica_max_lag_s,
                pool=lambda replica_url, replica: self._pool(
                    replica_url,
                    1,  # one ready: a first read must not wait for a connection to be made
                    max_size,
                    f"{name}-replica-{replica}",
                    discovery_timeout_s,
                    configure,
                ),
                primary_lsn=self._primary_lsn,
            )

    @staticmethod
    def _pool(
        url: str,
        min_size: int,
        max_size: int,
        name: str,
        statement_timeout_s: float,
        configure: Configure | None,
    ) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max(max_size, min_size, 1),
            configure=_configure(statement_timeout_s, configure),
            open=False,
            name=name,
            timeout=ACQUIRE_TIMEOUT_S,
            reconnect_timeout=RECONNECT_GIVE_UP_S,
            reconnect_failed=_reconnect_gave_up,
            kwargs={"autocommit": True, "application_name": name},
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, name: str = "wattlas", max_size: int | None = None
    ) -> Store:
        return cls(
            database_url(settings),
            max_size=max_size or settings.db_pool_size,
            name=name,
            discovery_timeout_s=settings.query_timeout_s,
            replica_urls=settings.replica_urls,
            replica_max_lag_s=settings.replica_max_lag_s,
        )

    async def open(self) -> None:
        await self._primary.open(wait=False)

    async def open_discovery(self) -> None:
        """Open the discovery pool and the replicas (an API process does it as it starts; other
        processes on their first driver's question, if they ever ask one)."""
        if self._discovery_opened:
            return
        self._discovery_opened = True
        await self._discovery.open(wait=False)
        if self.replicas is not None:
            await self.replicas.start()

    def watch_primary(self) -> None:
        """Watch the primary (an API process does): when a probe goes unanswered for
        ``FROZEN_AFTER_S``, the store counts as down (new callers hear it within
        ``DOWN_ACQUIRE_TIMEOUT_S``) and the connections in use are severed, so their callers
        hear "unavailable" instead of waiting for a server that does not answer, on TCP that
        does not time out (issue 9: a frozen PostgreSQL hung every request holding a
        connection). A stopped server needs no watch: its connections fail by themselves."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_primary(), name="primary-watch")

    async def _watch_primary(self) -> None:
        probe_conn: list[AsyncConnection] = []  # the probe's own connection, when it has one
        probe: asyncio.Future[None] | None = None

        async def answer() -> None:
            if not probe_conn or probe_conn[0].closed:
                probe_conn[:] = [
                    await AsyncConnection.connect(
                        self.url, autocommit=True, application_name=f"{self.name}-watch"
                    )
                ]
            await probe_conn[0].execute("SELECT 1")

        try:
            while True:
                if probe is None or probe.done():
                    probe = probing(answer())
                done, _ = await asyncio.wait({probe}, timeout=FROZEN_AFTER_S)
                if not done:
                    self._frozen(probe_conn[0] if probe_conn else None)
                elif probe.exception() is not None:  # refused or lost: the pools find out
                    for conn in probe_conn:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    probe_conn.clear()
                elif self.frozen:
                    self.frozen = False
                    log.info("store.answering_again", store=self.name)
                await asyncio.sleep(WATCH_EVERY_S)
        finally:
            if probe is not None:
                probe.cancel()
            for conn in probe_conn:
                with contextlib.suppress(Exception):
                    await conn.close()  # no round trip: it closes the socket

    def _frozen(self, probe_conn: AsyncConnection | None) -> None:
        if not self.frozen:
            log.error("store.frozen", store=self.name, after_s=FROZEN_AFTER_S)
        self.frozen = True
        if self._down_since is None:
            self._down_since = time.monotonic()
        sever(probe_conn)
        severed = sum(sever(conn) for conn in list(self._in_flight))
        if severed:
            log.warning("store.connections_severed", store=self.name, connections=severed)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self.replicas is not None and self._discovery_opened:
            await self.replicas.close()
        await self._primary.close()
        if self._discovery_opened:
            await self._discovery.close()

    @property
    def replica_count(self) -> int:
        return 0 if self.replicas is None else len(self.replicas.members)

    async def _primary_lsn(self) -> int:
        async with self.connection() as conn:
            cur = await conn.execute("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def down(self) -> bool:
        """The last attempt to reach the database failed (and none has succeeded since)."""
        return self._down_since is not None

    def _timeout_s(self) -> float:
        return DOWN_ACQUIRE_TIMEOUT_S if self._down_since is not None else ACQUIRE_TIMEOUT_S

    async def _getconn(self, pool: AsyncConnectionPool) -> AsyncConnection:
        """A connection within the acquire timeout, asking again every
        ``WAIT_SLICE_S`` so that a caller waiting when the database goes down hears
        it then, not at the end of the whole timeout. Free connections are taken at once."""
        deadline = time.monotonic() + self._timeout_s()
        while True:
            wait_s = min(deadline - time.monotonic(), WAIT_SLICE_S)
            try:
                return await pool.getconn(timeout=max(wait_s, 0.001))
            except PoolTimeout:
                if self._down_since is not None or time.monotonic() >= deadline:
                    raise

    @asynccontextmanager
    async def _acquire(self, pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
        try:
            with translate():
                if self.frozen:  # a connection would be one more caller waiting on it
                    raise StoreUnavailable(
                        f"the database does not answer (no answer for {FROZEN_AFTER_S:g} s)"
                    )
                conn = await self._getconn(pool)
                self._in_flight.add(conn)
                try:
                    yield conn
                finally:
                    self._in_flight.discard(conn)
                    await pool.putconn(conn)
        except StoreUnavailable as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.error("store.unavailable", store=self.name, error=str(exc))
            raise
        if self._down_since is not None:
            log.info(
                "store.recovered",
                store=self.name,
                down_s=round(time.monotonic() - self._down_since, 1),
            )
            self._down_since = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A primary connection in autocommit (for the store's own modules)."""
        async with self._acquire(self._primary) as conn:
            yield conn

    @asynccontextmanager
    async def discovery_connection(
        self, *, on_primary: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A connection for a driver's question (short statement timeout): on a healthy replica
        when there is one, else on the primary. ``on_primary``: a read that must see every
        committed write (the change feed and the snapshot number what the primary committed;
        the nearby cache keeps what it reads until an event says it changed). A function
        using a replica's connection is decorated with ``discovery_read``."""
        if not self._discovery_opened:
            await self.open_discovery()
        replica = None if on_primary or self.replicas is None else self.replicas.pick()
        if replica is not None:
            # The pool of this moment: the replica's may be renewed while the read runs, and a
            # connection goes back to the pool it came from.
            pool = replica.pool
            conn = await self._replica_conn(pool)
            if conn is not None:
                async with self._on_replica(replica, pool, conn):
                    yield conn
                return
        async with self._acquire(self._discovery) as conn:
            yield conn

    @staticmethod
    async def _replica_conn(pool: AsyncConnectionPool) -> AsyncConnection | None:
        """A replica's connection, or None when its pool has none to give at once (busy, or
        growing on a slow machine): the primary answers this read. Not a reason to leave the
        replica out; its checks say whether it is healthy."""
        try:
            return await pool.getconn(timeout=REPLICA_ACQUIRE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - the primary answers instead
            return None

    @asynccontextmanager
    async def _on_replica(
        self, replica: Replica, pool: AsyncConnectionPool, conn: AsyncConnection
    ) -> AsyncIterator[None]:
        replica.in_flight.add(conn)
        try:
            with translate():
                yield
        except (StoreUnavailable, Conflict) as exc:
            # Unavailable: the replica went away. Conflict: PostgreSQL cancelled the query for
            # its replay ("conflict with recovery"); the replica itself is fine.
            if isinstance(exc, StoreUnavailable):
                replica.leave_out(str(exc))
            raise ReplicaLost(f"replica {replica.name}: {exc}") from exc
        else:
            _note_lag(replica)
        finally:
            replica.in_flight.discard(conn)
            await pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A transaction on the primary: committed when the block ends, rolled back if it
        raises."""
        async with self.connection() as conn:
            with translate():
                async with conn.transaction():
                    tx = Tx(conn)
                    yield tx
                    await tx.write_changes()


Db = Store | Tx


@asynccontextmanager
async def using(db: Db) -> AsyncIterator[AsyncConnection]:
    """The transaction's connection, or one of the store's for the time of the block."""
    if isinstance(db, Tx):
        with translate():
            yield db.conn
    else:
        async with db.connection() as conn:
            yield conn
