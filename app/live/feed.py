"""Long-polling readers of the change feed (issue 14) share one watcher per process.

A reader that has seen everything waits for the feed to pass its cursor. Instead of each
reader asking PostgreSQL, one task numbers what was committed (``sequence``) and reads the
newest number every ``POLL_S`` while anyone waits, and wakes the readers it passed. Polling,
not Redis events: the feed is PostgreSQL's, and a reader must hear of a change also while
Redis is down; 0.1 s keeps the delay from commit to a waiting reader far under the 1 s the
issue asks.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.logs import get_logger
from app.store import Store, StoreError
from app.store import changes as change_store

log = get_logger(__name__)
POLL_S = 0.1


class FeedWatch:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._newest = 0
        self._changed = asyncio.Condition()
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None

    async def wait_past(self, cursor: int, timeout_s: float) -> bool:
        """True as soon as a change after ``cursor`` is committed; False after ``timeout_s``."""
        if self._newest > cursor:
            return True
        self._waiting += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="feed-watch")
        try:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._newest > cursor), timeout_s
                    )
                return self._newest > cursor
        finally:
            self._waiting -= 1

    async def _poll(self) -> None:
        while self._waiting > 0:
            try:
                await change_store.sequence(self._store)
                newest = await change_store.newest_change(self._store)
            except StoreError as exc:  # readers time out and hear it on their next read
                log.warning("feed_watch.failed", error=str(exc))
            else:
                if newest != self._newest:
                    self._newest = newest
                    async with self._changed:
                        self._changed.notify_all()
            await asyncio.sleep(POLL_S)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
