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
            us = (settings.ocpi_country_code, settings.ocpi_party_id)
            await run_scheduler(store, redis, us=us)
    finally:
        if redis is not None:
            await redis.aclose()
