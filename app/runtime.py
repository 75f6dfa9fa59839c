"""The process's shared resources: settings, the database pool and the Redis client.

Created once by the app's lifespan and reached by handlers through ``app.state.runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from app.db.pool import create_pool
from app.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    pool: AsyncConnectionPool
    redis: aioredis.Redis | None
    schema_head: str | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, schema_head: str | None = None) -> Runtime:
        client = None
        if settings.redis_url is not None:
            # Short timeouts: Redis is derived state, a slow Redis must not slow drivers down.
            client = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                health_check_interval=15,
                retry_on_timeout=False,
            )
        return cls(
            settings=settings, pool=create_pool(settings), redis=client, schema_head=schema_head
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()
