"""Background work of an API process: the map's cluster aggregates, refreshed every few
seconds by one process at a time (an advisory lock in ``app.store.clusters``)."""

from __future__ import annotations

import asyncio

from app.logs import get_logger
from app.store import Store, StoreError, clusters

log = get_logger(__name__)


async def refresh_clusters_forever(store: Store, interval_s: float) -> None:
    while True:
        try:
            await clusters.refresh_cluster_cells(store)
        except StoreError as exc:  # the live path answers meanwhile
            log.warning("clusters.refresh_failed", error=str(exc))
        await asyncio.sleep(interval_s)
