"""PostgreSQL advisory locks: work that must run once at a time across every process (a pull
of one network, the refresh of the cluster aggregates), whatever the number of processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.store.core import Store, Tx
from app.store.errors import Busy

PULL = 727001  # (PULL, network id): one pull of a network at a time
CLUSTER_REFRESH = 727002  # one refresher of cluster_cells at a time


async def try_transaction_lock(tx: Tx, key: int) -> bool:
    """Held until the transaction ends; False when another transaction holds it."""
    cur = await tx.conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,))
    row = await cur.fetchone()
    return bool(row and row[0])


@asynccontextmanager
async def held(store: Store, namespace: int, key: int, what: str) -> AsyncIterator[None]:
    """A session lock on a connection kept for the block; ``Busy`` when someone else has it."""
    async with store.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (namespace, key))
        row = await cur.fetchone()
        if not row or not row[0]:
            raise Busy(f"{what} is already running")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (namespace, key))
