"""Pulling from a network: full and incremental sync of Locations and Tariffs (ocpi.md §1.7,
§3.2, §4.1, P8-P11).

- One pull at a time per network, across every process (a PostgreSQL advisory lock), many
  networks in parallel.
- Pages are streamed: each is decoded, normalised and applied in its own transaction together
  with the run's progress (the next page's URL), so memory stays flat and a failed full sync
  resumes where it stopped.
- Only a *complete* full sync hides what it did not list; a failed or incremental one never does.
- Incremental sync asks for ``date_from`` = start of the last successful sync minus a margin
  (peers do not always bump ``last_updated`` in time, ocpi.md P10).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from app.live.events import publish
from app.logs import get_logger
from ingest import networks
from ingest.apply import ApplyResult, apply_locations, hide_absent_after_full_sync, record_problems
from ingest.client import OcpiClient, OcpiError, Page, RetryPolicy
from ingest.credentials import endpoint_url
from ingest.normalise import IngestContext, Location, Normaliser, Problem
from ingest.ocpi import transport
from ingest.receiver.operations import availability_events
from ingest.tariffs import Tariff, apply_tariffs, hide_absent_tariffs, normalise_tariff

log = get_logger(__name__)

INCREMENTAL_MARGIN = timedelta(minutes=10)
RESUME_WITHIN = timedelta(hours=24)
LOCK_NAMESPACE = 727001  # advisory lock key space of pulls


class SyncBusy(RuntimeError):
    pass


class SyncImpossible(RuntimeError):
    pass


@dataclass
class SyncReport:
    network: str
    module: str
    kind: str
    run_id: int | None = None
    resumed: bool = False
    complete: bool = False
    pages: int = 0
    objects: int = 0
    accepted: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0
    evses: int = 0
    hidden_absent: int = 0
    seconds: float = 0.0
    error: str | None = None
    total_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def evses_per_s(self) -> float:
        return self.evses / self.seconds if self.seconds else 0.0


@dataclass
class _Network:
    id: int
    name: str
    version: str | None
    token: str | None
    auth_encoding: str
    endpoints: list[dict[str, Any]]
    parties: list[tuple[str, str]]
    last_ok: dict[str, datetime]  # per module: start of the last complete sync


async def _load_network(conn: AsyncConnection, network_id: int) -> _Network:
    row = await networks.get_network(conn, network_id)
    cur = await conn.execute(
        "SELECT country_code, party_id FROM network_parties WHERE network_id = %s ORDER BY 1, 2",
        (network_id,),
    )
    parties = [(r[0], r[1]) for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT module, max(started_at) FROM sync_runs WHERE network_id = %s"
        " AND status = 'complete' GROUP BY module",
        (network_id,),
    )
    last_ok = {r[0]: r[1] for r in await cur.fetchall()}
    if row["status"] == "REVOKED":
        raise SyncImpossible(f"network {row['name']} is revoked")
    return _Network(
        id=row["id"],
        name=row["name"],
        version=row["ocpi_version"],
        token=row["outbound_token"],
        auth_encoding=row["outbound_auth"],
        endpoints=list(row["endpoints"] or []),
        parties=parties,
        last_ok=last_ok,
    )


class _Lock:
    """Session-level advisory lock on a dedicated connection: one pull per network at a time."""

    def __init__(self, pool: AsyncConnectionPool, network_id: int) -> None:
        self._pool = pool
        self._network_id = network_id
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> None:
        self._conn = await self._pool.getconn()
        await self._conn.set_autocommit(True)
        cur = await self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self._network_id)
        )
        row = await cur.fetchone()
        if not row or not row[0]:
            await self._release_conn()
            raise SyncBusy(f"a pull of network {self._network_id} is already running")

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self._network_id)
            )
            await self._release_conn()

    async def _release_conn(self) -> None:
        if self._conn is not None:
            await self._conn.set_autocommit(False)
            await self._pool.putconn(self._conn)
            self._conn = None


async def sync(
    pool: AsyncConnectionPool,
    network_id: int,
    *,
    module: str = "locations",
    full: bool | None = None,
    redis: Redis | None = None,
    http: httpx.AsyncClient | None = None,
    client: OcpiClient | None = None,
    retry: RetryPolicy | None = None,
) -> SyncReport:
    """Pull one module of one network. ``full=None``: incremental if a sync succeeded before."""
    started = time.perf_counter()
    async with pool.connection() as conn:
        network = await _load_network(conn, network_id)
    never = module not in network.last_ok
    kind = "full" if full or (full is None and never) else "incremental"
    report = SyncReport(network.name, module, kind)
    url = endpoint_url(network.endpoints, module, "SENDER")
    if url is None:
        raise SyncImpossible(f"network {network.name} lists no {module} sender endpoint")
    if not network.token:
        raise SyncImpossible(f"network {network.name} gave us no token to pull with")
    async with _Lock(pool, network_id):
        own_client = client is None
        client = client or OcpiClient(
            network.token, auth_encoding=network.auth_encoding, http=http, retry=retry
        )
        try:
            await _run(pool, network, client, url, report, redis)
        finally:
            if own_client:
                await client.aclose()
    report.seconds = time.perf_counter() - started
    log.info(
        "sync.finished",
        network=network.name,
        module=module,
        kind=report.kind,
        complete=report.complete,
        pages=report.pages,
        objects=report.objects,
        accepted=report.accepted,
        unchanged=report.unchanged,
        quarantined=report.quarantined,
        hidden_absent=report.hidden_absent,
        evses=report.evses,
        seconds=round(report.seconds, 3),
        error=report.error,
    )
    return report


async def _start_run(
    conn: AsyncConnection, network: _Network, report: SyncReport
) -> tuple[int, str | None, datetime | None]:
    """A new run, or the failed full run to resume; returns (run id, resume URL, date_from)."""
    async with conn.transaction():
        if report.kind == "full":
            cur = await conn.execute(
                """
                SELECT id, next_url FROM sync_runs
                WHERE network_id = %s AND module = %s AND kind = 'full'
                  -- 'running' here is a run whose process died: we hold the network's lock.
                  AND status IN ('failed', 'running')
                  AND next_url IS NOT NULL AND started_at > now() - %s
                  AND NOT EXISTS (
                      SELECT 1 FROM sync_runs later
                      WHERE later.network_id = sync_runs.network_id
                        AND later.module = sync_runs.module AND later.kind = 'full'
                        AND later.status = 'complete' AND later.started_at > sync_runs.started_at)
                ORDER BY started_at DESC LIMIT 1
                """,
                (network.id, report.module, RESUME_WITHIN),
            )
            row = await cur.fetchone()
            if row is not None:
                await conn.execute(
                    "UPDATE sync_runs SET status = 'running', error = NULL WHERE id = %s", (row[0],)
                )
                report.resumed = True
                return row[0], row[1], None
        date_from = None
        last_ok = network.last_ok.get(report.module)
        if report.kind == "incremental" and last_ok is not None:
            date_from = last_ok - INCREMENTAL_MARGIN
        cur = await conn.execute(
            "INSERT INTO sync_runs (network_id, module, kind, date_from) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (network.id, report.module, report.kind, date_from),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "UPDATE networks SET last_pull_attempt_at = now() WHERE id = %s", (network.id,)
        )
        return row[0], None, date_from


async def _run(
    pool: AsyncConnectionPool,
    network: _Network,
    client: OcpiClient,
    url: str,
    report: SyncReport,
    redis: Redis | None,
) -> None:
    async with pool.connection() as conn:
        run_id, resume_url, date_from = await _start_run(conn, network, report)
        report.run_id = run_id
        params = {"date_from": transport.format_timestamp(date_from)} if date_from else None
        cur = await conn.execute("SELECT started_at FROM sync_runs WHERE id = %s", (run_id,))
        started_row = await cur.fetchone()
        run_started_at = started_row[0] if started_row else datetime.now(UTC)
        default_party = network.parties[0] if len(network.parties) == 1 else (None, None)
        pages = client.pages(resume_url or url, None if resume_url else params)
        next_page: asyncio.Task[Page | None] = asyncio.create_task(_next(pages))
        normaliser = _Normalising(network, default_party, report.module)
        previous: tuple[Page, asyncio.Future[Normalised]] | None = None
        failure: Exception | None = None
        try:
            while True:
                try:
                    page = await next_page
                except (OcpiError, httpx.HTTPError, OSError) as exc:
                    # The pages already fetched are still applied; the run resumes after them.
                    failure, page = exc, None
                current = None
                if page is not None:
                    if page.total_count is not None:
                        report.total_count = page.total_count
                    # Three stages overlap: the next page is fetched, this one normalised (in a
                    # worker process for big feeds) and the previous one applied.
                    current = (page, normaliser.submit(page, report.total_count))
                    next_page = asyncio.create_task(_next(pages))
                if previous is not None:
                    done_page, normalised = previous
                    result = await _apply_page(
                        conn, network, done_page, await normalised, report, run_id, default_party
                    )
                    if redis is not None and result.status_changes:
                        await publish(redis, availability_events(result, datetime.now(UTC)))
                previous = current
                if page is None:
                    break
            if failure is not None:
                report.error = str(failure)
                await _mark_failed(conn, run_id, network.id, report.error)
                return
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(_mark_failed(conn, run_id, network.id, "interrupted"))
            raise
        finally:
            normaliser.close()
            if not next_page.done():
                next_page.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await next_page
        async with conn.transaction():
            if report.kind == "full":
                if report.module == "locations":
                    hidden = await hide_absent_after_full_sync(
                        conn, network_id=network.id, sync_run_id=run_id
                    )
                    report.hidden_absent = len(hidden)
                else:
                    report.hidden_absent = await hide_absent_tariffs(
                        conn, network_id=network.id, sync_run_id=run_id
                    )
            await conn.execute(
                "UPDATE sync_runs SET status = 'complete', finished_at = now(), next_url = NULL,"
                " hidden_absent = %s WHERE id = %s",
                (report.hidden_absent, run_id),
            )
            await conn.execute(
                """
                UPDATE networks SET last_pull_ok_at = %(started)s, last_pull_error = NULL,
                    last_full_pull_ok_at = CASE WHEN %(full)s THEN %(started)s
                                                ELSE last_full_pull_ok_at END,
                    last_contact_at = greatest(last_contact_at, now())
                WHERE id = %(id)s
                """,
                {"started": run_started_at, "full": report.kind == "full", "id": network.id},
            )
        report.complete = True


async def _mark_failed(conn: AsyncConnection, run_id: int, network_id: int, error: str) -> None:
    """A run that stopped early keeps its next_url: the next full sync resumes from there."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE sync_runs SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
            (error, run_id),
        )
        await conn.execute(
            "UPDATE networks SET last_pull_error = %s WHERE id = %s", (error, network_id)
        )


