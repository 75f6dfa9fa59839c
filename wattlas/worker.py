"""``wattlas worker``: the ingestion side alone (scheduled pulls), no HTTP."""

from __future__ import annotations

from app.runtime import Runtime
from app.settings import Settings
from ingest.scheduler import run_scheduler


async def run_worker(settings: Settings) -> None:
    runtime = Runtime.create(settings)
    await runtime.open()
    try:
        await run_scheduler(runtime.pool, runtime.redis)
    finally:
        await runtime.close()
