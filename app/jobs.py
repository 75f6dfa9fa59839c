"""Background work of an API process: the map's cluster aggregates, refreshed every few
seconds by one process at a time (an advisory lock in ``app.store.clusters``); the change
feed's numbering (one process at a time, a try-lock) and retention (every process may prune:
the same DELETE twice removes nothing twice)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.logs import get_logger
from app.store import Store, StoreError, changes, clusters

log = get_logger(__name__)


async def refresh_clusters_forever(store: Store, interval_s: float) -> None:
    while True:
        try:
            await clusters.refresh_cluster_cells(store)
        except StoreError as exc:  # the live path answers meanwhile
            log.warning("clusters.refresh_failed", error=str(exc))
        await asyncio.sleep(interval_s)


PRUNE_EVERY_S = 600.0


async def prune_changes_forever(store: Store, retention_s: int) -> None:
    while True:
        try:
            pruned = await changes.prune(
                store, older_than=datetime.now(UTC) - timedelta(seconds=retention_s)
            )
            if pruned:
                log.info("changes.pruned", changes=pruned, retention_s=retention_s)
        except StoreError as exc:  # kept a little longer; the next round prunes them
            log.warning("changes.prune_failed", error=str(exc))
        await asyncio.sleep(PRUNE_EVERY_S)


SEQUENCE_EVERY_S = 1.0


async def sequence_changes_forever(store: Store) -> None:
    """Number the change feed's committed changes about every second, readers or not (readers
    also number before they read)."""
    while True:
        try:
            await changes.sequence(store)
        except StoreError as exc:  # the next round numbers them
            log.warning("changes.sequence_failed", error=str(exc))
        await asyncio.sleep(SEQUENCE_EVERY_S)