async def _next(pages: Any) -> Page | None:
    try:
        page: Page = await pages.__anext__()
    except StopAsyncIteration:
        return None
    return page


Normalised = tuple[list[Location], list[Tariff], list[Problem]]
# Above this many objects a feed is normalised in a worker process, beside the database work.
WORKER_THRESHOLD = 20_000


def normalise_objects(module: str, ctx: IngestContext, objects: list[bytes]) -> Normalised:
    """One page's objects → (locations, tariffs, problems). Runs in a worker process for big
    feeds, so it takes and returns only picklable values."""
    if module == "locations":
        accepted, problems = Normaliser(ctx).locations(objects)
        return accepted, [], problems
    problems = []
    tariffs = []
    for raw in objects:
        tariff = normalise_tariff(
            raw,
            country_code=ctx.country_code,
            party_id=ctx.party_id,
            received_at=ctx.received_at,
            problems=problems,
        )
        if tariff is not None:
            tariffs.append(tariff)
    return [], tariffs, problems


class _Normalising:
    def __init__(
        self, network: _Network, default_party: tuple[str | None, str | None], module: str
    ) -> None:
        self._network = network
        self._party = default_party
        self._module = module
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, page: Page, total_count: int | None) -> asyncio.Future[Normalised]:
        loop = asyncio.get_running_loop()
        ctx = IngestContext(
            network_id=self._network.id,
            source="pull",
            ocpi_version=self._network.version,
            country_code=self._party[0],
            party_id=self._party[1],
            received_at=datetime.now(UTC),
        )
        if self._executor is None and (total_count or 0) >= WORKER_THRESHOLD:
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("forkserver")
            )
        if self._executor is not None:
            return loop.run_in_executor(
                self._executor, normalise_objects, self._module, ctx, page.objects
            )
        done: asyncio.Future[Normalised] = loop.create_future()
        done.set_result(normalise_objects(self._module, ctx, page.objects))
        return done

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


