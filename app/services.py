"""The process's services, in one typed container (style.md: litestar-fullstack's typed
dependencies instead of a dict of extras).

Built once by the app's lifespan, kept as ``app.state.services``; handlers declare what they
need (``services``, ``store``, ``settings``) and Litestar's dependency injection hands it over.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from app.api.pricer import Pricer
from app.live.feed import FeedWatch
from app.live.hub import StreamHub
from app.live.nearby_index import NearbyIndex
from app.settings import Settings
from app.store import Store

# How many Redis connections one process may hold: the SSE hub shares one subscription, the
# rest are short commands (publishing, quotas, health); beyond this a caller waits briefly.
REDIS_MAX_CONNECTIONS = 64


def redis_client(settings: Settings) -> aioredis.Redis | None:
    if settings.redis_url is None:
        return None
    # Short timeouts: Redis is derived state, a slow Redis must not slow drivers down. A
    # caller waits up to a second for a free connection instead of failing at once.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=15,
        retry_on_timeout=False,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=1.0,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: closing it closes both


@dataclass
class Memo:
    """One value recomputed at most every ``ttl_s`` seconds (per process)."""

    ttl_s: float
    at: float = 0.0
    value: Any = None

    def fresh(self) -> bool:
        return self.value is not None and time.monotonic() - self.at < self.ttl_s

    def keep(self, value: Any) -> Any:
        self.at, self.value = time.monotonic(), value
        return value


@dataclass
class Services:
    settings: Settings
    store: Store
    redis: aioredis.Redis | None
    hub: StreamHub
    nearby_index: NearbyIndex | None = None
    schema_head: str | None = None
    networks_memo: Memo = field(default_factory=lambda: Memo(30.0))
    sources_memo: Memo = field(default_factory=lambda: Memo(30.0))
    pricer: Pricer = field(init=False)
    feed_watch: FeedWatch = field(init=False)
    # Snapshots streaming at once in this process: each holds a database connection.
    exports: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    def __post_init__(self) -> None:
        self.pricer = Pricer(self.store)
        self.feed_watch = FeedWatch(self.store)

    @classmethod
    def create(cls, settings: Settings, *, schema_head: str | None = None) -> Services:
        redis = redis_client(settings)
        store = Store.from_settings(settings)
        hub = StreamHub(redis)
        index = None
        if settings.nearby_cache:
            # Kept live by the change feed; events (this process's own writes, and the stream
            # when Redis is up) only make it sooner. A gap in the events costs nothing.
            index = NearbyIndex(store, settings.stale_after_s)
            hub.listen(index.forget)
        return cls(settings, store, redis, hub, index, schema_head)

    async def open(self) -> None:
        await self.store.open()
        await self.store.open_discovery()
        self.store.watch_primary()
        if self.nearby_index is not None:
            self.nearby_index.start()

    async def close(self) -> None:
        if self.nearby_index is not None:
            await self.nearby_index.close()
        await self.feed_watch.close()
        await self.hub.close()
        await self.store.close()
        if self.redis is not None:
            await self.redis.aclose()


def services_of(app: Litestar) -> Services:
    services: Services = app.state.services
    return services


def _services(state: State) -> Services:
    services: Services = state.services
    return services


def _store(state: State) -> Store:
    return _services(state).store


def _settings(state: State) -> Settings:
    return _services(state).settings


DEPENDENCIES = {
    "services": Provide(_services, sync_to_thread=False),
    "store": Provide(_store, sync_to_thread=False),
    "settings": Provide(_settings, sync_to_thread=False),
}
