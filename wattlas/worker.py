"""``wattlas worker``: the ingestion side alone (scheduled pulls), no HTTP."""

from __future__ import annotations

from app.services import redis_client
from app.settings import Settings
from app.store import Store
from ingest.scheduler import run_scheduler


async def run_worker(settings: Settings) -> None:
    redis = redis_client(settings)
    try:
        async with Store.from_settings(settings, name="wattlas-worker") as store:
            await run_scheduler(store, redis)
    finally:
        if redis is not None:
            await redis.aclose()
