"""Pulls on a schedule: per network an incremental pull every ``pull_interval_s`` and a full one
every ``full_pull_interval_s``; many networks in parallel, one pull per network at a time (the
advisory lock in ``ingest.sync`` holds that across processes, so every API process may run a
scheduler)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from redis.asyncio import Redis

from app.live.tasks import cancel_and_wait
from app.logs import get_logger
from app.services import services_of
from app.store import Busy, Store, StoreError, locks, pulls, sites
from ingest.sync import US, SyncImpossible, sync

log = get_logger(__name__)

DEFAULT_PULL_INTERVAL_S = 3600  # pull-only peers: "in hours, not minutes" (ocpi.md §1.10)
DEFAULT_FULL_PULL_INTERVAL_S = 86400
RETRY_AFTER_FAILURE_S = 300
MAX_PARALLEL = 4
TICK_S = 10.0
MERGE_EVERY_S = 600.0  # sites are merged after pulls, and at least this often
MERGE_AT_MOST_EVERY_S = 60.0


async def pull_network(
    store: Store,
    redis: Redis | None,
    network_id: int,
    *,
    full: bool,
    modules: tuple[str, ...] = ("locations",),
    us: tuple[str, str] = US,
    seen_run_id: int | None = None,
) -> None:
    """Each module the network serves, each on its own: one that fails does not stop the
    others, and each keeps its own status (``pulls.module_status``). HubClientInfo goes first:
    it says which parties a hub routes before their locations arrive.

    ``seen_run_id``: the network's newest run when it was found due. Another process's
    scheduler may have found it due at the same moment: the whole pull (every module) holds
    the network's pull lock, so a second one stops at once while it runs (it had found it due
    between two modules of the first, due for the module not yet pulled, and pulled them all
    again: CI), and stops after it too, seeing a run newer than the newest it saw."""
    try:
        async with locks.held(store, locks.PULL, network_id, "a pull of the network"):
            if seen_run_id is not None and await pulls.ran_after_any(
                store, network_id, seen_run_id
            ):
                return  # pulled by another scheduler since it was found due
            for module in sorted(modules, key=lambda m: m != "hubclientinfo"):
                try:
                    await sync(
                        store, network_id, module=module, full=full, redis=redis, us=us,
                        lock_held=True,
                    )  # fmt: skip
                except SyncImpossible as exc:
                    log.warning(
                        "sync.impossible", network_id=network_id, module=module, error=str(exc)
                    )
                except Exception as exc:
                    log.exception(
                        "sync.crashed", network_id=network_id, module=module, error=str(exc)
                    )
    except Busy:
        return  # another process is pulling it now
    except StoreError as exc:
        log.warning("scheduler.lock_failed", network_id=network_id, error=str(exc))


async def run_scheduler(
    store: Store, redis: Redis | None, tick_s: float = TICK_S, us: tuple[str, str] = US
) -> None:
    running: dict[int, asyncio.Task[None]] = {}
    try:
        await _schedule(store, redis, tick_s, running, us)
    finally:
        # Cancelled (shutdown): the pulls it started stop with it; their runs resume next time.
        await cancel_and_wait(running.values())


async def _schedule(
    store: Store,
    redis: Redis | None,
    tick_s: float,
    running: dict[int, asyncio.Task[None]],
    us: tuple[str, str],
) -> None:
    merge_due = True
    last_merge = -MERGE_EVERY_S
    merged_change: object = None
    while True:
        for key in [k for k, t in running.items() if t.done()]:
            del running[key]
            merge_due = True  # a pull ended: its new locations may be a registry's sites
        since_s = time.monotonic() - last_merge
        if (merge_due and since_s > MERGE_AT_MOST_EVERY_S) or since_s > MERGE_EVERY_S:
            # After pulls (at most once a minute, whatever runs), and every MERGE_EVERY_S at the
            # latest: pushes bring new locations too.
            merge_due, last_merge = False, time.monotonic()
            try:
                # Only when a location was written since the last merge: on a large database
                # the merge costs a minute or more of CPU (the bench: 89 s at 300k + 67k).
                change = await sites.last_change(store)
                if change is not None and change != merged_change:
                    await sites.merge_sites(store)
                    merged_change = change
            except StoreError as exc:
                log.warning("scheduler.merge_failed", error=str(exc))
        try:
            due = await pulls.due(
                store,
                full_s=DEFAULT_FULL_PULL_INTERVAL_S,
                incremental_s=DEFAULT_PULL_INTERVAL_S,
                retry_s=RETRY_AFTER_FAILURE_S,
            )
        except StoreError as exc:  # the database may be restarting
            log.warning("scheduler.query_failed", error=str(exc))
            due = []
        for pull in due:
            if pull.network_id in running or len(running) >= MAX_PARALLEL:
                continue
            log.info("scheduler.pull", network=pull.name, full=pull.full, modules=pull.modules)
            running[pull.network_id] = asyncio.create_task(
                pull_network(
                    store,
                    redis,
                    pull.network_id,
                    full=pull.full,
                    modules=pull.modules,
                    us=us,
                    seen_run_id=pull.seen_run_id,
                )
            )
        await asyncio.sleep(tick_s)


@asynccontextmanager
async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
    services = services_of(app)
    if not services.settings.run_scheduler:
        yield
        return
    settings = services.settings
    us = (settings.ocpi_country_code, settings.ocpi_party_id)
    task = asyncio.create_task(run_scheduler(services.store, services.redis, us=us))
    try:
        yield
    finally:
        await cancel_and_wait([task])