async def _apply_page(
    conn: AsyncConnection,
    network: _Network,
    page: Page,
    normalised: Normalised,
    report: SyncReport,
    run_id: int,
    default_party: tuple[str | None, str | None],
) -> ApplyResult:
    received_at = datetime.now(UTC)
    full_run = report.kind == "full"
    result = ApplyResult()
    accepted, tariffs, problems = normalised
    page_evses = 0
    async with conn.transaction():
        if report.module == "locations":
            result = await apply_locations(
                conn,
                accepted,
                network_id=network.id,
                ocpi_version=network.version,
                received_at=received_at,
                sync_run_id=run_id if full_run else None,
            )
            report.accepted += result.applied
            report.unchanged += result.unchanged
            report.stale += result.stale
            page_evses = sum(len(loc.evses) for loc in accepted)
            report.evses += page_evses
        else:
            created, updated, stale = await apply_tariffs(
                conn,
                tariffs,
                network_id=network.id,
                received_at=received_at,
                sync_run_id=run_id if full_run else None,
            )
            report.accepted += created + updated
            report.stale += stale
        rejected = sum(
            1
            for p in problems
            if p.severity == "rejected" and p.object_kind in ("location", "tariff")
        )
        report.quarantined += rejected
        report.pages += 1
        report.objects += len(page.objects)
        await record_problems(conn, problems, network_id=network.id, source="pull")
        await conn.execute(
            """
            UPDATE sync_runs SET pages = pages + 1, objects = objects + %s,
                accepted = accepted + %s, quarantined = quarantined + %s, evses = evses + %s,
                next_url = %s
            WHERE id = %s
            """,
            (len(page.objects), result.applied, rejected, page_evses, page.next_url, run_id),
        )
    return result


