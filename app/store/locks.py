"""PostgreSQL advisory locks: work that must run once at a time across every process (a pull
of one network, the refresh of the cluster aggregates), whatever the number of processes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from app.store.core import Store, Tx
from app.store.errors import Busy

PULL = 727001  # (PULL, network id): one pull of a network at a time
CLUSTER_REFRESH = 727002  # one refresher of cluster_cells at a time
SITE_MERGE = 727003  # one merge of sites at a time (app.store.sites)
CHANGE_FEED = 727004  # (CHANGE_FEED, 0): numbers the change feed in commit order (migration 0009)
MIGRATION = 727005  # one schema migration at a time (migrations/env.py)


def object_key(kind: str, country_code: str, party_id: str, object_id: str) -> int:
    """A 64-bit advisory lock key for one OCPI object (``location`` or ``tariff``), stable
    across processes (unlike ``hash``)."""
    text = f"{kind}:{country_code.upper()}*{party_id.upper()}*{object_id.upper()}"
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


async def lock_objects(tx: Tx, keys: Iterable[int]) -> None:
    """Hold these objects until the transaction ends, taken in one pass in ascending key order.

    Every writer of locations and tariffs (the push writer's batches, pulled pages, loads)
    takes the locks of everything it will write before it writes anything, in the same global
    order: two transactions can then never wait for each other in a circle, whatever the order
    in which their operations arrived (issue 9: concurrent writes deadlocked). Re-entrant: keys
    this transaction holds already cost nothing."""
    wanted = sorted(set(keys) - tx.held)
    if not wanted:
        return
    await tx.conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(k, i)"
        " ORDER BY i",
        (wanted,),
    )
    tx.held.update(wanted)


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
