"""Pulls on a schedule: per network an incremental pull every ``pull_interval_s`` and a full one
every ``full_pull_interval_s``; many networks in parallel, one pull per network at a time (the
advisory lock in ``ingest.sync`` holds that across processes, so every API process may run a
scheduler)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from app.live.tasks import cancel_and_wait
from app.logs import get_logger
from app.runtime import Runtime
from ingest.sync import SyncBusy, SyncImpossible, sync

log = get_logger(__name__)

DEFAULT_PULL_INTERVAL_S = 3600  # pull-only peers: "in hours, not minutes" (ocpi.md §1.10)
DEFAULT_FULL_PULL_INTERVAL_S = 86400
RETRY_AFTER_FAILURE_S = 300
MAX_PARALLEL = 4
TICK_S = 10.0

_DUE = """
SELECT n.id, n.name,
       n.last_full_pull_ok_at IS NULL
       OR n.last_full_pull_ok_at < now() - make_interval(secs => coalesce(n.full_pull_interval_s,
                                                                         %(full)s)) AS full,
       EXISTS (SELECT 1 FROM jsonb_array_elements(n.endpoints) e
               WHERE e->>'identifier' = 'tariffs' AND coalesce(e->>'role', 'SENDER') = 'SENDER')
           AS has_tariffs
FROM networks n
WHERE n.kind = 'ocpi' AND n.status IN ('REGISTERED', 'STATIC') AND n.outbound_token IS NOT NULL
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(n.endpoints) e
              WHERE e->>'identifier' = 'locations' AND coalesce(e->>'role', 'SENDER') = 'SENDER')
  AND (n.last_pull_attempt_at IS NULL
       OR (n.last_pull_error IS NOT NULL
           AND n.last_pull_attempt_at < now() - make_interval(secs => %(retry)s))
       OR n.last_pull_attempt_at < now() - make_interval(secs => coalesce(n.pull_interval_s,
                                                                         %(incremental)s)))
ORDER BY n.last_pull_attempt_at NULLS FIRST
"""


async def pull_network(
    pool: AsyncConnectionPool,
    redis: Redis | None,
    network_id: int,
    *,
    full: bool,
    tariffs: bool,
) -> None:
    try:
        await sync(pool, network_id, module="locations", full=full, redis=redis)
        if tariffs:
            await sync(pool, network_id, module="tariffs", full=full, redis=redis)
    except SyncBusy:
        pass
    except SyncImpossible as exc:
        log.warning("sync.impossible", network_id=network_id, error=str(exc))
    except Exception as exc:
        log.exception("sync.crashed", network_id=network_id, error=str(exc))


async def run_scheduler(
    pool: AsyncConnectionPool, redis: Redis | None, tick_s: float = TICK_S
) -> None:
    running: dict[int, asyncio.Task[None]] = {}
    try:
        await _schedule(pool, redis, tick_s, running)
    finally:
        # Cancelled (shutdown): the pulls it started stop with it; their runs resume next time.
        await cancel_and_wait(running.values())


async def _schedule(
    pool: AsyncConnectionPool,
    redis: Redis | None,
    tick_s: float,
    running: dict[int, asyncio.Task[None]],
) -> None:
    while True:
        for key in [k for k, t in running.items() if t.done()]:
            del running[key]
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    _DUE,
                    {
                        "full": DEFAULT_FULL_PULL_INTERVAL_S,
                        "incremental": DEFAULT_PULL_INTERVAL_S,
                        "retry": RETRY_AFTER_FAILURE_S,
                    },
                )
                due = await cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the database may be restarting
            log.warning("scheduler.query_failed", error=str(exc))
            due = []
        for network_id, name, full, has_tariffs in due:
            if network_id in running or len(running) >= MAX_PARALLEL:
                continue
            log.info("scheduler.pull", network=name, full=full)
            running[network_id] = asyncio.create_task(
                pull_network(pool, redis, network_id, full=full, tariffs=has_tariffs)
            )
        await asyncio.sleep(tick_s)


@asynccontextmanager
async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    if not runtime.settings.run_scheduler:
        yield
        return
    task = asyncio.create_task(run_scheduler(runtime.pool, runtime.redis))
    try:
        yield
    finally:
        await cancel_and_wait([task])