async def pull_object(
    pool: AsyncConnectionPool,
    network_id: int,
    location_id: str,
    *,
    http: httpx.AsyncClient | None = None,
) -> ApplyResult:
    """GET one location from the network and apply it (repair after a failed PATCH, P-§3.3)."""
    async with pool.connection() as conn:
        network = await _load_network(conn, network_id)
    url = endpoint_url(network.endpoints, "locations", "SENDER")
    if url is None or not network.token:
        raise SyncImpossible(f"network {network.name} cannot be pulled from")
    async with OcpiClient(network.token, auth_encoding=network.auth_encoding, http=http) as client:
        env, _ = await client.request("GET", f"{url.rstrip('/')}/{location_id}")
    received_at = datetime.now(UTC)
    default = network.parties[0] if len(network.parties) == 1 else (None, None)
    normaliser = Normaliser(
        IngestContext(
            network_id=network.id,
            source="pull",
            ocpi_version=network.version,
            country_code=default[0],
            party_id=default[1],
            received_at=received_at,
        )
    )
    accepted, problems = normaliser.locations([bytes(env.data)])
    async with pool.connection() as conn, conn.transaction():
        await record_problems(conn, problems, network_id=network.id, source="pull")
        return await apply_locations(
            conn,
            accepted,
            network_id=network.id,
            ocpi_version=network.version,
            received_at=received_at,
        )
