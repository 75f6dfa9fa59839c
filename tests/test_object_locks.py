"""Object locks (``app.store.locks``): every writer of locations and tariffs locks what it will
write, in one global order; a rolled-back savepoint gives back the locks taken inside it."""

from __future__ import annotations

import psycopg
import pytest

from app.store import Store, StoreError, locks


def held_by_others(sync_conn: psycopg.Connection, key: int) -> bool:
    """True when another session holds the advisory lock ``key``."""
    row = sync_conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    sync_conn.rollback()  # gives it back at once if we got it
    return row is not None and not row[0]


def test_object_keys_are_stable_and_case_blind() -> None:
    key = locks.object_key("location", "NL", "TNM", "LOC1")
    assert key == locks.object_key("location", "nl", "tnm", "loc1")
    assert key != locks.object_key("tariff", "NL", "TNM", "LOC1")
    assert key != locks.object_key("location", "NL", "TNM", "LOC2")
    assert -(2**63) <= key < 2**63  # fits pg_advisory_xact_lock(bigint)


async def test_locks_are_held_to_the_end_and_a_rolled_back_savepoint_gives_them_back(
    store: Store, sync_conn: psycopg.Connection
) -> None:
    outer = locks.object_key("location", "NL", "TNM", "A")
    inner = locks.object_key("location", "NL", "TNM", "B")
    async with store.transaction() as tx:
        await locks.lock_objects(tx, [outer, outer])
        assert held_by_others(sync_conn, outer)
        with pytest.raises(StoreError):
            async with tx.savepoint():
                await locks.lock_objects(tx, [inner, outer])
                assert held_by_others(sync_conn, inner)
                await tx.conn.execute("SELECT 1/0")
        # PostgreSQL released the lock taken inside the savepoint; the store knows it does
        # not hold it any more and takes it again.
        assert not held_by_others(sync_conn, inner)
        assert held_by_others(sync_conn, outer)
        await locks.lock_objects(tx, [inner])
        assert held_by_others(sync_conn, inner)
    assert not held_by_others(sync_conn, outer)
    assert not held_by_others(sync_conn, inner)
