"""EXPLAIN ANALYZE of the queries the API really runs: auto_explain, loaded in one session,
reports every statement's plan back to the client as a notice while the real code runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection


async def explained(
    database_url: str, call: Callable[[AsyncConnection], Awaitable[Any]]
) -> list[str]:
    """The plans (with timing and buffers) of every statement ``call`` runs."""
    plans: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
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
        await call(conn)  # warm: the plan that counts is the second, with the cache as served
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        await call(conn)
    return plans
