"""Stopping background tasks for sure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from app.logs import get_logger

log = get_logger(__name__)

RECANCEL_EVERY_S = 1.0  # long enough for a rollback or a pool return to finish
GIVE_UP_AFTER_S = 10.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until they have ended.

    A client library can swallow a cancel that lands at the wrong moment (redis-py while it
    connects or reads), and a loop that goes on after that never ends: so the cancel is repeated
    until the task is done, and a task still running after ``GIVE_UP_AFTER_S`` is logged and left.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    waited_s = 0.0
    while pending and waited_s < GIVE_UP_AFTER_S:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY_S)
        waited_s += RECANCEL_EVERY_S
    for task in pending:
        log.error("task.would_not_stop", task=task.get_name())
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task.failed", task=task.get_name(), error=repr(task.exception()))
