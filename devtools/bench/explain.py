"""EXPLAIN ANALYZE of the queries the API really runs: auto_explain, loaded in the sessions of a
store of their own, reports every statement's plan back to the client as a notice while the
real code runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from app.store import Store


async def explained(database_url: str, call: Callable[[Store], Awaitable[Any]]) -> list[str]:
    """The plans (with timing and buffers) of every statement ``call`` runs."""
    plans: list[str] = []
    recording = False

    async def with_auto_explain(conn: AsyncConnection) -> None:
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_timing = on",
            "SET auto_explain.log_level = notice",
            "SET client_min_messages = notice",
        ):
            await conn.execute(setting)
        conn.add_notice_handler(
            lambda notice: plans.append(notice.message_primary or "") if recording else None
        )

    async with Store(
        database_url, max_size=1, name="explain", configure=with_auto_explain
    ) as store:
        await call(store)  # warm: the plan that counts is the second, with the cache as served
        recording = True
        await call(store)
    return plans
